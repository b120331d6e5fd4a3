"""The vllm engine: a clear error without vLLM; on a GPU node with vLLM, the same log-prob contract as hf."""

import importlib.util

import pytest
import torch

from agemem.rollout.config import RolloutConfig
from agemem.rollout.engine import SamplingParams
from agemem.rollout.factory import build_engine


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")
def test_vllm_engine_without_vllm_is_a_clear_error(model, tokenizer):
    with pytest.raises(ImportError, match=r"pip install '\.\[vllm\]'"):
        build_engine(RolloutConfig(engine="vllm"), model, tokenizer)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available() or importlib.util.find_spec("vllm") is None,
                    reason="needs CUDA and vLLM")
def test_vllm_logprobs_equal_teacher_forcing(model_cfg, tokenizer):
    from agemem.models import load_model, resolve_model_dir
    from agemem.rollout.vllm_engine import VLLMEngine

    engine = VLLMEngine(str(resolve_model_dir(model_cfg)), RolloutConfig(engine="vllm"))
    prompt = tokenizer("<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n", add_special_tokens=False)[
        "input_ids"]
    gen = engine.generate([prompt], SamplingParams(temperature=1.0, max_new_tokens=16, seed=0))[0]
    model = load_model(model_cfg).cuda()
    with torch.no_grad():
        logits = model(torch.tensor([prompt + gen.token_ids], device="cuda")).logits[0].float()
    expected = torch.log_softmax(logits, -1)[len(prompt) - 1 : -1].gather(
        -1, torch.tensor(gen.token_ids, device="cuda")[:, None]).squeeze(-1)
    assert torch.allclose(torch.tensor(gen.logprobs), expected.cpu(), atol=1e-3)
