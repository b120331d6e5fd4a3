"""Validation during training and SFT, through the real collector: greedy rollouts of the validation split scored
by the run's reward, and greedy exact-match success on held-out tasks whose entity ids training never uses.

Every function runs this rank's share of the tasks (rank r takes tasks r, r+world, …) and sums over ranks, so a
figure is the same on any number of ranks.
"""

from dataclasses import replace

from transformers import PreTrainedTokenizerBase

from agemem.collective import all_reduce_sum
from agemem.records import Episode, Trajectory
from agemem.rewards import Judge, RewardConfig, exact_match, score_batch
from agemem.rewards.mem_alpha_reader import Reader, score_mem_alpha
from agemem.rollout.collector import CollectSettings, collect
from agemem.rollout.engine import Engine
from data_gen.config import DataConfig
from data_gen.sources import build_episodes

# Greedy exact-match success on the held-out tasks (trainer.heldout_tasks): the metric's name in metrics.jsonl.
HELDOUT = "eval/heldout_success"


def greedy_success(
    episodes: list[Episode], engine: Engine, settings: CollectSettings, tokenizer: PreTrainedTokenizerBase
) -> tuple[float, list[Trajectory]]:
    """Fraction of episodes whose greedy single rollout answers exactly right (normalised exact match)."""
    if not episodes:
        return 0.0, []
    greedy = replace(settings, rollout=replace(settings.rollout, temperature=0.0))
    trajectories = collect(episodes, 1, engine, greedy, tokenizer)
    hits = [exact_match(t.answer, e.answers) if t.answer is not None else 0.0 for t, e in zip(trajectories, episodes)]
    return sum(hits) / len(hits), trajectories


def heldout_success(heldout_set: list[Episode], engine: Engine, settings: CollectSettings,
                    tokenizer: PreTrainedTokenizerBase, rank: int, world: int) -> float:
    """Greedy exact-match success over all of `heldout_set`; rank r runs tasks r, r+world, …"""
    tasks = heldout_set[rank::world]
    success, _ = greedy_success(tasks, engine, settings, tokenizer)
    n, hits = all_reduce_sum([float(len(tasks)), success * len(tasks)])
    return hits / max(n, 1.0)


def heldout_episodes(data: DataConfig, size: int, seed: int, asked_by: str) -> list[Episode]:
    """`size` synthetic tasks (or Mem-α chunk streams) whose entity ids are never used in training
    (data.heldout=true: the held-out id range, or the ids held out by hash with data.heldout_id_fraction), drawn
    with `seed`. `asked_by` names the setting that asked for them in errors."""
    if not size:
        return []
    if data.source not in ("synthetic", "mem_alpha_synthetic"):
        raise ValueError(f"{asked_by} needs data.source=synthetic or mem_alpha_synthetic (held-out entity ids); got "
                         f"data.source={data.source!r}")
    return build_episodes(replace(data, heldout=True, reserved_ids=False, size=size), seed).episodes


def validate(engine: Engine, tokenizer: PreTrainedTokenizerBase, settings: CollectSettings, val_tasks: list[Episode],
             heldout_set: list[Episode], episodes_by_id: dict[str, Episode], reward: RewardConfig, judge: Judge,
             seed: int, rank: int, world: int) -> dict[str, float]:
    """Greedy, one rollout per validation task scored by the run's reward (`eval/score`, `eval/task`; none without
    validation tasks, rather than zeros), and the held-out success when there are held-out tasks."""
    greedy = replace(settings, rollout=replace(settings.rollout, temperature=0.0))
    metrics: dict[str, float] = {}
    if val_tasks:  # the same list on every rank, so every rank joins the all-reduce or none does
        tasks = val_tasks[rank::world]
        trajectories = collect(tasks, 1, engine, greedy, tokenizer, seed=seed) if tasks else []
        scored = score_batch(trajectories, episodes_by_id, reward, judge) if tasks else []
        sums = all_reduce_sum([float(len(trajectories)), sum(b.total for b in scored), sum(b.task for b in scored)])
        metrics = {"eval/score": sums[1] / max(sums[0], 1.0), "eval/task": sums[2] / max(sums[0], 1.0),
                   "eval/tasks": sums[0]}
    if heldout_set:
        metrics[HELDOUT] = heldout_success(heldout_set, engine, greedy, tokenizer, rank, world)
    return metrics


def validate_mem_alpha(engine: Engine, tokenizer: PreTrainedTokenizerBase, settings: CollectSettings,
                       val_tasks: list[Episode], episodes_by_id: dict[str, Episode], reward: RewardConfig,
                       reader: Reader, judge: Judge, seed: int, rank: int, world: int) -> dict[str, float]:
    """Mem-α validation: one greedy chunk-stream rollout per validation instance, its final memory read by the
    frozen reader: the mean reward (`eval/score`), the reader's accuracy (`eval/qa_accuracy`, r1), compression
    (`eval/compression`, r3) and memory size in tokens (`eval/memory_tokens`)."""
    tasks = val_tasks[rank::world]
    greedy = replace(settings, rollout=replace(settings.rollout, temperature=0.0))
    trajectories = collect(tasks, 1, engine, greedy, tokenizer, seed=seed) if tasks else []
    if trajectories:
        score_mem_alpha(trajectories, episodes_by_id, reward, reader, judge)
    parts = [t.reward_components for t in trajectories]
    sums = all_reduce_sum([float(len(trajectories)), sum(t.reward for t in trajectories),
                           *(sum(p[k] for p in parts) for k in ("r1_qa_accuracy", "r3_compression", "memory_tokens"))])
    n = max(sums[0], 1.0)
    return {"eval/score": sums[1] / n, "eval/qa_accuracy": sums[2] / n, "eval/compression": sums[3] / n,
            "eval/memory_tokens": sums[4] / n, "eval/tasks": sums[0]}
