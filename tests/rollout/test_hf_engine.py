"""The hf engine records exactly what the trainer recomputes, and batching does not change greedy outputs."""

import pytest
import torch

from agemem.rollout.engine import SamplingParams, sample_next_token
from agemem.rollout.hf_engine import HFEngine, left_pad


def _prompts(tokenizer, n):
    texts = [f"<|im_start|>user\nFact {i}: item {i * 7} is blue.{' More.' * i}<|im_end|>\n<|im_start|>assistant\n"
             for i in range(n)]
    return [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]


def _teacher_forced_logprobs(model, prompt, response, temperature):
    with torch.no_grad():
        logits = model(torch.tensor([prompt + response])).logits[0].float()
    scale = temperature if temperature > 0 else 1.0
    logprobs = torch.log_softmax(logits / scale, -1)[len(prompt) - 1 : -1]
    return logprobs.gather(-1, torch.tensor(response)[:, None]).squeeze(-1)


@pytest.mark.parametrize("decoder", ["loop", "generate"])
@pytest.mark.parametrize("temperature,top_p,top_k", [(0.0, 1.0, 0), (1.0, 1.0, 0), (0.7, 0.9, 50)])
def test_recorded_logprobs_equal_teacher_forcing(model, tokenizer, decoder, temperature, top_p, top_k):
    engine = HFEngine(model, tokenizer.pad_token_id, decoder=decoder)
    prompts = _prompts(tokenizer, 4)
    sampling = SamplingParams(temperature=temperature, top_p=top_p, top_k=top_k, max_new_tokens=24, seed=3)
    for prompt, gen in zip(prompts, engine.generate(prompts, sampling)):
        assert len(gen.token_ids) == len(gen.logprobs) == 24 and gen.finish_reason == "length"
        expected = _teacher_forced_logprobs(model, prompt, gen.token_ids, temperature)
        assert torch.allclose(torch.tensor(gen.logprobs), expected, atol=1e-4)


@pytest.mark.parametrize("decoder", ["loop", "generate"])
def test_batched_greedy_equals_one_at_a_time(model, tokenizer, decoder):
    engine = HFEngine(model, tokenizer.pad_token_id, decoder=decoder)
    prompts = _prompts(tokenizer, 5)  # different lengths: real left padding
    sampling = SamplingParams(temperature=0.0, max_new_tokens=20)
    batched = engine.generate(prompts, sampling)
    for prompt, gen in zip(prompts, batched):
        single = engine.generate([prompt], sampling)[0]
        assert gen.token_ids == single.token_ids
        assert torch.allclose(torch.tensor(gen.logprobs), torch.tensor(single.logprobs), atol=1e-4)


def test_a_long_prompt_is_decoded_in_its_own_batch_and_outputs_keep_their_order(model, tokenizer, monkeypatch):
    engine = HFEngine(model, tokenizer.pad_token_id)
    short, long = _prompts(tokenizer, 6)[:5], _prompts(tokenizer, 1)[0] * 40  # ~1,000 tokens vs ~20
    prompts = [*short[:2], long, *short[2:]]
    batch_sizes = []
    decode = engine._decode_loop
    monkeypatch.setattr(engine, "_decode_loop", lambda p, *a: batch_sizes.append(len(p)) or decode(p, *a))
    sampling = SamplingParams(temperature=0.0, max_new_tokens=8)
    batched = engine.generate(prompts, sampling)
    assert sorted(batch_sizes) == [1, 5]  # the long prompt alone, the short ones together
    for prompt, gen in zip(prompts, batched):
        assert gen.token_ids == engine.generate([prompt], sampling)[0].token_ids


def test_stop_tokens_end_generation_and_are_kept(model, tokenizer):
    engine = HFEngine(model, tokenizer.pad_token_id)
    prompts = _prompts(tokenizer, 3)
    free = engine.generate(prompts, SamplingParams(temperature=0.0, max_new_tokens=16))
    stop_id = free[1].token_ids[5]  # a token the greedy continuation emits at position 5 (or earlier)
    stopped = engine.generate(prompts, SamplingParams(temperature=0.0, max_new_tokens=16, stop_token_ids=(stop_id,)))
    end = free[1].token_ids.index(stop_id) + 1
    assert stopped[1].token_ids == free[1].token_ids[:end] and stopped[1].finish_reason == "stop"
    for gen in stopped:
        assert gen.finish_reason == ("stop" if stop_id in gen.token_ids else "length")


def test_seeded_sampling_is_reproducible(model, tokenizer):
    engine = HFEngine(model, tokenizer.pad_token_id)
    prompts = _prompts(tokenizer, 3)
    first = engine.generate(prompts, SamplingParams(temperature=1.0, max_new_tokens=16, seed=11))
    again = engine.generate(prompts, SamplingParams(temperature=1.0, max_new_tokens=16, seed=11))
    other = engine.generate(prompts, SamplingParams(temperature=1.0, max_new_tokens=16, seed=12))
    assert [g.token_ids for g in first] == [g.token_ids for g in again]
    assert [g.token_ids for g in first] != [g.token_ids for g in other]


def test_load_weights_changes_outputs_to_the_new_weights(model, tokenizer, model_cfg):
    from agemem.models import load_model

    target = load_model(model_cfg)
    torch.manual_seed(123)
    with torch.no_grad():
        for p in target.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    prompts = _prompts(tokenizer, 3)
    sampling = SamplingParams(temperature=0.0, max_new_tokens=12)
    engine = HFEngine(model, tokenizer.pad_token_id)
    before = engine.generate(prompts, sampling)
    expected = HFEngine(target, tokenizer.pad_token_id).generate(prompts, sampling)
    engine.load_weights(target.state_dict().items())
    after = engine.generate(prompts, sampling)
    assert [g.token_ids for g in after] == [g.token_ids for g in expected]
    assert [g.token_ids for g in after] != [g.token_ids for g in before]
    with pytest.raises(KeyError, match="not_a_param"):
        engine.load_weights([("not_a_param", torch.zeros(1))])


def test_top_k_one_is_greedy():
    logits = torch.tensor([[0.1, 2.0, -1.0], [3.0, 0.0, 2.9]])
    tokens, logprobs = sample_next_token(logits, SamplingParams(temperature=0.5, top_k=1), torch.Generator())
    assert tokens.tolist() == [1, 0]
    assert torch.allclose(logprobs, torch.log_softmax(logits / 0.5, -1).gather(-1, tokens[:, None]).squeeze(-1))


def test_left_pad_rejects_empty_prompt():
    with pytest.raises(ValueError, match="at least one token"):
        left_pad([[1, 2], []], pad_id=0)
    ids, mask = left_pad([[5], [6, 7]], pad_id=0)
    assert ids.tolist() == [[0, 5], [6, 7]] and mask.tolist() == [[0, 1], [1, 1]]
