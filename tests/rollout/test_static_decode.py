"""The static decode step gives transformers' logits: llama, qwen2 (q/k/v bias) and qwen3 (q/k norms), with left
padding and rows leaving the batch; other architectures fall back to transformers' decode step."""

import pytest
import torch
from transformers import (
    DynamicCache,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)

from agemem.rollout.engine import SamplingParams
from agemem.rollout.hf_engine import HFEngine, left_pad
from agemem.rollout.static_decode import StaticDecoder, supports_static_decode

SIZES = {"vocab_size": 97, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 128}


def _model(kind: str):
    torch.manual_seed(0)
    if kind == "llama":
        return LlamaForCausalLM(LlamaConfig(**SIZES)).eval()
    if kind == "qwen2":
        return Qwen2ForCausalLM(Qwen2Config(**SIZES)).eval()  # q/k/v projections with bias
    return Qwen3ForCausalLM(Qwen3Config(**SIZES, head_dim=16)).eval()  # q/k RMSNorm, head_dim ≠ hidden/heads


@pytest.mark.parametrize("kind", ["llama", "qwen2", "qwen3"])
def test_static_steps_give_the_transformers_logits(kind):
    model = _model(kind)
    if kind == "qwen2":
        with torch.no_grad():  # random biases: a zero-initialised bias would not test that it is applied
            for layer in model.model.layers:
                for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                    proj.bias.normal_()
    assert supports_static_decode(model)
    decoder = StaticDecoder(model)
    prompts = [[5, 6, 7, 8, 9, 10], [11, 12], [13, 14, 15, 16]]  # left padding on two rows
    ids, mask = left_pad(prompts, pad_id=0)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    steps = torch.tensor([[20, 21, 22], [30, 31, 32], [40, 41, 42], [50, 51, 52]])
    with torch.inference_mode():
        cache = DynamicCache()
        model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache)
        kv = decoder.start(cache, mask, max_new_tokens=len(steps))
        step_mask, rows = mask, torch.arange(3)
        for t, tokens in enumerate(steps):
            if t == 2:  # row 1 finishes: both caches drop it
                rows = torch.tensor([0, 2])
                kv.select(torch.tensor([0, 2]))
                cache.batch_select_indices(torch.tensor([0, 2]))
                step_mask, positions = step_mask[[0, 2]], positions[[0, 2]]
            positions = positions[:, -1:] + 1
            step_mask = torch.cat([step_mask, step_mask.new_ones(len(rows), 1)], dim=-1)
            expected = model(input_ids=tokens[rows, None], attention_mask=step_mask, position_ids=positions,
                             past_key_values=cache).logits[:, -1]
            torch.testing.assert_close(decoder.step(kv, tokens[rows], positions[:, 0]), expected,
                                       rtol=1e-4, atol=1e-5)


def test_the_engine_uses_it_and_refreshes_it_after_new_weights():
    model = _model("qwen3")
    engine = HFEngine(model, pad_token_id=0)
    assert engine.static is not None
    sampling = SamplingParams(temperature=0.0, max_new_tokens=6)
    before = engine.generate([[5, 6, 7]], sampling)[0].token_ids
    other = _model("qwen3")
    with torch.no_grad():
        for p in other.parameters():
            p.add_(torch.randn_like(p))
    engine.load_weights(other.state_dict().items())
    after = engine.generate([[5, 6, 7]], sampling)[0].token_ids
    assert after == HFEngine(other, pad_token_id=0, decoder="generate").generate([[5, 6, 7]], sampling)[0].token_ids
    assert after != before


def test_other_architectures_fall_back_to_transformers():
    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=97, n_embd=32, n_layer=1, n_head=2, n_positions=64)).eval()
    assert not supports_static_decode(gpt2)
    with pytest.raises(ValueError, match="'gpt2'"):
        StaticDecoder(gpt2)
    engine = HFEngine(gpt2, pad_token_id=0)
    assert engine.static is None
    generations = engine.generate([[5, 6, 7], [8]], SamplingParams(temperature=0.0, max_new_tokens=4))
    for prompt, generation in zip([[5, 6, 7], [8]], generations):  # transformers' greedy ids, prompt by prompt
        expected = gpt2.generate(torch.tensor([prompt]), max_new_tokens=4, min_new_tokens=4, do_sample=False,
                                 pad_token_id=0)[0, len(prompt):].tolist()
        assert generation.token_ids == expected
    scaled = _model("llama")
    scaled.config.rope_parameters = {"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0}
    assert not supports_static_decode(scaled)
