"""Validation during training and SFT, through the real collector: greedy rollouts of the validation split scored
by the run's reward, and exact-match success on held-out tasks whose entity ids training never uses (greedy, or
sampled at trainer.heldout_temperature with each task's own seed).

Every function runs this rank's share of the tasks (rank r takes tasks r, r+world, …) and sums over ranks, so a
figure is the same on any number of ranks.
"""

from dataclasses import replace

from transformers import PreTrainedTokenizerBase

from agemem.collective import all_reduce_sum
from agemem.eval.harness import episode_seed
from agemem.records import Episode, Trajectory
from agemem.rewards import Judge, RewardConfig, exact_match, score_batch
from agemem.rewards.mem_alpha_reader import Reader, score_mem_alpha
from agemem.rollout.collector import CollectSettings, collect
from agemem.rollout.engine import Engine
from data_gen.config import DataConfig
from data_gen.sources import build_episodes

# Exact-match success on the held-out tasks (trainer.heldout_tasks): the metric's name in metrics.jsonl.
HELDOUT = "eval/heldout_success"
# The decoding temperature it was measured at (trainer.heldout_temperature), logged beside the SFT model's figure: a
# demo that reuses that model checks it (agemem/tasks/demo.py).
HELDOUT_TEMPERATURE = "eval/heldout_temperature"


def at_temperature(settings: CollectSettings, temperature: float) -> CollectSettings:
    """`settings` decoding at `temperature` (0: greedy)."""
    return replace(settings, rollout=replace(settings.rollout, temperature=temperature))


def answer_success(
    episodes: list[Episode], engine: Engine, settings: CollectSettings, tokenizer: PreTrainedTokenizerBase,
    temperature: float = 0.0, seed: int = 0,
) -> tuple[float, list[Trajectory]]:
    """Fraction of episodes whose single rollout at `temperature` (0: greedy) answers exactly right (normalised
    exact match). Each episode samples from its own seed (`seed` and its id): the figure does not depend on how
    the episodes are split over ranks or batched."""
    if not episodes:
        return 0.0, []
    trajectories = collect(episodes, 1, engine, at_temperature(settings, temperature), tokenizer,
                           episode_seeds=[episode_seed(seed, e.id) for e in episodes])
    hits = [exact_match(t.answer, e.answers) if t.answer is not None else 0.0 for t, e in zip(trajectories, episodes)]
    return sum(hits) / len(hits), trajectories


def heldout_success(heldout_set: list[Episode], engine: Engine, settings: CollectSettings,
                    tokenizer: PreTrainedTokenizerBase, rank: int, world: int, temperature: float = 0.0,
                    seed: int = 0) -> float:
    """Exact-match success over all of `heldout_set` at `temperature` (see `answer_success`); rank r runs tasks
    r, r+world, …"""
    tasks = heldout_set[rank::world]
    success, _ = answer_success(tasks, engine, settings, tokenizer, temperature, seed)
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
             seed: int, rank: int, world: int, heldout_temperature: float = 0.0,
             heldout_seed: int = 0) -> dict[str, float]:
    """Greedy, one rollout per validation task scored by the run's reward (`eval/score`, `eval/task`; none without
    validation tasks, rather than zeros), and the held-out success when there are held-out tasks (at
    `heldout_temperature`, sampled from `heldout_seed`)."""
    greedy = at_temperature(settings, 0.0)
    metrics: dict[str, float] = {}
    if val_tasks:  # the same list on every rank, so every rank joins the all-reduce or none does
        tasks = val_tasks[rank::world]
        trajectories = collect(tasks, 1, engine, greedy, tokenizer, seed=seed) if tasks else []
        scored = score_batch(trajectories, episodes_by_id, reward, judge) if tasks else []
        sums = all_reduce_sum([float(len(trajectories)), sum(b.total for b in scored), sum(b.task for b in scored)])
        metrics = {"eval/score": sums[1] / max(sums[0], 1.0), "eval/task": sums[2] / max(sums[0], 1.0),
                   "eval/tasks": sums[0]}
    if heldout_set:
        metrics[HELDOUT] = heldout_success(heldout_set, engine, settings, tokenizer, rank, world,
                                           heldout_temperature, heldout_seed)
    return metrics


def validate_mem_alpha(engine: Engine, tokenizer: PreTrainedTokenizerBase, settings: CollectSettings,
                       val_tasks: list[Episode], episodes_by_id: dict[str, Episode], reward: RewardConfig,
                       reader: Reader, judge: Judge, seed: int, rank: int, world: int,
                       temperature: float = 0.0) -> dict[str, float]:
    """Mem-α validation: one chunk-stream rollout per validation instance at `temperature` (0: greedy; else each
    instance samples from `seed` and its id, on any rank count), its final memory read by the frozen reader: the
    mean reward (`eval/score`), the reader's accuracy (`eval/qa_accuracy`, r1), compression (`eval/compression`,
    r3) and memory size in tokens (`eval/memory_tokens`)."""
    tasks = val_tasks[rank::world]
    trajectories = collect(tasks, 1, engine, at_temperature(settings, temperature), tokenizer,
                           episode_seeds=[episode_seed(seed, e.id) for e in tasks]) if tasks else []
    if trajectories:
        score_mem_alpha(trajectories, episodes_by_id, reward, reader, judge)
    parts = [t.reward_components for t in trajectories]
    sums = all_reduce_sum([float(len(trajectories)), sum(t.reward for t in trajectories),
                           *(sum(p[k] for p in parts) for k in ("r1_qa_accuracy", "r3_compression", "memory_tokens"))])
    n = max(sums[0], 1.0)
    return {"eval/score": sums[1] / n, "eval/qa_accuracy": sums[2] / n, "eval/compression": sums[3] / n,
            "eval/memory_tokens": sums[4] / n, "eval/tasks": sums[0]}
