"""Grouped-query attention for the hf engine on CPU, without copying the KV cache per query head.

transformers' sdpa path repeats every key/value head for its query heads (`repeat_kv`) whenever a padding mask is
present — always, for a left-padded batch — which copies the whole KV cache twice per layer per decoded token. On
CPU that copy, not the arithmetic, is most of a small model's decode step. Here the query heads that share a KV
head are folded into the query length instead, so the cache is read in place.
"""

import torch
from transformers import AttentionInterface, AttentionMaskInterface
from transformers.masking_utils import sdpa_mask

NAME = "agemem_grouped"


def grouped_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """softmax(q·kᵀ·scaling + mask)·v with query head h reading KV head h // (H / H_kv), as `repeat_kv` orders them.

    A decode step (Q = 1) folds the query heads of a KV head into one matmul that reads the cache in place. A
    prefill (Q > 1) goes to sdpa's fused kernel instead: there the (Q, L) scores would be the large tensor, not
    the cache. Shape: query (B, H, Q, D), key/value (B, H_kv, L, D), attention_mask (B, 1, Q, L) bool
    (True = attend) or None (causal when Q > 1) → (B, Q, H, D), the layout transformers' attention functions return.
    """
    batch, heads, q_len, dim = query.shape
    kv_heads, length = key.shape[1], key.shape[2]
    group = heads // kv_heads
    scale = dim**-0.5 if scaling is None else scaling
    if q_len > 1:
        if attention_mask is None:  # causal, with the queries aligned to the end of the keys
            attention_mask = torch.ones(q_len, length, dtype=torch.bool, device=query.device).tril(length - q_len)
        out = torch.nn.functional.scaled_dot_product_attention(
            query, key.repeat_interleave(group, 1), value.repeat_interleave(group, 1), attn_mask=attention_mask,
            scale=scale)
        # A padding query masked from every key would be NaN and poison later layers through its value: make it 0.
        return out.nan_to_num(0.0).transpose(1, 2), None
    scores = query.reshape(batch, kv_heads, group, dim) @ key.transpose(-1, -2) * scale  # (B, H_kv, G, L)
    if attention_mask is not None:  # (B, 1, 1, L): the same mask for every head
        scores = scores.masked_fill(~attention_mask, float("-inf")) if attention_mask.dtype == torch.bool \
            else scores + attention_mask
    # The new token always attends to itself, so no row is fully masked (no NaN to clean up, unlike a prefill).
    probs = torch.softmax(scores.float(), dim=-1).to(value.dtype)
    return (probs @ value).view(batch, heads, 1, dim).transpose(1, 2), None


def use_grouped_attention(model: torch.nn.Module) -> None:
    """Switch `model` (a transformers model used only for generation) to `grouped_attention`."""
    AttentionInterface.register(NAME, grouped_attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)  # boolean masks, or None where causality suffices
    model.set_attn_implementation(NAME)
