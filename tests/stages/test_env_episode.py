"""The interactive-benchmark episode (stages/env_episode.py) through the real collector on every environment: a
scripted engine (real tokenizer, so its replies are recorded exactly as a model's) that uses a memory tool, writes
a malformed output and an action the environment cannot use; the tiny model as every agent; the oracle engine to
success; the context cut from the oldest; the retrieval agents' memories."""

import json

import pytest

from agemem.memory.config import MemoryConfig
from agemem.records import ENV_STEP_LIMIT, ENV_SUCCESS, FINISH_STOP, Episode, Generation, Trajectory
from agemem.rollout.collector import CollectSettings, PromptRenderer, collect
from agemem.rollout.config import RolloutConfig
from agemem.rollout.env_oracle import EnvOracleEngine
from agemem.rollout.hf_engine import HFEngine
from stages.config import CurriculumConfig
from stages.env_episode import (
    NO_ACTION,
    EnvOptions,
    OraclePlans,
    env_episode_flow,
    system_prompt,
    task_message,
)

# One task per environment with the constructor options that reach it (short oracle plans, small worlds).
ENVS = {
    "babyai": ("GoToLocal/0", {"levels": ("GoToLocal",), "seeds": (0,)}, "minigrid"),
    "pddl": ("blockworld/problem1", {}, "pddlgym"),
    "alfworld": ("valid_unseen/pick_and_place_simple-Mug-None-Desk-308", {}, "alfworld"),
    "scienceworld": ("lifespan-longest-lived/93", {"tasks": ("lifespan-longest-lived",), "variations_per_task": 1},
                     "scienceworld"),
}
TOOL_CALL = '<tool_call>[{"name": "Add_memory", "arguments": {"content": "the goal matters"}}]</tool_call>'
INVALID = "<answer>fly to the moon</answer>"


def _task(env: str) -> tuple[str, dict]:
    task_id, kwargs, package = ENVS[env]
    pytest.importorskip(package, reason=f"{package} is not installed (the `envs` extra)")
    if env == "alfworld":  # the one trial of that game in the shared folder
        from agemem.envs.alfworld import DEFAULT_PATH
        task_id = next(t for t in sorted(p.parent.relative_to(DEFAULT_PATH.parent).as_posix()
                                         for p in DEFAULT_PATH.rglob("game.tw-pddl")) if t.startswith(task_id))
        kwargs = {"path": DEFAULT_PATH.parent}
    return task_id, kwargs


def _episode(env: str, task_id: str) -> Episode:
    return Episode(id=task_id, source=env, contexts=[task_id], distractors=[], question=f"solve {task_id}",
                   answers=["success"], metadata={"env": env, "task_id": task_id})


def _settings(env: str, kwargs: dict, mode: str = "agemem", step_limit: int = 2, budget: int = 8192,
              plans: OraclePlans | None = None, max_new_tokens: int = 8) -> CollectSettings:
    curriculum = CurriculumConfig(context_budget=budget, max_rounds=2, tools_in_prompt=False)
    options = EnvOptions(env=env, env_kwargs=kwargs, step_limit=step_limit, mode=mode, plans=plans)
    return CollectSettings(curriculum, MemoryConfig(similarity="lexical", summarizer="extractive"),
                           RolloutConfig(temperature=0.0, max_new_tokens=max_new_tokens),
                           system_prompt=system_prompt(mode, curriculum), episode_flow=env_episode_flow(options))


class Scripted:
    """Replies by the number of assistant turns in the prompt: a memory tool call, a malformed output, then an
    action the environment cannot use."""

    REPLIES = (TOOL_CALL, "I will go north", INVALID)

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def generate(self, prompts, sampling):
        out = []
        for ids in prompts:
            turns = self.tokenizer.decode(ids).count("<|im_start|>assistant") - 1  # less the generation prompt
            token_ids = self.tokenizer(self.REPLIES[min(turns, 2)], add_special_tokens=False)["input_ids"]
            out.append(Generation(token_ids, [0.0] * len(token_ids), FINISH_STOP))
        return out

    def load_weights(self, named_tensors):
        raise TypeError("scripted")


@pytest.mark.parametrize("env", list(ENVS))
def test_tools_a_malformed_output_and_an_invalid_action_never_raise(env, tokenizer):
    task_id, kwargs = _task(env)
    settings = _settings(env, kwargs)
    [traj] = collect([_episode(env, task_id)], 1, Scripted(tokenizer), settings, tokenizer)
    result = traj.env_result
    # Step 1: the tool call runs, then the malformed output loses the step; step 2: the action goes to the env.
    assert [s.action.kind for s in traj.steps] == ["tool_calls", "format_error", "answer"]
    assert traj.steps[0].tool_results[0].ok and [e["content"] for e in traj.ltm_final] == ["the goal matters"]
    assert (result.steps, result.no_action_steps, result.actions) == (2, 1, ["fly to the moon"])
    assert not result.success and result.end == ENV_STEP_LIMIT and traj.stage_end == {3: ENV_STEP_LIMIT}
    users = [m["content"] for m in traj.stm_final if m["role"] == "user"]
    assert users[0].startswith(f"[task {env} {task_id}]\nGoal: ") and users[1] == f"[step 1] {NO_ACTION}"
    assert users[2].startswith("[step 2] ") and len(users[2]) > len("[step 2] ")  # the environment's feedback
    # Token-exact: the first prompt is the chat template's rendering of [system, task message].
    renderer = PromptRenderer(tokenizer, tools_in_prompt=False)
    assert traj.steps[0].prompt_ids == renderer.prompt_ids(traj.stm_final[:2])
    assert traj.steps[2].prompt_ids == renderer.prompt_ids(traj.stm_final[:7])
    assert Trajectory.from_dict(json.loads(json.dumps(traj.to_dict()))) == traj


@pytest.mark.parametrize("env", list(ENVS))
def test_the_oracle_engine_reaches_success(env, tokenizer):
    task_id, kwargs = _task(env)
    plans = OraclePlans()
    [traj] = collect([_episode(env, task_id)], 1, EnvOracleEngine(tokenizer, plans),
                     _settings(env, kwargs, step_limit=1, plans=plans), tokenizer)
    result = traj.env_result
    assert result.success and result.progress == 1.0 and result.end == ENV_SUCCESS
    # The oracle's limit is raised to its plan's length (the benchmark's was 1 step here).
    assert result.step_limit == len(plans.plans[task_id]) and result.actions == plans.plans[task_id][:result.steps]
    assert all(s.action.kind == "answer" for s in traj.steps) and result.no_action_steps == 0
    if env == "scienceworld":
        assert result.score == 100.0


@pytest.fixture(scope="module")
def tiny_engine():
    from agemem.models import ModelConfig, load_model, load_tokenizer

    model = load_model(ModelConfig())
    return HFEngine(model, load_tokenizer(ModelConfig()).pad_token_id)


@pytest.mark.parametrize("env", list(ENVS))
def test_the_tiny_model_plays_every_environment(env, tokenizer, tiny_engine):
    task_id, kwargs = _task(env)
    [traj] = collect([_episode(env, task_id)], 1, tiny_engine, _settings(env, kwargs), tokenizer)
    result = traj.env_result
    assert 1 <= result.steps <= 2 and result.end and 1 <= len(traj.steps) <= 4
    assert all(s.response_ids and len(s.response_logprobs) == len(s.response_ids) for s in traj.steps)


@pytest.mark.parametrize("mode", ["no_memory", "rag", "mem0"])
def test_the_baselines_run_with_their_contexts(mode, tokenizer, tiny_engine):
    task_id, kwargs = _task("babyai")
    [traj] = collect([_episode("babyai", task_id)], 1, tiny_engine, _settings("babyai", kwargs, mode=mode,
                                                                               step_limit=3), tokenizer)
    assert traj.env_result.steps == 3 and not any(s.tool_results for s in traj.steps)
    if mode == "no_memory":
        assert traj.ltm_final == []
    else:  # the first observation and every step's action and observation are remembered automatically
        assert len(traj.ltm_final) >= 1 + len(traj.env_result.actions) * (mode == "rag")
        first_prompt = tokenizer.decode(traj.steps[0].prompt_ids)
        assert "[retrieved memories]\n1. " in first_prompt


def test_the_context_is_cut_from_the_oldest_keeping_the_task(tokenizer):
    pytest.importorskip("minigrid", reason="minigrid is not installed (the `envs` extra)")
    plans = OraclePlans()
    settings = _settings("babyai", {"levels": ("PutNextLocal",), "seeds": (1,)}, mode="no_memory", budget=900,
                         plans=plans)
    [traj] = collect([_episode("babyai", "PutNextLocal/1")], 1, EnvOracleEngine(tokenizer, plans), settings,
                     tokenizer)
    assert traj.env_result.success and traj.env_result.dropped_messages > 0
    assert traj.stm_final[1]["content"].startswith("[task babyai PutNextLocal/1]")
    assert all(len(s.prompt_ids) <= 900 for s in traj.steps) and not traj.context_overflow


def test_task_message_styles():
    full = task_message("babyai", "GoToLocal/0", "go to the red ball", "You see a red ball.", "full", True)
    assert full.splitlines()[-1].startswith("Act with one action per reply: <answer>ACTION</answer> (you may call")
    compact = task_message("babyai", "GoToLocal/0", "go to the red ball", "You see a red ball.", "compact", False)
    assert compact == "[task babyai GoToLocal/0]\nGoal: go to the red ball\nYou see a red ball."
