"""The scripted expert solves the synthetic tasks through the real collector, and its steps are trainable samples."""


import pytest

from agemem.memory.config import MemoryConfig
from agemem.rewards import exact_match
from agemem.rl import build_step_samples
from agemem.rollout.collector import CollectSettings, collect
from agemem.rollout.config import RolloutConfig
from agemem.rollout.expert import ExpertEngine, expert_response
from data_gen.synthetic import SyntheticSpec, synthetic_episodes
from stages.config import CurriculumConfig


def _settings(**curriculum) -> CollectSettings:
    memory = MemoryConfig(similarity="lexical", summarizer="extractive")
    return CollectSettings(CurriculumConfig(context_budget=4096, tools_in_prompt=False, **curriculum), memory,
                           RolloutConfig(temperature=0.0, max_new_tokens=64))


@pytest.mark.parametrize("difficulty,variant", [(0, "paper"), (1, "paper"), (1, "official")])
def test_expert_solves_every_task(tokenizer, difficulty, variant):
    episodes = synthetic_episodes(40, 3, SyntheticSpec(difficulty=difficulty, num_distractors=2))
    settings = _settings(stage1_variant=variant, num_distractors=2)
    trajectories = collect(episodes, 1, ExpertEngine(tokenizer), settings, tokenizer)
    assert [exact_match(t.answer or "", e.answers) for t, e in zip(trajectories, episodes)] == [1.0] * 40
    for traj in trajectories:
        assert not traj.rounds_exceeded and not traj.context_overflow
        assert all(s.action.kind != "format_error" for s in traj.steps)
        assert {r.name for r in traj.tool_results()} >= {"Add_memory", "Filter_context", "Retrieve_memory"}
        assert all(r.ok for r in traj.tool_results())


def test_demonstrations_are_step_samples_of_the_exact_context(tokenizer):
    episodes = synthetic_episodes(3, 0, SyntheticSpec(difficulty=0, num_distractors=1))
    trajectories = collect(episodes, 1, ExpertEngine(tokenizer), _settings(num_distractors=1), tokenizer)
    samples = build_step_samples(trajectories, [1.0] * len(trajectories))
    assert len(samples) == sum(len(t.steps) for t in trajectories)
    for sample, step in zip(samples, [s for t in trajectories for s in t.steps]):
        assert sample.prompt_ids == step.prompt_ids and sample.response_ids == step.response_ids
        assert sample.response_ids[-1] == tokenizer.eos_token_id and sample.advantage == 1.0


def test_expert_answers_with_the_newest_value():
    prompt = ("<|im_start|>user\n[question]\nWhat is E12's age?\nUse your memory.<|im_end|>\n"
              "<|im_start|>user\n<tool_response>\n[retrieved memories]\n"
              "- Update: E12's age is now 40. (Memory ID: mem_4)\n- Entity E12's age is 31. (Memory ID: mem_1)\n"
              "- Entity E13's age is 99. (Memory ID: mem_9)\n</tool_response><|im_end|>\n<|im_start|>assistant\n")
    assert expert_response(prompt).endswith("<answer>40</answer>")
    assert expert_response(prompt.replace("E12's age is", "E77's age is")).endswith("<answer>unknown</answer>")
