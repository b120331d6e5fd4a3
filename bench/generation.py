"""Generation and update throughput on the tiny model, measured in one run (ratios, not absolute targets).

    python bench/generation.py [--batch 64] [--prompt-len 96] [--new-tokens 48] [--threads 2]

Compares the hf engine's KV-cache loop (default decoder), the same engine with transformers' `generate`, and a
plain batched KV-cache decode loop with transformers' default attention (the floor any engine should match), on
prompts of similar lengths and on the same batch with one prompt 5× longer (as when one rollout's context has
grown: the engine decodes it in its own batch), then times one actor forward+backward.
"""

import argparse
import time

import torch
from transformers import DynamicCache

from agemem.models import ModelConfig, load_model, load_tokenizer
from agemem.rollout.engine import SamplingParams
from agemem.rollout.hf_engine import HFEngine, left_pad
from agemem.tasks.runtime import prepare_model


@torch.inference_mode()
def plain_decode(model, prompts: list[list[int]], new_tokens: int, pad_id: int) -> int:
    """Greedy batched decode with a KV cache and nothing else; returns tokens generated."""
    ids, mask = left_pad(prompts, pad_id)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    cache = DynamicCache()
    logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache,
                   logits_to_keep=1).logits[:, -1]
    for _ in range(new_tokens - 1):
        token = logits.argmax(-1, keepdim=True)
        mask = torch.cat([mask, mask.new_ones((len(prompts), 1))], dim=-1)
        positions = positions[:, -1:] + 1
        logits = model(input_ids=token, attention_mask=mask, position_ids=positions,
                       past_key_values=cache).logits[:, -1]
    return len(prompts) * new_tokens


def timed(fn, repeats: int = 3) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--prompt-len", type=int, default=96)
    parser.add_argument("--new-tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = ModelConfig()
    prepare_model(cfg)  # the tiny model is built by the caller (here), as every task does
    tokenizer, model = load_tokenizer(cfg), load_model(cfg).eval()
    gen = torch.Generator().manual_seed(0)
    prompts = [torch.randint(20, 500, (args.prompt_len - (i % 8) * 4,), generator=gen).tolist()
               for i in range(args.batch)]
    # Greedy with no stop tokens: every engine generates exactly new_tokens per prompt.
    sampling = SamplingParams(temperature=0.0, max_new_tokens=args.new_tokens)
    tokens = args.batch * args.new_tokens
    loop_engine = HFEngine(load_model(cfg), tokenizer.pad_token_id, "loop", max_batch_size=args.batch)
    generate_engine = HFEngine(load_model(cfg), tokenizer.pad_token_id, "generate", max_batch_size=args.batch)
    mixed = [*prompts[:-1], prompts[-1] * 5]
    results = {
        "plain KV-cache loop": timed(lambda: plain_decode(model, prompts, args.new_tokens, tokenizer.pad_token_id)),
        # the engines get their own copy: on CPU the hf engine switches its model to grouped attention
        "hf engine (loop)": timed(lambda: loop_engine.generate(prompts, sampling)),
        "hf engine (generate)": timed(lambda: generate_engine.generate(prompts, sampling)),
    }
    mixed_results = {
        "plain KV-cache loop": timed(lambda: plain_decode(model, mixed, args.new_tokens, tokenizer.pad_token_id)),
        "hf engine (loop)": timed(lambda: loop_engine.generate(mixed, sampling)),
    }
    train_model = load_model(cfg).train()
    batch = torch.tensor([p[: args.prompt_len - 28] + p[:args.new_tokens] for p in prompts])

    def update() -> None:
        logits = train_model(input_ids=batch).logits
        torch.log_softmax(logits.float(), -1).mean().backward()

    update_s = timed(update)
    floor = results["plain KV-cache loop"]
    print(f"batch {args.batch} × {args.new_tokens} new tokens, prompts ~{args.prompt_len} tokens, "
          f"{args.threads} threads, {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters")
    print(f"{'generation':<24}{'s':>8}{'tokens/s':>12}{'vs plain':>10}")
    for name, seconds in results.items():
        print(f"{name:<24}{seconds:8.3f}{tokens / seconds:12.0f}{floor / seconds:10.2f}")
    print("one prompt 5× longer:")
    for name, seconds in mixed_results.items():
        print(f"{name:<24}{seconds:8.3f}{tokens / seconds:12.0f}{mixed_results['plain KV-cache loop'] / seconds:10.2f}")
    print(f"{'update fwd+bwd':<24}{update_s:8.3f}{batch.numel() / update_s:12.0f}  (tokens/s trained)")


if __name__ == "__main__":
    main()
