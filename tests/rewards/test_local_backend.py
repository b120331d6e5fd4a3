"""The local-model judge backend on the tiny offline model: batched, ordered, and safe with noise replies."""

import pytest
import torch

from agemem.rewards.config import JudgeConfig, LocalJudgeConfig
from agemem.rewards.judges import ANSWER, FALLBACK, LLM, JudgeRequest, LLMJudge, RuleJudge, build_judge
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


def test_noise_replies_fall_back_to_rules(model, tokenizer):
    judge = LLMJudge(LocalHFBackend(model, tokenizer, "tiny", max_new_tokens=4), RuleJudge("exact_match"))
    verdicts = judge.score([JudgeRequest(ANSWER, "Capital of France?", ("Paris",), ("Paris",))] * 3)
    assert all(0.0 <= v.score <= 1.0 and v.source in (LLM, FALLBACK) for v in verdicts)
    assert judge.fallbacks == sum(v.source == FALLBACK for v in verdicts)


def test_out_of_memory_gives_no_replies(model, tokenizer, caplog):
    backend = LocalHFBackend(model, tokenizer, "tiny")

    class Failing:
        def generate(self, prompts, sampling):
            raise torch.OutOfMemoryError("CUDA out of memory")

    backend.engine = Failing()
    assert backend.complete(_prompts(2)) == [None, None]
    assert "out of memory" in caplog.text


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
