"""Held-out evaluation at a temperature (trainer.heldout_temperature): the tiny model's sampled rollouts through the
real collector are reproducible, do not depend on how the tasks are split over ranks, and actually sample."""

from agemem.eval.benchmarks import benchmark_episodes
from agemem.eval.config import BenchmarkConfig
from agemem.eval.validation import answer_success
from agemem.memory import MemoryConfig
from agemem.rollout.collector import CollectSettings
from agemem.rollout.config import RolloutConfig
from agemem.rollout.hf_engine import HFEngine
from data_gen.config import DataConfig
from stages.config import CurriculumConfig

SETTINGS = CollectSettings(CurriculumConfig(context_budget=1024, max_rounds=1, tools_in_prompt=False),
                           MemoryConfig(similarity="lexical", summarizer="extractive"),
                           RolloutConfig(temperature=0.6, max_new_tokens=12))


def _responses(episodes, engine, tokenizer, temperature, seed):
    _, trajectories = answer_success(episodes, engine, SETTINGS, tokenizer, temperature, seed)
    return {t.episode_id: [s.response_ids for s in t.steps] for t in trajectories}


def test_sampled_heldout_rollouts_are_seeded_per_task(tokenizer, model):
    episodes = benchmark_episodes(BenchmarkConfig(), DataConfig(difficulty=0, num_distractors=1), 4, seed=0).episodes
    engine = HFEngine(model, tokenizer.pad_token_id)
    together = _responses(episodes, engine, tokenizer, 1.0, seed=3)
    assert _responses(episodes, engine, tokenizer, 1.0, seed=3) == together  # reproducible
    # Two ranks' shares (tasks 0, 2 and 1, 3) sample exactly what one rank sampled for the same tasks.
    assert {**_responses(episodes[0::2], engine, tokenizer, 1.0, 3),
            **_responses(episodes[1::2], engine, tokenizer, 1.0, 3)} == together
    assert _responses(episodes, engine, tokenizer, 1.0, seed=4) != together  # the seed matters
    assert _responses(episodes, engine, tokenizer, 0.0, seed=3) != together  # it samples, not greedy
    assert _responses(episodes, engine, tokenizer, 0.0, seed=4) == _responses(episodes, engine, tokenizer, 0.0, 3)
