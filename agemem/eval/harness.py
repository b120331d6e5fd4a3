"""Evaluate a batch of episodes with one agent: the real collector (one lock-step batch), then one row per episode
(agemem/eval/episode_metrics.py). `task=eval` (agemem/tasks/eval.py) shards the episodes across ranks, calls this
batch by batch and writes the rows."""

import hashlib
from dataclasses import replace
from typing import Any

from transformers import PreTrainedTokenizerBase

from agemem.eval.agents import Agent, agent_settings
from agemem.eval.benchmarks import Benchmark
from agemem.eval.episode_metrics import episode_rows
from agemem.records import Episode
from agemem.rewards.judges import Judge
from agemem.rollout.collector import CollectSettings, collect
from agemem.rollout.engine import Engine
from agemem.seeding import derive_seed


def eval_settings(settings: CollectSettings, agent: Agent, samples: int, stage2: bool) -> CollectSettings:
    """The collector settings of an evaluation: the agent's flow and prompt; greedy (temperature 0) unless
    `samples` > 0; stage 2 shows no distractor when off (its context reset stays, as in the official eval)."""
    if samples < 0:
        raise ValueError(f"eval.samples={samples}: must be >= 0 (0: one greedy rollout per episode)")
    rollout = settings.rollout if samples else replace(settings.rollout, temperature=0.0)
    curriculum = settings.curriculum if stage2 else replace(settings.curriculum, num_distractors=0)
    return agent_settings(agent, replace(settings, curriculum=curriculum, rollout=rollout))


def episode_seed(seed: int, episode_id: str) -> int:
    """The sampling seed of an episode: from the run's seed and the episode's id, so that its rollouts do not
    depend on the rank or batch that runs it."""
    return derive_seed(seed, int.from_bytes(hashlib.sha256(episode_id.encode("utf-8")).digest()[:6], "big"))


def evaluate_batch(episodes: list[Episode], engine: Engine, settings: CollectSettings,
                   tokenizer: PreTrainedTokenizerBase, *, samples: int, seed: int, benchmark: Benchmark,
                   agent: Agent, judge: Judge) -> list[dict[str, Any]]:
    """One row per episode: `max(1, samples)` rollouts each through the collector with `settings` (from
    `eval_settings`), scored by the benchmark's metrics and `judge`."""
    if not episodes:
        return []
    group = max(1, samples)
    trajectories = collect(episodes, group, engine, settings, tokenizer, seed=seed,
                           episode_seeds=[episode_seed(seed, e.id) for e in episodes])
    return episode_rows(episodes, trajectories, group, benchmark, judge, agent.memory)
