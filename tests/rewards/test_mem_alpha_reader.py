"""Mem-α's reader and r1–r4 on hand-built rollouts (SPEC.md §6): every number below is computed by hand."""

import pytest

from agemem.records import Action, Episode, Step, ToolCall, ToolResult, Trajectory
from agemem.rewards.config import RewardConfig
from agemem.rewards.mem_alpha_reader import (
    Question,
    Reader,
    Write,
    executed_share,
    input_tokens,
    keyword_hit,
    memory_context,
    memory_tokens,
    rule_correct,
    rule_valid,
    score_answers,
    score_mem_alpha,
    step_writes,
    top_k_texts,
    write_validity,
)


def memory(core="", semantic=(), episodic=()):
    return {"core": core, "semantic": [{"id": f"s{i:03d}", "content": c} for i, c in enumerate(semantic)],
            "episodic": [{"id": f"e{i:03d}", "content": c} for i, c in enumerate(episodic)],
            "core_max_tokens": 512, "window": 20, "id_seed": 0, "ids_issued": len(semantic) + len(episodic)}


def insert(memory_type, content):
    return ToolCall("new_memory_insert", {"memory_type": memory_type, "content": content})


def step(calls, results):
    action = Action(kind="tool_calls", tool_calls=list(calls)) if calls else Action(kind="format_error", error="x")
    return Step(stage=1, round=0, prompt_ids=[1, 2], response_ids=[3], response_logprobs=[-0.5], response_text="",
                finish_reason="stop", action=action, tool_results=list(results))


def ok(name="new_memory_insert", **data):
    return ToolResult(name, {}, True, "done", data)


def failed(name="new_memory_insert"):
    return ToolResult(name, {}, False, "[tool error]", {"error": "bad_arguments"})


def test_bm25_top_k_keeps_only_matching_documents_best_first():
    docs = ["Alice lives in Paris near the river Seine", "Bob likes tea", "Alice Paris", "nothing here"]
    assert top_k_texts(docs, "Alice, Paris?", 3) == ["Alice Paris", "Alice lives in Paris near the river Seine"]
    assert top_k_texts(docs, "unrelated words", 3) == []
    assert top_k_texts(docs, "Alice", 0) == []


def test_memory_context_always_has_core_and_only_retrieved_items():
    text = memory_context(memory("User reads a novel.", ["Paris is in France", "Tea is a drink"],
                                 ["At 9am, Alice flew to Paris"]), "Where did Alice fly?", 1)
    assert "User reads a novel." in text and "At 9am, Alice flew to Paris" in text
    assert "Tea is a drink" not in text and "Paris is in France" not in text
    assert "Empty." in memory_context(memory(), "q", 5)


def test_rule_metrics_per_source():
    assert rule_correct("It was in Paris, France.", Question("q", ["Paris"]), extractive=False) == 1.0
    assert rule_correct("Paris, France", Question("q", ["Paris"], "exact_match"), extractive=False) == 0.0
    assert rule_correct("the Paris", Question("q", ["Paris"], "exact_match"), extractive=False) == 1.0
    assert keyword_hit("a story about dragons and knights", ["dragons, knights and castles"]) == pytest.approx(2 / 3)
    # llm_judge questions without an LLM judge fall back to substring EM; the extractive reader always uses it.
    assert rule_correct("yes, in Paris", Question("q", ["Paris"], "llm_judge"), extractive=False) == 1.0
    assert rule_correct("memory: Paris, France", Question("q", ["Paris"], "exact_match"), extractive=True) == 1.0


class FixedBackend:
    """A completion backend with canned replies (None = a failed request)."""

    model_id = "fixed"

    def __init__(self, replies):
        self.replies = list(replies)
        self.prompts = []

    def complete(self, prompts):
        self.prompts.extend(prompts)
        return [self.replies.pop(0) for _ in prompts]


def test_model_reader_answers_in_one_batch_and_a_failed_reply_is_scored_extractively():
    backend = FixedBackend(["Paris", None, "London"])
    reader = Reader("llm_local", backend, top_k=5)
    contexts = ["Alice lives in Paris", "Bob lives in Rome", "Carol lives in Oslo"]
    questions = [Question("Alice?", ["Paris"]), Question("Bob?", ["Rome"]), Question("Carol?", ["Oslo"])]
    assert score_answers(reader, None, contexts, questions) == [1.0, 1.0, 0.0]
    assert len(backend.prompts) == 3 and reader.failures == 1
    assert "Question: Alice?" in backend.prompts[0][1]


def test_write_validity_rules_for_each_memory_type():
    assert rule_valid("core_memory", "The user is a nurse reading about Paris.")
    assert not rule_valid("core_memory", "N/A") and not rule_valid("core_memory", "placeholder")
    assert rule_valid("episodic_memory", "At 9am on Monday, Alice flew to Paris for work")
    assert not rule_valid("episodic_memory", "Alice flew to Paris for work")  # no time
    assert not rule_valid("episodic_memory", "On Monday")  # no event
    assert rule_valid("semantic_memory", "Harry Potter author: J.K. Rowling")
    assert rule_valid("semantic_memory", "Paris is the capital of France")
    assert not rule_valid("semantic_memory", "Where is Paris?")
    assert not rule_valid("semantic_memory", "At 9am, Alice flew to Paris")  # an event, not a fact


def test_step_writes_and_validity_verdicts():
    calls = [insert("semantic_memory", "Paris is in France"), ToolCall("search_memory", {"query": "x"}),
             insert("core_memory", "bad type"), ToolCall("memory_delete", {"memory_type": "semantic_memory",
                                                                           "memory_id": "s000"}),
             insert("episodic_memory", "no time here at all")]
    results = [ok(), failed("search_memory"), failed(), ok("memory_delete"), ok()]
    writes = step_writes(calls, results)
    assert [w.memory_type for w in writes] == ["semantic_memory", None, "semantic_memory", "episodic_memory"]
    assert write_validity([writes, []], judge=None) == [[True, False, True, False], []]
    assert write_validity([[Write("semantic_memory", "fine fact here", executed=False)]], None) == [[False]]


def test_executed_share_skips_duplicates_and_errors():
    assert executed_share([ok(), ok(status="skipped"), failed(), ok()]) == 0.5
    assert executed_share([]) == 0.0


def test_score_mem_alpha_hand_computed():
    """Two chunk steps, three questions, the extractive reader, β = 0.05, γ = 0.1.

    Input: chunks of 40 and 80 characters → 10 + 20 = 30 tokens. Memory: core (24 chars → 6 tokens) and two items
    (16 → 4, 20 → 5): 15 tokens, so r3 = 1 − 15/30 = 0.5. The reader sees the answer to 2 of the 3 questions
    (r1 = 2/3). Step 1: 2 calls, both executed and valid → r2 = 1, r4 = 1; step 2: one executed invalid write and
    one failed call → r2 = 0.5, r4 = 0 (the failed write is invalid too).
    """
    episode = Episode(
        id="i1", source="mem_alpha_synthetic", contexts=["a" * 40, "b" * 80], distractors=[],
        question="What is E1's city?", answers=["Paris"],
        questions=[{"question": "What is E1's city?", "answers": ["Paris"]},
                   {"question": "What is E2's job?", "answers": ["nurse"], "metric": "exact_match"},
                   {"question": "What is E3's pet?", "answers": ["parrot"]}])
    final = memory("E2 works as a nurse now.", ["E1's city: Paris", "E3's pet is a cat!!"])
    assert input_tokens(episode) == 30 and memory_tokens(final) == 15
    traj = Trajectory(episode_id="i1", group_index=0, memory_final=final, steps=[
        step([insert("semantic_memory", "E1's city: Paris"), insert("core_memory", "E2 works as a nurse now.")],
             [ok(), ok()]),
        step([insert("episodic_memory", "nothing timed"), insert("semantic_memory", "x")], [ok(), failed()]),
    ])
    traj.steps[0].action.tool_calls[1] = ToolCall("memory_update", {"memory_type": "core_memory",
                                                                    "new_content": "E2 works as a nurse now."})
    scores = score_mem_alpha([traj], {"i1": episode}, RewardConfig(preset="mem_alpha"),
                             Reader("extractive", None, top_k=10), judge=None)
    assert scores.correct == [[1.0, 1.0, 0.0]]
    r1, r3 = 2 / 3, 0.5
    assert traj.step_rewards == pytest.approx([r1 + 1.0 + 0.05 * r3 + 0.1 * 1.0, r1 + 0.5 + 0.05 * r3 + 0.0])
    assert traj.reward == pytest.approx(sum(traj.step_rewards) / 2)
    assert traj.reward_components["r3_compression"] == pytest.approx(0.5)
    assert scores.metrics["reward/r1/mean"] == pytest.approx(r1)


def test_line_match_needs_the_questions_entity_and_attribute_in_the_line_that_holds_the_answer():
    """reward.reader_match=line: a miscopied entity id or attribute no longer passes on the value alone."""
    final = memory("", ["E2994's room is 568", "E2294's code is 568", "E2294's room is 569", "E7's room is 3"])
    questions = [Question("What is E2294's room?", ["568"]), Question("What is E7's room?", ["3"])]
    contexts = [memory_context(final, q.question, 10) for q in questions]
    assert score_answers(Reader("extractive", None, 10), None, contexts, questions) == [1.0, 1.0]
    line = Reader("extractive", None, 10, match="line")
    assert line.answer(contexts, [q.question for q in questions]) == ["- E2294's room is 569", "- E7's room is 3"]
    assert score_answers(line, None, contexts, questions) == [0.0, 1.0]
    final["semantic"].append({"id": "s009", "content": "E2294's room is 568."})
    assert score_answers(line, None, [memory_context(final, questions[0].question, 10)], questions[:1]) == [1.0]
    with pytest.raises(ValueError, match="reward.reader_match='entity'"):
        Reader("extractive", None, 10, match="entity")
    from agemem.models import ModelConfig
    from agemem.rewards.mem_alpha_reader import build_reader

    assert build_reader(RewardConfig(preset="mem_alpha", reader_match="line"), ModelConfig()).match == "line"


def test_a_trajectory_without_memory_is_refused():
    episode = Episode(id="i1", source="s", contexts=["c"], distractors=[], question="q?", answers=["a"])
    with pytest.raises(ValueError, match="memory_final"):
        score_mem_alpha([Trajectory(episode_id="i1", group_index=0)], {"i1": episode}, RewardConfig(),
                        Reader("extractive", None, 5), None)


def test_a_local_reader_is_the_policys_frozen_starting_model_and_answers_in_one_batch():
    """reader=llm_local with no path reads with the policy's own weights (the tiny model here), greedily."""
    from agemem.models import ModelConfig
    from agemem.rewards.mem_alpha_reader import build_reader

    cfg = RewardConfig(preset="mem_alpha", reader="llm_local")
    cfg.reader_local.device, cfg.reader_local.dtype, cfg.reader_local.max_new_tokens = "cpu", "float32", 4
    reader = build_reader(cfg, ModelConfig())
    assert reader.backend.model_id == "tiny" and not reader.extractive
    replies = reader.answer(["Core memory:\nE1 lives in Paris."] * 2, ["Where does E1 live?", "Who?"])
    assert len(replies) == 2 and all(isinstance(r, str) for r in replies)
    with pytest.raises(ValueError, match="reward.reader_local.device"):
        cfg.reader_local.device = "tpu"
        build_reader(cfg, ModelConfig())
