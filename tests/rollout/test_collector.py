"""The collector on the real tiny model: lock-step batching, token-exact Steps, order, and greedy equivalence."""


import pytest
import torch
from recording import record_requests

from agemem.memory import MemoryConfig
from agemem.models import load_model
from agemem.records import Episode
from agemem.rollout.collector import CollectSettings, collect
from agemem.rollout.config import RolloutConfig
from agemem.rollout.hf_engine import HFEngine
from stages.config import CurriculumConfig
from stages.turn import POLICY

EPISODES = [
    Episode("a", "test", ["Alice moved to Paris."], ["Carol moved to Rome."], "Where did Alice move?", ["Paris"]),
    Episode("b", "test", ["Bob is 31.", "Bob owns a cat."], ["Dan is 40."], "How old is Bob?", ["31"]),
]
GROUP = 2
MAX_NEW = 8
SYSTEM = "Manage your memory."


class CountingEngine:
    """Wraps an engine; records every call's prompts and generations."""

    def __init__(self, engine):
        self.engine = engine
        self.calls: list[tuple[list[list[int]], list]] = []

    def generate(self, prompts, sampling):
        generations = self.engine.generate(prompts, sampling)
        self.calls.append(([list(p) for p in prompts], generations))
        return generations

    def load_weights(self, named_tensors):
        self.engine.load_weights(named_tensors)


def _settings() -> CollectSettings:
    return CollectSettings(
        CurriculumConfig(max_rounds=1, num_distractors=1, context_budget=4096, tools_in_prompt=False),
        MemoryConfig(similarity="lexical", summarizer="extractive"),
        RolloutConfig(temperature=0.0, max_new_tokens=MAX_NEW),
        system_prompt=SYSTEM,
    )


def _collect(model, tokenizer, episodes, monkeypatch, group_size=GROUP):
    """Collect greedily; returns (trajectories, counting engine, recorded requests per trajectory)."""
    requests = record_requests(monkeypatch)
    engine = CountingEngine(HFEngine(model, tokenizer.pad_token_id))
    trajectories = collect(episodes, group_size, engine, _settings(), tokenizer, seed=0)
    return trajectories, engine, requests


@pytest.fixture(scope="module")
def tiny(model_cfg, tokenizer):
    torch.manual_seed(0)
    return load_model(model_cfg)


@pytest.fixture(scope="module")
def batched(tiny, tokenizer):
    with pytest.MonkeyPatch.context() as monkeypatch:
        return _collect(tiny, tokenizer, EPISODES, monkeypatch)


def test_trajectories_are_ordered_by_episode_and_group(batched):
    trajectories, _, _ = batched
    assert [(t.episode_id, t.group_index) for t in trajectories] == [(e.id, k) for e in EPISODES for k in range(GROUP)]
    for traj in trajectories:
        assert [s.stage for s in traj.steps] == sorted(s.stage for s in traj.steps)
        assert set(traj.stage_end) == {1, 2, 3}


def test_one_engine_call_per_tick_holds_every_pending_request(batched):
    trajectories, engine, _ = batched
    lengths = [len(t.steps) for t in trajectories]
    assert len(set(lengths)) > 1  # episodes of different lengths: ticks end while others go on
    assert len(engine.calls) == max(lengths) < sum(lengths)
    for tick, (prompts, _) in enumerate(engine.calls):
        live = [t for t in trajectories if len(t.steps) > tick]  # no summaries: the tick-th request is a Step
        assert prompts == [t.steps[tick].prompt_ids for t in live]


def test_steps_record_exactly_what_the_engine_saw_and_generated(batched):
    trajectories, engine, _ = batched
    for tick, (prompts, generations) in enumerate(engine.calls):
        live = [t for t in trajectories if len(t.steps) > tick]
        for traj, prompt, generation in zip(live, prompts, generations):
            step = traj.steps[tick]
            assert step.prompt_ids == prompt and step.context_tokens == len(prompt)
            assert step.response_ids == generation.token_ids and step.response_logprobs == generation.logprobs
            assert step.finish_reason == generation.finish_reason
            assert len(step.response_ids) == len(step.response_logprobs) <= MAX_NEW


def test_prompt_ids_are_the_tokenised_rendered_context(batched, tokenizer):
    trajectories, _, requests = batched
    for traj in trajectories:
        asked = [r for r in requests[(traj.episode_id, traj.group_index)] if r.purpose == POLICY]
        assert len(asked) == len(traj.steps)
        for i, (step, request) in enumerate(zip(traj.steps, asked)):
            text = tokenizer.apply_chat_template(request.messages, tokenize=False, add_generation_prompt=True)
            assert step.prompt_ids == tokenizer(text, add_special_tokens=False)["input_ids"]
            assert tokenizer.decode(step.prompt_ids, skip_special_tokens=False) == text
            if i == 0:
                assert request.messages[0] == {"role": "system", "content": SYSTEM}
                continue
            # The context the step saw is the previous context + the agent's reply (+ results, the next input),
            # except where stage 2 reset it or a context tool rewrote it.
            prev, prev_step = asked[i - 1].messages, traj.steps[i - 1]
            rewrote = any(r.name in ("Filter_context", "Summary_context") for r in prev_step.tool_results)
            if (prev_step.stage, step.stage) != (1, 2) and not rewrote:
                reply = {"role": "assistant", "content": prev_step.response_text}
                assert request.messages[: len(prev) + 1] == [*prev, reply]


def test_batched_greedy_equals_one_at_a_time(batched, tiny, tokenizer, monkeypatch):
    """Each episode collected alone (one trajectory, batch of one) gives what the batched collection gave to
    every one of its K rollouts (greedy decoding makes the K rollouts coincide)."""
    trajectories, _, _ = batched
    alone = {e.id: _collect(tiny, tokenizer, [e], monkeypatch, group_size=1)[0][0] for e in EPISODES}
    for many in trajectories:
        one = alone[many.episode_id]
        assert len(one.steps) == len(many.steps)
        for a, b in zip(one.steps, many.steps):
            assert (a.stage, a.round, a.prompt_ids, a.response_ids) == (b.stage, b.round, b.prompt_ids, b.response_ids)
            assert a.action == b.action and a.tool_results == b.tool_results
            assert torch.allclose(torch.tensor(a.response_logprobs), torch.tensor(b.response_logprobs), atol=1e-4)
        assert (one.answer, one.stage_end, one.ltm_final, one.stm_final) == \
            (many.answer, many.stage_end, many.ltm_final, many.stm_final)


def test_renderer_renders_a_context_once_for_the_budget_check_and_the_prompt(tokenizer, monkeypatch):
    from agemem.rollout.collector import PromptRenderer

    renderer = PromptRenderer(tokenizer, tools_in_prompt=False)
    renders = []
    original = tokenizer.apply_chat_template
    monkeypatch.setattr(tokenizer, "apply_chat_template", lambda *a, **k: renders.append(1) or original(*a, **k))
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Alice moved to Paris."}]
    text = original(messages, tokenize=False, add_generation_prompt=True)
    fresh = tokenizer(text, add_special_tokens=False)["input_ids"]
    counted = renderer.prompt_ids(messages)  # the budget check
    counted.append(-1)  # a caller's list is its own
    assert renderer.prompt_ids([dict(m) for m in messages]) == fresh and len(renders) == 1  # the held render
    assert renderer.prompt_ids(messages) == fresh and len(renders) == 2  # handed out once, then rendered again
    longer = [*messages, {"role": "assistant", "content": "<answer>Paris</answer>"}]
    assert renderer.prompt_ids(longer) != renderer.prompt_ids(messages)  # other texts, other keys
    extra = [{**messages[0], "name": "x"}, messages[1]]  # keys beyond role and content are never held
    renderer.held.clear()
    renderer.prompt_ids(extra)
    assert renderer.held == {}
