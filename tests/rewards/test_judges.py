"""The judge layer: reply parsing, prompts, the LLM judge's fallback and cache, the factory."""

import logging

import pytest

from agemem.rewards.config import HTTPJudgeConfig, JudgeConfig
from agemem.rewards.judges import (
    ANSWER,
    CACHE,
    FALLBACK,
    LLM,
    MEMORY_QUALITY,
    RELEVANCE,
    RULE,
    STORAGE,
    JudgeCache,
    JudgeRequest,
    LLMJudge,
    RuleJudge,
    build_judge,
)
from agemem.rewards.judges.cache import cache_key
from agemem.rewards.judges.prompts import build_prompt, parse_score


@pytest.mark.parametrize(
    "reply,expected",
    [
        ("0.85", 0.85), ("1", 1.0), ("0", 0.0), (" .5\n", 0.5), ("0.7.", 0.7),
        ('{"score": 0.3}', 0.3), ("0.25 ", 0.25), ("Score: 0.6", 0.6), ("Rating - 8/10", 0.8),
        ("I give it 4 out of 5", 0.8), ("85%", 0.85), ("<think>maybe 0.2</think>\n0.9", 0.9),
        ("<think>not finished 0.4", None), ("banana", None), ("", None), ("1.5", None), ("Score: 7", None),
        ("-0.2", None), ("true", None), ('{"score": "high"}', None),
    ],
)
def test_parse_score_table(reply, expected):
    assert parse_score(reply) == (pytest.approx(expected) if expected is not None else None)


def _requests():
    facts = ("Muse formed in 1994.",)
    return [
        JudgeRequest(ANSWER, "Which band?", ("The Raconteurs",), ("Raconteurs",), facts),
        JudgeRequest(STORAGE, "Which band?", ("The Raconteurs",), ("Muse formed in 1994",), facts),
        JudgeRequest(RELEVANCE, "Which band?", ("The Raconteurs",), ("Muse formed in 1994", "cats"), facts),
        JudgeRequest(MEMORY_QUALITY, "Which band?", ("The Raconteurs",), ("cats",), facts),
    ]


def test_prompts_carry_the_question_answers_and_texts():
    for request in _requests():
        system, user = build_prompt(request)
        assert "0.0" in system and "Which band?" in user and request.texts[0] in user
    assert "Reference answer(s): The Raconteurs" in build_prompt(_requests()[0])[1]
    assert "- Muse formed in 1994.\n" in build_prompt(_requests()[3])[1]  # facts listed


def test_rule_judge_scores_each_kind():
    verdicts = RuleJudge("exact_match").score(_requests())
    assert [v.score for v in verdicts] == [1.0, 1.0, 0.5, 0.0] and {v.source for v in verdicts} == {RULE}
    with pytest.raises(ValueError, match="answer.*memory_quality"):
        JudgeRequest("style", "q", (), ())


class ScriptedBackend:
    """Replies from a list, in order; records every batch it is sent."""

    model_id = "scripted"

    def __init__(self, replies):
        self.replies, self.batches = list(replies), []

    def complete(self, prompts):
        self.batches.append(list(prompts))
        return [self.replies.pop(0) for _ in prompts]


def test_llm_judge_one_backend_call_and_rule_fallback(caplog):
    backend = ScriptedBackend(["0.9", "nonsense", None, "0.2"])
    judge = LLMJudge(backend, RuleJudge("exact_match"))
    with caplog.at_level(logging.WARNING):
        verdicts = judge.score(_requests())
    assert len(backend.batches) == 1 and len(backend.batches[0]) == 4
    assert [(v.score, v.source) for v in verdicts] == [(0.9, LLM), (1.0, FALLBACK), (0.5, FALLBACK), (0.2, LLM)]
    assert judge.fallbacks == 2
    assert "2 of 4 requests used the rule fallback (1 without a reply, 1 unparsable)" in caplog.text


def test_llm_judge_cache_skips_known_prompts(tmp_path):
    cache = JudgeCache(tmp_path / "c.sqlite")
    first = ScriptedBackend(["0.9", "junk", "0.4", "0.3"])
    LLMJudge(first, RuleJudge(), cache).score(_requests())
    second = ScriptedBackend(["0.1"])  # only the unparsable one is asked again
    verdicts = LLMJudge(second, RuleJudge(), cache).score(_requests())
    assert [len(b) for b in second.batches] == [1]
    assert [v.source for v in verdicts] == [CACHE, LLM, CACHE, CACHE]
    assert [v.score for v in verdicts] == [0.9, 0.1, 0.4, 0.3]
    other_model = ScriptedBackend(["0.5"] * 4)
    other_model.model_id = "another"
    LLMJudge(other_model, RuleJudge(), cache).score(_requests())  # the key includes the model
    assert len(other_model.batches[0]) == 4


def test_cache_key_depends_on_model_and_prompt():
    assert cache_key("m", ("s", "u")) == cache_key("m", ("s", "u"))
    assert len({cache_key("m", ("s", "u")), cache_key("n", ("s", "u")), cache_key("m", ("s", "v"))}) == 3


def test_build_judge_registry(tmp_path):
    assert isinstance(build_judge(JudgeConfig()), RuleJudge)
    assert build_judge(JudgeConfig(rule_metric="exact_match")).metric_name == "exact_match"
    http = build_judge(JudgeConfig(kind="llm_http", http=HTTPJudgeConfig(cache_path=str(tmp_path / "c.sqlite"))))
    assert isinstance(http, LLMJudge) and http.cache is not None
    with pytest.raises(ValueError, match="llm_http.*llm_local.*rule"):
        build_judge(JudgeConfig(kind="gpt"))
    with pytest.raises(ValueError, match="token_f1"):
        build_judge(JudgeConfig(rule_metric="rouge"))
