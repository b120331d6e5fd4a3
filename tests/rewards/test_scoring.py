"""`score` / `score_batch` on whole hand-built trajectories, every expected value computed by hand; under the
official preset also what is sent to the judge, and when LLM verdicts replace the official rule fallbacks."""

import pytest

from agemem.rewards import RewardBreakdown, RuleJudge, score, score_batch
from agemem.rewards.config import RewardConfig
from agemem.rewards.judges import FALLBACK, LLM, RULE, JudgeRequest, LLMJudge, Verdict
from agemem.tools.schemas import (
    ADD_MEMORY,
    DELETE_MEMORY,
    FILTER_CONTEXT,
    RETRIEVE_MEMORY,
    SUMMARY_CONTEXT,
    UPDATE_MEMORY,
)

M1 = "The Raconteurs are an American rock band with four members."  # states the answer
M2 = "Muse has three members."  # holds 3/8 of fact 1 and 1/6 of fact 2: not supported


def good(b):
    """Stores, updates, filters below the budget, retrieves, answers right."""
    return b.trajectory(
        b.step(1, b.result(ADD_MEMORY, data={"memory_id": "m1"}, content=M1),
               b.result(ADD_MEMORY, data={"memory_id": "m2"}, content=M2),
               b.result(UPDATE_MEMORY, data={"memory_id": "m2"}, memory_id="m2", content=M2 + " (UK)"),
               context_tokens=300),
        b.step(2, b.result(FILTER_CONTEXT, data={"removed": 1}, criteria="Grammy"), context_tokens=900),
        b.step(3, b.result(RETRIEVE_MEMORY, query="members", data={"retrieved": [
            {"id": "m1", "content": M1, "score": 0.9}, {"id": "m2", "content": M2, "score": 0.7}]}),
            context_tokens=1000),
        b.step(3, answer="The Raconteurs", context_tokens=1100),
        answer="The Raconteurs", answer_context_tokens=500, context_budget=2000, max_rounds=5,
        stm_final=[{"role": "system", "content": "You manage memory."},  # 18 characters
                   {"role": "user", "content": b.QUESTION},  # 52
                   {"role": "assistant", "content": "<answer>The Raconteurs</answer>"}],  # 31
    )


def failed(b):
    """No answer, out of rounds, overflowed, the query filtered away, no tool calls."""
    return b.trajectory(
        b.step(1), b.step(2), b.step(3), answer=None, rounds_exceeded=True, context_overflow=True, max_rounds=5,
        answer_context_tokens=2400, context_budget=2000, stm_final=[{"role": "user", "content": "Muse won a Grammy."}],
    )


def late(b):
    """Deletes (maintenance), summarises only at the limit (not preventive), answers wrong, overflowed."""
    return b.trajectory(
        b.step(1, b.result(ADD_MEMORY, data={"memory_id": "m1"}, content="Jack White founded The Raconteurs."),
               b.result(DELETE_MEMORY, data={"memory_id": "m0", "deleted": True}, memory_id="m0", confirmation=True)),
        b.step(2, b.result(SUMMARY_CONTEXT, data={"replaced": 2, "summary": "…"}, span="all"), context_tokens=2000),
        b.step(3, answer="Muse"),
        answer="Muse", answer_context_tokens=1000, context_budget=2000, context_overflow=True,
        stm_final=[{"role": "user", "content": "[summary of 2 messages]\nDistractors about Muse."},
                   {"role": "user", "content": b.QUESTION}],
    )


PAPER = RewardConfig()


def test_good_trajectory_paper_preset(b):
    r = score(good(b), b.episode(), PAPER)
    assert (r.task, r.compression, r.preventive, r.preservation) == (1.0, 0.75, 1.0, 1.0)
    assert r.context == pytest.approx(2.75 / 3)
    assert (r.storage, r.maintenance, r.relevance) == (0.5, 1.0, 0.5)
    assert r.memory == pytest.approx(2 / 3)
    assert (r.penalty, r.penalty_rounds, r.penalty_overflow) == (0.0, 0.0, 0.0)
    assert r.tool_efficiency == 0.0  # not a term of the paper's reward
    assert r.total == pytest.approx(1 + 2.75 / 3 + 2 / 3)
    third = score(good(b), b.episode(), RewardConfig(paper_weights="third"))
    assert third.total == pytest.approx((1 + 2.75 / 3 + 2 / 3) / 3)


def test_good_trajectory_official_preset(b):
    cfg = RewardConfig(preset="agemem_official", token_estimate="chars")
    r = score(good(b), b.episode(), cfg)
    assert r.compression == pytest.approx(1 - 25.25 / 2000)  # (18 + 52 + 31) / 4 = 25.25 estimated tokens
    assert (r.preventive, r.preservation) == (1.0, 1.0)  # Filter, no overflow; the question still in the context
    context = (1 - 25.25 / 2000 + 1 + 1) / 3
    # No LLM judge: storage by the keyword fallback (neither entry is > 50 characters with a keyword: 0),
    # relevance 0.5 (the retrieval was followed by another call), maintenance 1 (the Update succeeded).
    assert (r.storage, r.maintenance, r.relevance) == (0.0, 1.0, 0.5)
    # 5 successful calls / 2 stage-3 rounds = 2.5: no scale term; Retrieve + Filter + Add: 0.5; 0.2·(1 − 2/5)
    assert r.tool_efficiency == pytest.approx(0.62)
    assert r.penalty == 0.0
    assert r.total == pytest.approx(0.5 * 1 + 0.2 * 0.62 + 0.15 * context + 0.15 * 0.5)


def test_failed_trajectory_every_penalty(b):
    r = score(failed(b), b.episode(), PAPER)
    assert r.task == -1.0  # no answer
    assert (r.compression, r.preventive, r.preservation, r.context) == (0.0, 0.0, 0.0, 0.0)
    assert (r.storage, r.maintenance, r.relevance, r.memory) == (0.0, 0.0, 0.0, 0.0)
    assert (r.penalty_rounds, r.penalty_overflow, r.penalty) == (-1.0, -0.5, -1.5)
    assert r.total == pytest.approx(-2.5)
    assert score(failed(b), b.episode(), RewardConfig(paper_weights="third")).total == pytest.approx(-1 / 3 - 1.5)
    official = score(failed(b), b.episode(), RewardConfig(preset="agemem_official"))
    assert official.tool_efficiency == pytest.approx(0.16)  # no calls; 1 stage-3 round of 5: 0.2·(1 − 1/5)
    # The official penalties look at the final context (18 characters: no overflow) and the stage-3 rounds (1 < 5).
    assert (official.penalty_rounds, official.penalty_overflow) == (0.0, 0.0)
    context = (1 - 4.5 / 2000) / 3  # compression only: the question is not in the context
    assert official.total == pytest.approx(-1 + 0.2 * 0.16 + 0.15 * context)  # no answer: −1 unweighted


def test_late_context_tool_wrong_answer_and_delete(b):
    r = score(late(b), b.episode(), PAPER)
    assert r.task == 0.0  # token F1("Muse", "The Raconteurs")
    assert (r.compression, r.preventive, r.preservation) == (0.5, 0.0, 1.0)  # summary at 2000 = budget
    assert (r.storage, r.maintenance, r.relevance) == (1.0, 1.0, 0.0)
    assert r.penalty == -0.5
    assert r.total == pytest.approx(0.0 + 1.5 / 3 + 2 / 3 - 0.5)


def test_preservation_is_measured_on_the_context_the_answer_saw(b):
    """An answer that repeats the question's key terms does not preserve them: the context it saw had lost them."""
    answered = b.step(3, answer="Muse or The Raconteurs: The Raconteurs")
    lost = [{"role": "system", "content": "You manage memory."},
            {"role": "tool", "content": "[summary of 4 messages]\nA question about two bands."},
            {"role": "assistant", "content": answered.action.answer}]
    traj = b.trajectory(answered, answer=answered.action.answer, max_rounds=5, stm_final=lost, answer_context_len=2)
    assert score(traj, b.episode(), PAPER).preservation == 0.0
    assert score(traj, b.episode(), RewardConfig(preset="agemem_official")).preservation == 0.0
    whole = b.trajectory(answered, answer=answered.action.answer, max_rounds=5, stm_final=lost)  # no length: all
    assert score(whole, b.episode(), PAPER).preservation == 1.0


class SpyJudge:
    """Counts calls; scores with the rule judge."""

    def __init__(self):
        self.calls, self.inner = [], RuleJudge()

    def score(self, requests):
        self.calls.append(list(requests))
        return self.inner.score(requests)


def test_batch_sends_every_judge_request_in_one_call_and_sets_rewards(b):
    trajs, spy = [good(b), failed(b), late(b)], SpyJudge()
    batch = score_batch(trajs, {"e1": b.episode()}, PAPER, spy)
    assert len(spy.calls) == 1
    kinds = [r.kind for r in spy.calls[0]]  # good: answer, 2 entries, retrieved set; failed: none; late: 2
    assert kinds == ["answer", "storage", "storage", "relevance", "answer", "storage"]
    assert isinstance(batch, list) and all(isinstance(r, RewardBreakdown) for r in batch)
    expected = [1 + 2.75 / 3 + 2 / 3, -2.5, 1.5 / 3 + 2 / 3 - 0.5]
    assert [t.reward for t in trajs] == pytest.approx(expected)
    assert trajs[1].reward_components["penalty_rounds"] == -1.0
    assert set(trajs[0].reward_components) == set(batch[0].components()) and "total" not in batch[0].components()
    m = batch.metrics
    assert m["reward/total/mean"] == pytest.approx(sum(expected) / 3)
    assert m["reward/task/mean"] == pytest.approx((1 - 1 + 0) / 3)
    assert m["reward/judge_requests"] == 6 and m["reward/judge_fallbacks"] == 0
    assert m["timing_s/reward"] >= m["timing_s/reward_judge"] >= 0
    assert all(f"reward/{k}/mean" in m for k in batch[0].components())


class FixedBackend:
    """A completion backend that always replies `reply`."""

    model_id = "fixed"

    def __init__(self, reply):
        self.reply = reply

    def complete(self, prompts):
        return [self.reply] * len(prompts)


def test_llm_judge_scores_feed_task_storage_and_relevance(b):
    judge = LLMJudge(FixedBackend("0.7"), RuleJudge())
    r = score(good(b), b.episode(), PAPER, judge)
    assert (r.task, r.storage, r.relevance) == (0.7, 1.0, 0.7)  # both entries ≥ storage_threshold 0.5
    low = score(good(b), b.episode(), RewardConfig(storage_threshold=0.8), judge)
    assert low.storage == 0.0


def test_unparsable_llm_replies_fall_back_to_rules(b, caplog):
    judge = LLMJudge(FixedBackend("I cannot judge this."), RuleJudge())
    batch = score_batch([good(b)], {"e1": b.episode()}, PAPER, judge)
    assert batch[0].total == pytest.approx(1 + 2.75 / 3 + 2 / 3)  # identical to the rule judge's
    assert batch.metrics["reward/judge_fallbacks"] == 4 and judge.fallbacks == 4
    assert "rule fallback" in caplog.text


def test_unknown_preset_and_missing_episode_are_errors(b):
    with pytest.raises(ValueError, match="agemem_paper.*agemem_official"):
        score(good(b), b.episode(), RewardConfig(preset="paper"))
    with pytest.raises(ValueError, match="mem_alpha"):
        score(good(b), b.episode(), RewardConfig(preset="mem_alpha"))
    with pytest.raises(KeyError, match="e1"):
        score_batch([good(b)], {}, PAPER, RuleJudge())


def test_empty_batch(b):
    batch = score_batch([], {}, PAPER, SpyJudge())
    assert batch == [] and batch.metrics["reward/judge_requests"] == 0


# ---------------------------------------------------------------- the official preset through score_batch
# (what surviving reward mutants exposed: docs/LOG.md)

OFFICIAL = RewardConfig(preset="agemem_official")


class FixedJudge:
    """Every verdict `score` from `source`."""

    def __init__(self, score: float, source: str):
        self.verdict = Verdict(score, source)

    def score(self, requests):
        return [self.verdict] * len(requests)


def test_the_judge_requests_carry_question_golds_texts_and_facts_under_both_presets(b):
    episode = b.episode()
    q, golds, facts = episode.question, tuple(episode.answers), tuple(episode.supporting_facts)
    paper, official = SpyJudge(), SpyJudge()
    score_batch([good(b)], {"e1": episode}, RewardConfig(), paper)
    score_batch([good(b)], {"e1": episode}, OFFICIAL, official)
    expected = [JudgeRequest("answer", q, golds, ("The Raconteurs",), facts),
                JudgeRequest("storage", q, golds, (M1,), facts), JudgeRequest("storage", q, golds, (M2,), facts),
                JudgeRequest("relevance", q, golds, (M1, M2), facts)]
    assert paper.calls == [expected] and official.calls == [expected]


def test_official_storage_and_relevance_come_from_an_llm_judge(b):
    r = score(good(b), b.episode(), OFFICIAL, LLMJudge(FixedBackend("0.7"), RuleJudge()))
    assert (r.task, r.storage, r.maintenance, r.relevance) == (0.7, 1.0, 1.0, 0.7)  # 2 of 2 entries ≥ 0.5
    assert r.memory == pytest.approx(2.7 / 3)
    context = (1 - 25.25 / 2000 + 1 + 1) / 3
    assert r.total == pytest.approx(0.5 * 0.7 + 0.2 * 0.62 + 0.15 * context + 0.15 * 2.7 / 3)


@pytest.mark.parametrize("source", [RULE, FALLBACK])
def test_without_an_llm_verdict_the_official_fallbacks_apply(b, source):
    r = score(good(b), b.episode(), OFFICIAL, FixedJudge(0.9, source))
    assert (r.task, r.storage, r.relevance) == (0.9, 0.0, 0.5)  # keyword fallback 0; retrieval followed: 0.5
    llm = score(good(b), b.episode(), OFFICIAL, FixedJudge(0.4, LLM))
    assert (llm.storage, llm.relevance) == (0.0, 0.4)  # 0 of 2 entries ≥ 0.5


def test_official_penalties_use_the_configured_values(b):
    five = b.trajectory(*[b.step(3) for _ in range(5)], max_rounds=5, context_budget=10,
                        stm_final=[{"role": "user", "content": "x" * 41}])  # 10.25 tokens > 10
    cfg = RewardConfig(preset="agemem_official", penalty_rounds=-0.7, penalty_overflow=-0.2)
    r = score(five, b.episode(), cfg)
    assert (r.penalty_rounds, r.penalty_overflow, r.penalty) == (-0.7, -0.2, pytest.approx(-0.9))


def test_the_presets_judge_different_entries(b):
    """The paper judges stage-1 entries; the official code every added entry (here a stage-2 one too)."""
    late_add = b.trajectory(b.step(1, b.result(ADD_MEMORY, content="first")),
                            b.step(2, b.result(ADD_MEMORY, content="second")), max_rounds=5)
    paper, official = SpyJudge(), SpyJudge()
    score_batch([late_add], {"e1": b.episode()}, RewardConfig(), paper)
    score_batch([late_add], {"e1": b.episode()}, OFFICIAL, official)
    assert [r.texts for r in paper.calls[0]] == [("first",)]
    assert [r.texts for r in official.calls[0]] == [("first",), ("second",)]


def test_the_official_storage_fallback_reads_the_added_entries(b):
    note = "Remember: the key fact is that The Raconteurs have four members in all."
    traj = b.trajectory(b.step(1, b.result(ADD_MEMORY, content=note)), b.step(3, answer="x"), answer="x",
                        max_rounds=5)
    assert score(traj, b.episode(), OFFICIAL).storage == pytest.approx(0.3)


def test_batch_metrics_name_the_extremes_and_the_cache_hits(b):
    batch = score_batch([good(b)], {"e1": b.episode()}, OFFICIAL, FixedJudge(0.5, "cache"))
    assert batch.metrics["reward/total/min"] == batch.metrics["reward/total/max"] == batch[0].total
    assert batch.metrics["reward/judge_cache_hits"] == 4.0
