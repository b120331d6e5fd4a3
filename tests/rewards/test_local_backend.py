"""The local-model judge backend on the tiny offline model: batched, ordered, and safe with noise replies."""

import logging

import pytest
import torch

from agemem.rewards.config import JudgeConfig, LocalJudgeConfig
from agemem.rewards.judges import ANSWER, FALLBACK, JudgeRequest, LLMJudge, RuleJudge, build_judge
from agemem.rewards.judges.local_backend import LocalHFBackend, load_local_backend


class CountingEngine:
    """Wraps the engine to count generate calls and prompts."""

    def __init__(self, engine):
        self.engine, self.calls = engine, []

    def generate(self, prompts, sampling):
        self.calls.append(len(prompts))
        return self.engine.generate(prompts, sampling)


def _prompts(n):
    return [("Reply with a number.", f"Question {i}: " + "words " * i) for i in range(n)]


def test_batched_greedy_completions_in_prompt_order(model, tokenizer):
    backend = LocalHFBackend(model, tokenizer, "tiny", batch_size=8, max_new_tokens=4)
    backend.engine = CountingEngine(backend.engine)
    replies = backend.complete(_prompts(3))
    assert backend.engine.calls == [3]  # one batched call for all prompts
    assert len(replies) == 3 and all(isinstance(r, str) for r in replies)
    alone = [backend.complete([p])[0] for p in _prompts(3)[::-1]][::-1]  # greedy: order does not matter
    assert alone == replies
    assert backend.complete([]) == []


def test_noise_replies_fall_back_to_rules(model, tokenizer, caplog):
    judge = LLMJudge(LocalHFBackend(model, tokenizer, "tiny", max_new_tokens=4), RuleJudge("exact_match"))
    requests = [JudgeRequest(ANSWER, "Capital of France?", ("Paris",), ("Paris",)),
                JudgeRequest(ANSWER, "Capital of France?", ("Paris",), ("Rome",))]
    with caplog.at_level(logging.WARNING):
        verdicts = judge.score(requests)
    # The untrained model's replies state no score: every request gets the rule judge's exact match instead.
    assert [(v.score, v.source) for v in verdicts] == [(1.0, FALLBACK), (0.0, FALLBACK)]
    assert judge.fallbacks == 2
    assert [r.getMessage() for r in caplog.records] == [
        "judge tiny: 2 of 2 requests used the rule fallback (0 without a reply, 2 unparsable)"]


class Failing:
    """An engine whose generate raises `error`."""

    def __init__(self, error: Exception):
        self.error = error

    def generate(self, prompts, sampling):
        raise self.error


def test_out_of_memory_gives_no_replies_with_one_warning(model, tokenizer, caplog):
    backend = LocalHFBackend(model, tokenizer, "tiny")
    backend.engine = Failing(torch.OutOfMemoryError("CUDA out of memory"))
    with caplog.at_level(logging.WARNING):
        assert backend.complete(_prompts(5)) == [None] * 5
    assert len(caplog.records) == 1 and "ran out of memory on 5 prompts" in caplog.text


def test_any_other_engine_error_is_raised_not_hidden_behind_the_rules(model, tokenizer):
    backend = LocalHFBackend(model, tokenizer, "tiny")
    backend.engine = Failing(RuntimeError("shape mismatch in the decode step"))
    with pytest.raises(RuntimeError, match="shape mismatch"):
        backend.complete(_prompts(2))


def test_build_local_judge_from_config():
    judge = build_judge(JudgeConfig(kind="llm_local", local=LocalJudgeConfig(dtype="float32", device="cpu")))
    assert isinstance(judge, LLMJudge) and judge.backend.model_id == "tiny"
    with pytest.raises(ValueError, match="auto.*cpu.*cuda"):
        load_local_backend(LocalJudgeConfig(device="tpu"))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_local_judge_on_cuda():
    backend = load_local_backend(LocalJudgeConfig(dtype="bfloat16", device="cuda", max_new_tokens=4))
    assert backend.engine.model.device.type == "cuda"
    assert len(backend.complete(_prompts(16))) == 16
