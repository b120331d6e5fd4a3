"""Greedy task success through the real collector: the held-out figure of the CPU demo and of SFT validation."""

from dataclasses import replace

from transformers import PreTrainedTokenizerBase

from agemem.records import Trajectory
from agemem.rewards import exact_match
from agemem.rollout.collector import CollectSettings, collect
from agemem.rollout.engine import Engine
from data_gen.schema import Episode


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
