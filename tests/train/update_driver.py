"""Driver of tests/train/test_update.py, run in its own process (DeepSpeed initialises torch.distributed once).

    python tests/train/update_driver.py <out.json> [zero_stage]

One fixed batch of StepSamples (old log-probs = the initial model's, so every ratio starts at 1; half the
samples with advantage +1, half −1) goes through `update_actor` on a real DeepSpeed engine (1 rank, gloo, CPU):
- once as one micro-batch, recording each response's log-prob before and after the step;
- once more on a fresh engine with a token budget that splits it into several micro-batches;
- on a batch with copies and a zero-advantage sample, as it is and with `algorithm.combine_duplicates`.
Writes the measurements as JSON for the test to check.
"""

import json
import os
import sys
from dataclasses import replace

os.environ.setdefault("DS_ACCELERATOR", "cpu")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from agemem.config import Config
from agemem.models import ModelConfig, load_model, load_tokenizer
from agemem.rl import StepSample
from agemem.train.distributed import init_distributed, shutdown_distributed
from agemem.train.setup import build_actor
from agemem.train.update import recompute_logprobs, update_actor

LR = 1e-3
N_SAMPLES = 8


def fixed_samples(vocab: int) -> list[StepSample]:
    """Distinct random prompts (6–20 ids) and responses (3–8 ids); advantages +1, −1, +1, −1, …"""
    g = torch.Generator().manual_seed(1234)
    samples = []
    for i in range(N_SAMPLES):
        p = int(torch.randint(6, 21, (1,), generator=g))
        r = int(torch.randint(3, 9, (1,), generator=g))
        ids = torch.randint(10, vocab, (p + r,), generator=g).tolist()
        samples.append(StepSample(prompt_ids=ids[:p], response_ids=ids[p:], old_logprobs=[0.0] * r,
                                  advantage=1.0 if i % 2 == 0 else -1.0, episode_id=f"e{i // 2}",
                                  group_index=i % 2, stage=1))
    return samples


def response_logprobs(module, samples: list[StepSample], pad_id: int) -> list[float]:
    """Summed log-prob of each response under `module` (one micro-batch)."""
    per_token = recompute_logprobs(module, samples, [list(range(len(samples)))], pad_id, 1.0, torch.device("cpu"))
    return [sum(lps) for lps in per_token]


def params(engine) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in engine.module.state_dict().items()}


def main() -> None:
    out_path, stage = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2
    cfg = Config()
    cfg = replace(cfg, trainer=replace(cfg.trainer, lr=LR),
                  deepspeed=replace(cfg.deepspeed, zero_stage=stage, bf16="false", dist_backend="gloo"))
    init_distributed(cfg.deepspeed)
    tokenizer = load_tokenizer(ModelConfig())
    torch.manual_seed(0)
    model = load_model(ModelConfig())
    samples = fixed_samples(model.config.vocab_size)
    before = response_logprobs(model, samples, tokenizer.pad_token_id)
    for s in samples:  # the rollout policy is the initial model: every ratio starts at exactly 1
        s.old_logprobs = recompute_logprobs(model, [s], [[0]], tokenizer.pad_token_id, 1.0, torch.device("cpu"))[0]
    kwargs = {"pad_id": tokenizer.pad_token_id, "temperature": 1.0, "agg_constant": 16.0, "world_size": 1}
    initial = {k: v.detach().clone() for k, v in model.state_dict().items()}

    whole = build_actor(model, cfg)
    metrics = update_actor(whole, samples, cfg.algorithm, token_budget=10**6, **kwargs)
    after = response_logprobs(whole.module, samples, tokenizer.pad_token_id)
    lengths = [len(s.prompt_ids) + len(s.response_ids) for s in samples]

    torch.manual_seed(0)
    split = build_actor(load_model(ModelConfig()), cfg)
    split_metrics = update_actor(split, samples, cfg.algorithm, token_budget=2 * max(lengths), **kwargs)
    a, b = params(whole), params(split)

    # Copies (the second with another advantage) and a zero-advantage sample, trained as they are and combined.
    extra = [replace(samples[0], group_index=5), replace(samples[1], group_index=5, advantage=0.5),
             replace(samples[2], group_index=6, advantage=0.0)]
    combined_metrics, combined_params = {}, {}
    for combine in (False, True):
        torch.manual_seed(0)
        actor = build_actor(load_model(ModelConfig()), cfg)
        alg = replace(cfg.algorithm, combine_duplicates=combine)
        combined_metrics[combine] = update_actor(actor, samples + extra, alg, token_budget=10**6, **kwargs)
        combined_params[combine] = params(actor)
    result = {
        "advantages": [s.advantage for s in samples],
        "before": before,
        "after": after,
        "metrics": metrics,
        "split_metrics": split_metrics,
        "global_steps": [whole.global_steps, split.global_steps],
        "max_change": max((a[k] - initial[k]).abs().max().item() for k in a),
        "max_split_diff": max((a[k] - b[k]).abs().max().item() for k in a),
        "copies_metrics": combined_metrics[False],
        "combined_metrics": combined_metrics[True],
        "max_combined_diff": max((combined_params[False][k] - combined_params[True][k]).abs().max().item()
                                 for k in a),
    }
    with open(out_path, "w") as f:
        json.dump(result, f)
    shutdown_distributed()


if __name__ == "__main__":
    main()
