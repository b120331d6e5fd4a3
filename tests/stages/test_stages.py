"""Stage rules (SPEC.md §3), driven through the real collector by a scripted engine.

`ScriptedEngine` answers every prompt with a preset text chosen from the decoded prompt, tokenised with the real
tiny tokenizer and ended by `<|im_end|>`, so each test scripts exact agent behaviour and checks what the stages
showed the agent and recorded.
"""

import json
from collections.abc import Callable
from typing import Any

import pytest
from recording import record_requests

from agemem.memory import MemoryConfig, extractive_summary
from agemem.records import END_BUDGET, END_DONE, END_ROUND_LIMIT, FINISH_STOP, Episode, Generation, Trajectory
from agemem.rollout.collector import CollectSettings, PromptRenderer, collect
from agemem.rollout.config import RolloutConfig
from agemem.rollout.engine import SamplingParams
from agemem.rollout.stats import format_stage_table, stage_stats
from data_gen.synthetic import SyntheticSpec, synthetic_episodes
from stages.config import CurriculumConfig
from stages.integrated_reasoning import QUESTION_INPUT
from stages.stm_control import DISTRACTOR_INPUT
from stages.turn import POLICY, SUMMARY, SUMMARY_SYSTEM, record_end

SYSTEM = "You are a memory agent."
EPISODE = Episode(
    id="ep-0",
    source="test",
    contexts=["Alice moved to Paris in 2019.", "Bob owns a red bicycle.", "Alice works as a baker."],
    distractors=["Carol moved to Rome in 2018.", "Dave owns a blue car.", "Erin works as a pilot."],
    question="Where did Alice move in 2019?",
    answers=["Paris"],
)

Message = tuple[str, str]  # (role, content) as parsed back from a decoded prompt


# ---------------------------------------------------------------- the scripted engine


def parse_prompt(prompt: str) -> list[Message]:
    """A decoded ChatML prompt → its messages (tool results come back as role "tool"), generation prompt dropped."""
    messages = []
    for segment in prompt.split("<|im_start|>")[1:]:
        role, _, body = segment.partition("\n")
        body = body.removesuffix("<|im_end|>\n")
        if role == "user" and body.startswith("<tool_response>"):
            parts = body.split("<tool_response>\n")[1:]
            messages.extend(("tool", p.removesuffix("\n").removesuffix("\n</tool_response>")) for p in parts)
        elif body or role != "assistant":
            messages.append((role, body))
    return messages


def stage_of(messages: list[Message]) -> str:
    """Which stage (or the summary request) a prompt belongs to, from the inputs it shows."""
    if messages[0] == ("system", SUMMARY_SYSTEM):
        return "summary"
    users = [c for r, c in messages if r == "user"]
    if any(c.startswith("[question]") for c in users):
        return "3"
    if any(c.startswith(("[information]", "Let's chat casually")) for c in users):
        return "1"
    return "2"  # the context was reset: at most distractors (or nothing, once Filter_context removed them)


def calls(*calls: tuple[str, dict[str, Any]]) -> str:
    array = [{"name": name, "arguments": arguments} for name, arguments in calls]
    return f"<think>acting</think><tool_call>{json.dumps(array)}</tool_call>"


def answer(text: str) -> str:
    return f"<think>done here</think><answer>{text}</answer>"


def body_line(content: str) -> str:
    """The material of an input message: its lines between the header and the instruction."""
    return "\n".join(content.split("\n")[1:-1])


def happy_agent(messages: list[Message]) -> str:
    """Add_memory each input in stage 1, Filter_context each distractor in stage 2, Retrieve then answer in 3."""
    stage, (role, content) = stage_of(messages), messages[-1]
    if stage == "summary":
        return "SUMMARY TEXT"
    if role != "user":  # the tool result of this input's call: move on
        return answer("Paris" if stage == "3" else "done")
    if stage == "1":
        return calls(*[("Add_memory", {"content": line}) for line in body_line(content).split("\n")])
    if stage == "2":
        return calls(("Filter_context", {"criteria": body_line(content)}))
    return calls(("Retrieve_memory", {"query": body_line(content)}))


class ScriptedEngine:
    """An Engine that answers each prompt with `script(parsed prompt messages)`; records every call."""

    def __init__(self, tokenizer, script: Callable[[list[Message]], str]):
        self.tokenizer = tokenizer
        self.script = script
        self.eos_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
        self.calls: list[list[str]] = []  # decoded prompts of each engine call

    def generate(self, prompts: list[list[int]], sampling: SamplingParams) -> list[Generation]:
        decoded = [self.tokenizer.decode(p, skip_special_tokens=False) for p in prompts]
        self.calls.append(decoded)
        out = []
        for prompt in decoded:
            ids = self.tokenizer(self.script(parse_prompt(prompt)), add_special_tokens=False)["input_ids"]
            ids = [*ids, self.eos_id]
            out.append(Generation(ids, [0.0] * len(ids), FINISH_STOP))
        return out

    def load_weights(self, named_tensors) -> None:
        raise NotImplementedError


def rollout(tokenizer, monkeypatch, script=happy_agent, episodes=(EPISODE,), group_size=1, summarizer="extractive",
            **curriculum):
    """Collect with the scripted engine. Returns (trajectories, engine, requests per trajectory in order)."""
    requests = record_requests(monkeypatch)
    engine = ScriptedEngine(tokenizer, script)
    settings = CollectSettings(
        CurriculumConfig(**{"max_rounds": 2, "tools_in_prompt": False, **curriculum}),
        MemoryConfig(similarity="lexical", summarizer=summarizer),
        RolloutConfig(temperature=0.0, max_new_tokens=24),
        system_prompt=SYSTEM,
    )
    trajectories = collect(list(episodes), group_size, engine, settings, tokenizer, seed=0)
    return trajectories, engine, requests


def decoded(tokenizer, step) -> str:
    return tokenizer.decode(step.prompt_ids, skip_special_tokens=False)


def policy_requests(requests, traj: Trajectory) -> list:
    """The requests of a trajectory that became Steps, checked to pair up one-to-one with its steps."""
    found = [r for r in requests[(traj.episode_id, traj.group_index)] if r.purpose == POLICY]
    assert len(found) == len(traj.steps)
    return found


# ---------------------------------------------------------------- tests


def test_happy_path_follows_the_three_stages(tokenizer, monkeypatch):
    (traj,), engine, _ = rollout(tokenizer, monkeypatch)
    n, d = len(EPISODE.contexts), 3
    assert [s.stage for s in traj.steps] == [1] * 2 * n + [2] * 2 * d + [3, 3]
    assert [s.round for s in traj.steps] == [0, 1] * (n + d + 1)
    assert traj.stage_end == {1: END_DONE, 2: END_DONE, 3: END_DONE}
    assert not traj.rounds_exceeded and not traj.context_overflow
    assert traj.answer == "Paris" and traj.answer_context_tokens == traj.steps[-1].context_tokens
    assert [e["content"] for e in traj.ltm_final] == EPISODE.contexts
    assert len(engine.calls) == len(traj.steps)  # one trajectory: one request per engine call
    filters = [r for s in traj.steps if s.stage == 2 for r in s.tool_results]
    assert [r.name for r in filters] == ["Filter_context"] * d and all(r.data["removed"] >= 1 for r in filters)
    # Each distractor is filtered out of the context the agent sees next.
    for step, distractor in zip([s for s in traj.steps if s.stage == 2][1::2], EPISODE.distractors):
        assert distractor not in decoded(tokenizer, step)
    assert Trajectory.from_dict(json.loads(json.dumps(traj.to_dict()))) == traj
    table = format_stage_table(stage_stats([traj]))
    assert "1 LTM construction" in table and "3 reasoning" in table


@pytest.mark.parametrize("variant", ["paper", "official"])
def test_query_never_appears_in_stage1_prompts(tokenizer, monkeypatch, variant):
    episodes = synthetic_episodes(3, 0, SyntheticSpec(difficulty=2, num_distractors=2))
    trajectories, _, _ = rollout(tokenizer, monkeypatch, episodes=episodes, stage1_variant=variant)
    for episode, traj in zip(episodes, trajectories):
        stage1 = [decoded(tokenizer, s) for s in traj.steps if s.stage == 1]
        assert stage1 and all(episode.question not in prompt for prompt in stage1)
        assert all(context in stage1[-1] for context in episode.contexts)  # the material was shown
        assert episode.question in decoded(tokenizer, next(s for s in traj.steps if s.stage == 3))


def test_stm_reset_before_stage2_keeps_ltm(tokenizer, monkeypatch):
    (traj,), _, requests = rollout(tokenizer, monkeypatch)
    asked = policy_requests(requests, traj)
    first2 = next(i for i, s in enumerate(traj.steps) if s.stage == 2)
    assert asked[first2].messages == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": DISTRACTOR_INPUT.format(content=EPISODE.distractors[0])},
    ]
    prompt = decoded(tokenizer, traj.steps[first2])
    assert SYSTEM in prompt and EPISODE.distractors[0] in prompt
    assert not any(c in prompt for c in EPISODE.contexts) and "memory_added" not in prompt
    # The LTM built in stage 1 survived the reset: stage 3 retrieves it.
    retrieved = [r for s in traj.steps if s.stage == 3 for r in s.tool_results]
    assert retrieved[0].name == "Retrieve_memory" and retrieved[0].ok
    assert "- Alice moved to Paris in 2019. (Memory ID: mem_1)" in retrieved[0].message
    assert retrieved[0].message in decoded(tokenizer, traj.steps[-1])


def test_stage3_continues_the_stage2_context_and_appends_the_query(tokenizer, monkeypatch):
    (traj,), _, requests = rollout(tokenizer, monkeypatch)
    asked = policy_requests(requests, traj)
    last2 = max(i for i, s in enumerate(traj.steps) if s.stage == 2)
    first3 = last2 + 1
    before, after = asked[last2].messages, asked[first3].messages
    assert after[: len(before)] == before
    assert after[len(before)] == {"role": "assistant", "content": traj.steps[last2].response_text}
    assert after[-1] == {"role": "user", "content": QUESTION_INPUT.format(question=EPISODE.question)}
    assert traj.steps[first3].prompt_ids[: len(traj.steps[last2].prompt_ids)] == traj.steps[last2].prompt_ids


@pytest.mark.parametrize("num_distractors", [1, 2])
def test_one_distractor_per_step_count_from_config(tokenizer, monkeypatch, num_distractors):
    (traj,), _, requests = rollout(tokenizer, monkeypatch, script=lambda m: answer("done"),
                                   num_distractors=num_distractors)
    asked = policy_requests(requests, traj)
    stage2 = [i for i, s in enumerate(traj.steps) if s.stage == 2]
    assert len(stage2) == num_distractors
    for k, i in enumerate(stage2):
        shown = [m["content"] for m in asked[i].messages if m["content"].startswith("[new message]")]
        assert shown == [DISTRACTOR_INPUT.format(content=d) for d in EPISODE.distractors[: k + 1]]
    everything = " ".join(decoded(tokenizer, s) for s in traj.steps)
    assert all(d not in everything for d in EPISODE.distractors[num_distractors:])


def test_paper_variant_retrieves_before_each_context_message(tokenizer, monkeypatch):
    (traj,), _, requests = rollout(tokenizer, monkeypatch, stage1_variant="paper")
    asked = policy_requests(requests, traj)
    last1 = asked[max(i for i, s in enumerate(traj.steps) if s.stage == 1)].messages
    inputs = [i for i, m in enumerate(last1) if m["role"] == "user"]
    assert [last1[i]["content"] for i in inputs] == [f"[information]\n{c}\nStore what may matter later, then reply "
                                                     "<answer>done</answer>." for c in EPISODE.contexts]
    # The first input arrives with an empty LTM: no retrieval; every later one right after exactly one retrieval.
    assert last1[inputs[0] - 1]["role"] == "system"
    for i in inputs[1:]:
        assert last1[i - 1]["role"] == "tool" and last1[i - 1]["content"].startswith("[retrieved memories]\n")
        assert last1[i - 2]["role"] == "assistant"  # the previous input's answer, not another retrieval
    assert sum(m["content"].startswith("[retrieved memories]") for m in last1) == len(EPISODE.contexts) - 1
    # Bob's input is related to nothing stored; Alice's second fact recalls her first.
    assert "Alice moved to Paris in 2019. (Memory ID: mem_1)" in last1[inputs[2] - 1]["content"]
    assert not any(s.tool_results and s.tool_results[0].name == "Retrieve_memory" for s in traj.steps if s.stage == 1)


def test_paper_alg3_switch_an_answer_ends_stage_1(tokenizer, monkeypatch):
    (default,), _, _ = rollout(tokenizer, monkeypatch)
    assert [s.stage for s in default.steps].count(1) == 2 * len(EPISODE.contexts)  # an answer ends the turn only
    (traj,), _, requests = rollout(tokenizer, monkeypatch, answer_ends_stage1=True)
    assert [s.stage for s in traj.steps][:3] == [1, 1, 2]  # Add, then the answer ends stage 1
    assert [e["content"] for e in traj.ltm_final] == EPISODE.contexts[:1]
    shown = " ".join(m["content"] for r in policy_requests(requests, traj) for m in r.messages)
    assert EPISODE.contexts[1] not in shown and traj.stage_end[1] == END_DONE


def test_the_hermes_format_gets_a_system_prompt_that_describes_it():
    from stages.prompts import HERMES_SYSTEM_PROMPT, SYSTEM_PROMPT, system_prompt_for

    assert system_prompt_for(CurriculumConfig(tool_format="hermes")) == HERMES_SYSTEM_PROMPT
    assert 'one call per block: <tool_call>{"name"' in HERMES_SYSTEM_PROMPT
    assert system_prompt_for(CurriculumConfig()) == SYSTEM_PROMPT and '<tool_call>[{"name"' in SYSTEM_PROMPT
    assert system_prompt_for(CurriculumConfig(tool_format="hermes", prompt_style="compact")) == SYSTEM


def test_official_variant_shows_all_context_in_one_message(tokenizer, monkeypatch):
    (traj,), _, requests = rollout(tokenizer, monkeypatch, stage1_variant="official")
    asked = policy_requests(requests, traj)
    stage1 = [i for i, s in enumerate(traj.steps) if s.stage == 1]
    assert len(stage1) == 2  # one input: Add then answer
    users = [m for m in asked[stage1[-1]].messages if m["role"] == "user"]
    assert len(users) == 1 and users[0]["content"].startswith("Let's chat casually.")
    assert all(c in users[0]["content"] for c in EPISODE.contexts)
    assert not any(m["content"].startswith("[retrieved memories]") for m in asked[stage1[-1]].messages)
    assert [e["content"] for e in traj.ltm_final] == EPISODE.contexts


def test_round_limits_end_stages(tokenizer, monkeypatch):
    never_answers = calls(("Add_memory", {"content": "a note"}))
    (traj,), engine, _ = rollout(tokenizer, monkeypatch, script=lambda m: never_answers, max_rounds=2,
                                 num_distractors=2)
    inputs = len(EPISODE.contexts) + 2 + 1
    assert [s.round for s in traj.steps] == [0, 1] * inputs
    assert [s.stage for s in traj.steps] == [1] * 6 + [2] * 4 + [3] * 2
    assert traj.stage_end == {1: END_ROUND_LIMIT, 2: END_ROUND_LIMIT, 3: END_ROUND_LIMIT}
    assert traj.rounds_exceeded and not traj.context_overflow and traj.answer is None
    assert len(engine.calls) == len(traj.steps)
    assert len(traj.ltm_final) == len(traj.steps)


def test_record_end_names_the_auto_stop_then_a_round_limit_and_sets_no_penalty():
    traj = Trajectory("ep", 0)
    record_end(traj, 1, [END_ROUND_LIMIT, END_BUDGET])
    record_end(traj, 2, [END_ROUND_LIMIT, END_DONE])
    record_end(traj, 3, [END_DONE])
    assert traj.stage_end == {1: END_BUDGET, 2: END_ROUND_LIMIT, 3: END_DONE}
    assert not traj.rounds_exceeded and not traj.context_overflow  # penalty events are recorded where they happen


def test_using_every_round_in_stages_1_and_2_costs_nothing(tokenizer, monkeypatch):
    def busy_then_answers(messages):
        if stage_of(messages) == "3":
            return answer("Paris")
        return calls(("Add_memory", {"content": "a note"}))  # never ends a stage-1/2 turn by itself

    (traj,), _, _ = rollout(tokenizer, monkeypatch, script=busy_then_answers, max_rounds=2, num_distractors=2)
    assert traj.stage_end == {1: END_ROUND_LIMIT, 2: END_ROUND_LIMIT, 3: END_DONE}
    assert not traj.rounds_exceeded and traj.answer == "Paris"  # P_rounds only for stage 3


@pytest.mark.parametrize("tools_in_prompt", [False, True])
def test_auto_stop_after_a_call_ends_only_the_current_inputs_rounds(tokenizer, monkeypatch, tools_in_prompt):
    (free,), _, _ = rollout(tokenizer, monkeypatch, tools_in_prompt=tools_in_prompt, context_budget=100_000)
    lengths = [s.context_tokens for s in free.steps if s.stage == 1]
    assert [s.round for s in free.steps if s.stage == 1] == [0, 1] * 3 and lengths == sorted(lengths)
    threshold = lengths[3] - 1  # the context after input 2's Add call (step 3's prompt) passes it
    (traj,), engine, _ = rollout(tokenizer, monkeypatch, tools_in_prompt=tools_in_prompt,
                                 context_budget=2 * threshold, early_stop_fraction=0.5)
    stage1 = [s for s in traj.steps if s.stage == 1]
    # Input 1: Add, answer. Input 2: Add, then the auto-stop. Input 3 still arrives: its first call is always made
    # (Add), then the auto-stop again.
    assert [s.round for s in stage1] == [0, 1, 0, 0]
    assert [s.prompt_ids for s in stage1[:3]] == [s.prompt_ids for s in free.steps[:3]]
    assert EPISODE.contexts[2] in decoded(tokenizer, stage1[3])
    assert [e["content"] for e in traj.ltm_final] == EPISODE.contexts
    assert traj.stage_end[1] == END_BUDGET
    # Never above the budget itself: no overflow; no stage ran out of rounds.
    assert max(s.context_tokens for s in traj.steps) <= 2 * threshold
    assert not traj.context_overflow and not traj.rounds_exceeded
    # The engine saw exactly the prompts of the recorded steps.
    assert [p for call in engine.calls for p in call] == [decoded(tokenizer, s) for s in traj.steps]
    # Stage 2 starts from a reset context, under the threshold again: it runs in full; stage 3 gets its call.
    assert traj.stage_end[2] == END_DONE and [s.stage for s in traj.steps].count(2) == 6
    assert traj.steps[-1].stage == 3


def test_stage_2_ending_above_the_threshold_still_leaves_stage_3_its_answer(tokenizer, monkeypatch):
    def answers_at_once_in_stage_3(messages):
        stage, (role, content) = stage_of(messages), messages[-1]
        if stage == "3":
            return answer("Paris")
        if role != "user":
            return answer("done")
        return calls(("Add_memory", {"content": body_line(content)}))

    # 40 tokens: the system prompt and one input already pass 0.8 × 40 after a call.
    (traj,), _, _ = rollout(tokenizer, monkeypatch, script=answers_at_once_in_stage_3, context_budget=40,
                            num_distractors=3)
    assert [s.stage for s in traj.steps] == [1, 1, 1, 2, 2, 2, 3]  # every input gets exactly its first call
    assert traj.stage_end == {1: END_BUDGET, 2: END_BUDGET, 3: END_DONE}
    assert traj.answer == "Paris" and not traj.rounds_exceeded
    assert traj.steps[-1].context_tokens > 40 and traj.context_overflow  # P_overflow: above the budget itself


def test_format_error_is_reported_back_as_a_tool_message(tokenizer, monkeypatch):
    def sloppy(messages):
        if stage_of(messages) == "1" and messages[-1][0] == "user":
            return "I will remember that."
        return answer("done")

    (traj,), _, requests = rollout(tokenizer, monkeypatch, script=sloppy)
    asked = policy_requests(requests, traj)
    step = traj.steps[0]
    assert step.action.kind == "format_error" and step.action.error and step.tool_results == []
    # A call without tool calls ends the turn on that input: the next input follows the error message.
    assert asked[1].messages[-3:] == [
        {"role": "assistant", "content": "I will remember that."},
        {"role": "tool", "content": f"[format error]\n{step.action.error}"},
        {"role": "user", "content": f"[information]\n{EPISODE.contexts[1]}\nStore what may matter later, then "
                                    "reply <answer>done</answer>."},
    ]
    assert f"<tool_response>\n[format error]\n{step.action.error}\n</tool_response>" in decoded(tokenizer, traj.steps[1])
    assert stage_stats([traj])[1]["format_errors"] == len(EPISODE.contexts)


@pytest.mark.parametrize("summarizer", ["policy", "extractive"])
def test_summary_requests_are_not_steps(tokenizer, monkeypatch, summarizer):
    def summarizing(messages):
        stage, (role, _) = stage_of(messages), messages[-1]
        if stage == "summary":
            return "SUMMARY TEXT"
        if stage == "2" and role == "user":
            return calls(("Summary_context", {"span": "all"}))
        return answer("done")

    (traj,), engine, requests = rollout(tokenizer, monkeypatch, script=summarizing, summarizer=summarizer,
                                        num_distractors=2)
    asked = policy_requests(requests, traj)
    summaries = [r for r in requests[("ep-0", 0)] if r.purpose == SUMMARY]
    prompts = [p for call in engine.calls for p in call]
    seen = sum(SUMMARY_SYSTEM in p for p in prompts)
    assert not any(SUMMARY_SYSTEM in decoded(tokenizer, s) for s in traj.steps)
    results = [r for s in traj.steps for r in s.tool_results if r.name == "Summary_context"]
    assert len(results) == 2 and all(r.ok for r in results)
    if summarizer == "policy":
        assert len(summaries) == seen == 2 and len(prompts) == len(traj.steps) + 2
        assert summaries[0].messages[0] == {"role": "system", "content": SUMMARY_SYSTEM}
        assert all(r.data["summary"] == "SUMMARY TEXT" for r in results)
    else:
        assert summaries == [] and seen == 0 and len(prompts) == len(traj.steps)
        i = next(i for i, s in enumerate(traj.steps) if s.tool_results)
        span = asked[i].messages[1:] + [{"role": "assistant", "content": traj.steps[i].response_text}]
        assert results[0].data["summary"] == extractive_summary(span)
    nxt = asked[next(i for i, s in enumerate(traj.steps) if s.tool_results) + 1].messages
    assert nxt[1] == {"role": "user", "content": f"[summary of 2 messages]\n{results[0].data['summary']}"}


def test_scripted_tool_calls_give_the_spec_ltm_state(tokenizer, monkeypatch):
    script = {
        ("1", 0): calls(("Add_memory", {"content": "Alice lives in Paris."}),
                        ("Add_memory", {"content": "Bob likes tea.", "metadata": {"tags": ["drinks"]}}),
                        ("Add_memory", {"content": "Carol is 30 years old."})),
        ("1", 1): calls(("Update_memory", {"memory_id": "mem_1", "content": "Alice lives in Lyon."}),
                        ("Delete_memory", {"memory_id": "mem_2", "confirmation": True}),
                        ("Delete_memory", {"memory_id": "mem_3", "confirmation": False}),
                        ("Update_memory", {"memory_id": "mem_9", "content": "nobody"}),
                        ("Delete_memory", {"memory_id": "mem_2", "confirmation": "true"})),
        ("2", 0): calls(("Add_memory", {"content": "Dave is a pilot.", "memory_type": "semantic"})),
        ("3", 0): calls(("Retrieve_memory", {"query": "Where does Alice live?", "top_k": 2})),
    }

    def scripted(messages):
        stage = stage_of(messages)
        last_input = max(i for i, (role, _) in enumerate(messages) if role == "user")
        turn = sum(role == "assistant" for role, _ in messages[last_input:])
        return script.get((stage, turn), answer("Lyon" if stage == "3" else "done"))

    (traj,), _, _ = rollout(tokenizer, monkeypatch, script=scripted, stage1_variant="official", max_rounds=3,
                            num_distractors=1)
    assert traj.ltm_final == [
        {"id": "mem_1", "content": "Alice lives in Lyon.",
         "metadata": {"timestamp": 4, "source": None, "tags": [], "memory_type": None}},
        {"id": "mem_3", "content": "Carol is 30 years old.",
         "metadata": {"timestamp": 3, "source": None, "tags": [], "memory_type": None}},
        {"id": "mem_4", "content": "Dave is a pilot.",
         "metadata": {"timestamp": 5, "source": None, "tags": [], "memory_type": "semantic"}},
    ]
    maintenance = traj.steps[1].tool_results
    assert [(r.ok, r.data.get("error")) for r in maintenance] == [
        (True, None), (True, None), (False, "not_confirmed"), (False, "unknown_memory_id"),
        (False, "unknown_memory_id")]
    retrieve = [r for s in traj.steps if s.stage == 3 for r in s.tool_results]
    assert retrieve[0].message.startswith("[retrieved memories]\n- Alice lives in Lyon. (Memory ID: mem_1)")
    assert traj.answer == "Lyon" and traj.stage_end == {1: END_DONE, 2: END_DONE, 3: END_DONE}
    assert Trajectory.from_dict(json.loads(json.dumps(traj.to_dict()))) == traj


def test_prompt_ids_are_the_rendered_context(tokenizer, monkeypatch):
    (traj,), _, requests = rollout(tokenizer, monkeypatch)
    renderer = PromptRenderer(tokenizer, tools_in_prompt=False)
    for step, request in zip(traj.steps, policy_requests(requests, traj)):
        assert step.prompt_ids == renderer.prompt_ids(request.messages)
        assert step.context_tokens == len(step.prompt_ids)


def test_hermes_tool_format_drives_the_same_stages(tokenizer, monkeypatch):
    def hermes(messages):
        stage, (role, _) = stage_of(messages), messages[-1]
        if stage == "1" and role == "user":
            blocks = [json.dumps({"name": "Add_memory", "arguments": {"content": c}}) for c in EPISODE.contexts]
            return "<think>store</think>" + "".join(f"<tool_call>{b}</tool_call>" for b in blocks)
        return happy_agent(messages)

    (traj,), _, _ = rollout(tokenizer, monkeypatch, script=hermes, stage1_variant="official", tool_format="hermes")
    assert [r.name for r in traj.steps[0].tool_results] == ["Add_memory"] * len(EPISODE.contexts)
    assert [e["content"] for e in traj.ltm_final] == EPISODE.contexts and traj.answer == "Paris"


# ---------------------------------------------------------------- turn endings at their boundaries


def drive_turn(after_call: list[int], texts: list[str], prompt_len: int = 10, budget: int = 100,
               threshold: int = 80, max_rounds: int = 3) -> tuple[str, str | None, Trajectory]:
    """`respond` driven by hand: call i gets a prompt of `prompt_len` ids and returns texts[i]; the context after it
    measures after_call[i] tokens. Returns (end, answer, trajectory)."""
    from agemem.memory import build_state
    from stages.turn import Completion, TurnSettings, respond

    counts = iter(after_call)
    curriculum = CurriculumConfig(context_budget=budget, early_stop_fraction=threshold / budget, max_rounds=max_rounds)
    settings = TurnSettings(curriculum, summarizer="extractive", extractive=extractive_summary,
                            count_context=lambda _messages: next(counts))
    assert settings.auto_stop_tokens == threshold
    state = build_state(MemoryConfig(similarity="lexical", summarizer="extractive"), SYSTEM, lambda _m: 1)
    traj = Trajectory("ep", 0)
    turn = respond(state, traj, 3, settings)
    next(turn)
    try:
        for text in texts:
            turn.send(Completion([0] * prompt_len, Generation([1], [0.0], FINISH_STOP), text))
    except StopIteration as done:
        end, answer = done.value
        return end, answer, traj
    raise AssertionError("the turn did not end")


ADD = calls(("Add_memory", {"content": "x"}))


@pytest.mark.parametrize("after, end", [(80, END_ROUND_LIMIT), (81, END_BUDGET)])
def test_auto_stop_is_strictly_above_the_threshold_after_a_call(after, end):
    assert drive_turn([after] * 3, [ADD] * 3)[0] == end


def test_a_call_without_tool_calls_ends_the_turn_even_above_the_threshold():
    assert drive_turn([95], [answer("Paris")])[:2] == (END_DONE, "Paris")
    assert drive_turn([10, 95], [ADD, "plain text"])[:2] == (END_DONE, None)


@pytest.mark.parametrize("after, prompt, overflow", [(100, 10, False), (101, 10, True), (50, 100, False),
                                                     (50, 101, True)])
def test_overflow_is_strictly_above_the_budget_in_the_prompt_or_after_the_call(after, prompt, overflow):
    *_, traj = drive_turn([after], [answer("Paris")], prompt_len=prompt)
    assert traj.context_overflow is overflow
