"""The hf engine's grouped-query attention equals transformers' sdpa path: padded prefill, causal, KV-cache decode."""

import torch
from transformers import DynamicCache

from agemem.models import load_model
from agemem.rollout.attention import grouped_attention, use_grouped_attention


def test_grouped_attention_matches_repeated_kv_heads():
    gen = torch.Generator().manual_seed(0)
    query, key, value = (torch.randn(2, 4, 3, 8, generator=gen), torch.randn(2, 2, 5, 8, generator=gen),
                         torch.randn(2, 2, 5, 8, generator=gen))
    mask = torch.ones(2, 1, 3, 5, dtype=torch.bool).tril(2)
    mask[1, :, :, 0] = False  # a padded key
    expected = torch.nn.functional.scaled_dot_product_attention(
        query, key.repeat_interleave(2, dim=1), value.repeat_interleave(2, dim=1), attn_mask=mask)
    out, _ = grouped_attention(torch.nn.Module(), query, key, value, mask)
    torch.testing.assert_close(out, expected.transpose(1, 2), rtol=1e-5, atol=1e-6)
    causal, _ = grouped_attention(torch.nn.Module(), query, key, value, None)
    expected = torch.nn.functional.scaled_dot_product_attention(
        query, key.repeat_interleave(2, dim=1), value.repeat_interleave(2, dim=1),
        attn_mask=torch.ones(3, 5, dtype=torch.bool).tril(2))
    torch.testing.assert_close(causal, expected.transpose(1, 2), rtol=1e-5, atol=1e-6)


def test_the_tiny_model_gives_the_same_logits_with_grouped_attention(model_cfg):
    reference, grouped = load_model(model_cfg).eval(), load_model(model_cfg).eval()
    use_grouped_attention(grouped)
    ids = torch.randint(20, 400, (4, 12), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[0, :5] = 0  # left padding
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.inference_mode():
        outs = []
        for model in (reference, grouped):
            cache = DynamicCache()
            prefill = model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache).logits
            step_mask = torch.cat([mask, mask.new_ones(4, 1)], dim=-1)
            step = model(input_ids=ids[:, -1:], attention_mask=step_mask, position_ids=positions[:, -1:] + 1,
                         past_key_values=cache).logits
            outs.append((prefill[mask.bool()], step))
    for a, b in zip(*outs):
        assert torch.isfinite(b).all()
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
