"""The generation engine protocol: token ids in, token ids and their log-probs out.

The trainer trusts these records: `Generation.logprobs[i]` is log π(token_i | prompt, tokens_<i) under the
temperature-scaled distribution, log_softmax(logits / T) — the quantity the trainer recomputes — taken before any
top-k/top-p truncation. Greedy decoding (T = 0) records log_softmax(logits).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import torch

from agemem.records import Generation


@dataclass(frozen=True)
class SamplingParams:
    """How to sample one batch of completions."""

    temperature: float = 1.0  # 0 means greedy
    top_p: float = 1.0  # nucleus mass kept; 1 keeps everything
    top_k: int = 0  # keep the k most likely tokens; 0 keeps everything
    max_new_tokens: int = 256  # hard cap per completion
    stop_token_ids: tuple[int, ...] = ()  # generation ends after emitting one of these (it is kept)
    seed: int | None = None  # seeds the sampler for this call; None draws from torch's global RNG
    # One seed per prompt (overrides `seed`): each completion then depends on its own prompt and seed only, not
    # on the other prompts it is batched with (so a rollout does not depend on how tasks are split across ranks).
    seeds: tuple[int, ...] | None = None


class Engine(Protocol):
    """What the collector and trainer need from a generation backend (hf, vllm)."""

    def generate(self, prompts: list[list[int]], sampling: SamplingParams) -> list[Generation]:
        """Complete every prompt (token ids, no padding); results in prompt order."""
        ...

    def load_weights(self, named_tensors: Iterable[tuple[str, torch.Tensor]]) -> None:
        """Replace the engine's weights with the given (name, tensor) pairs (names as in the HF state dict)."""
        ...


def sample_next_token(
    logits: torch.Tensor, sampling: SamplingParams, generator: torch.Generator | list[torch.Generator] | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pick the next token of every row and its log-prob under log_softmax(logits / T).

    `generator` is one generator for the batch, or a list with one per row (each row then draws from its own).

    Shape: logits (B, V) → tokens (B,), logprobs (B,).
    """
    logits = logits.float()
    if sampling.temperature == 0:
        logprobs = torch.log_softmax(logits, dim=-1)
        tokens = logits.argmax(dim=-1)
        return tokens, logprobs.gather(-1, tokens[:, None]).squeeze(-1)
    logprobs = torch.log_softmax(logits / sampling.temperature, dim=-1)
    filtered = logprobs.clone()
    if sampling.top_k > 0:
        kth = torch.topk(filtered, min(sampling.top_k, filtered.shape[-1]), dim=-1).values[:, -1:]
        filtered = filtered.masked_fill(filtered < kth, float("-inf"))
    if sampling.top_p < 1.0:
        sorted_lp, order = torch.sort(filtered, dim=-1, descending=True)
        mass_before = torch.cumsum(sorted_lp.exp(), dim=-1) - sorted_lp.exp()
        drop_sorted = mass_before > sampling.top_p  # always keeps the most likely token
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        filtered = filtered.masked_fill(drop, float("-inf"))
    probs = torch.softmax(filtered, dim=-1)
    if isinstance(generator, list):
        tokens = torch.cat([torch.multinomial(row, 1, generator=g) for row, g in zip(probs, generator)])
    else:
        tokens = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
    return tokens, logprobs.gather(-1, tokens[:, None]).squeeze(-1)
