"""The official preset through `score_batch`: what is sent to the judge, and when LLM verdicts replace the
official rule fallbacks (killing the mutants mutation testing left in agemem/rewards: docs/LOG.md)."""

import pytest
from test_score import M1, M2, SpyJudge, good

from agemem.rewards import RuleJudge, score, score_batch
from agemem.rewards import official as off
from agemem.rewards.config import RewardConfig
from agemem.rewards.judges import FALLBACK, LLM, RULE, JudgeRequest, LLMJudge, Verdict
from agemem.tools.schemas import ADD_MEMORY, SUMMARY_CONTEXT

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
    from test_score import FixedBackend

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


def test_summary_alone_earns_the_context_existence_bonus(b):
    traj = b.trajectory(b.step(3, b.result(SUMMARY_CONTEXT, span="all")), max_rounds=5)
    # 1 call / 1 stage-3 round: scale +0.2; Summary: existence +0.2; efficiency 0.2·(1 − 1/5)
    assert off.tool_term(traj) == pytest.approx(0.2 + 0.2 + 0.16)
    add_only = b.trajectory(b.step(3, b.result(ADD_MEMORY, content="x")), max_rounds=5)
    assert off.tool_term(add_only) == pytest.approx(0.2 + 0.1 + 0.16)


def test_official_compression_without_a_recorded_budget_is_zero(b):
    assert off.compression(b.trajectory(context_budget=0, stm_final=[{"role": "user", "content": "x"}])) == 0.0


def test_boundaries_the_mutants_found(b):
    question_without_long_words = "Who won it?"
    assert off.preservation(question_without_long_words, [{"role": "user", "content": question_without_long_words}]) == 1.0
    fifty = "key " + "x" * 46  # exactly 50 characters: not longer than 50
    assert len(fifty) == 50 and off.storage_fallback([fifty]) == 0.0 and off.storage_fallback([fifty + "!"]) == 0.3
    assert off.storage([0.9], ["e"], threshold=0.5) == 1.0  # one judged entry: 1/1
    one_round = b.trajectory(b.step(3, answer="a"), max_rounds=1, context_budget=1,
                             stm_final=[{"role": "user", "content": "xx"}])  # 0.5 tokens of a 1-token budget
    assert off.penalties(one_round, -1.0, -0.5) == (-1.0, 0.0)  # 1 round of 1: the official penalty
    assert off.compression(one_round) == pytest.approx(0.5)


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
