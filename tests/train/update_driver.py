"""Driver of tests/train/test_update.py (and the save test of test_checkpoint.py), run in its own process
(DeepSpeed initialises torch.distributed once).

    python tests/train/update_driver.py <out.json> [zero_stage]

One fixed batch of StepSamples (old log-probs = the initial model's, so every ratio starts at 1; half the
samples with advantage +1, half −1) goes through `update_actor` on real DeepSpeed engines (1 rank, gloo, CPU):
- once as one micro-batch, recording each response's log-prob before and after the step;
- once more on a fresh engine with a token budget that splits it into several micro-batches;
- on a batch with copies and a zero-advantage sample, as it is and with `algorithm.combine_duplicates`;
- with PPO mini-batches and epochs (8 optimizer steps on the batch: the clip must bind);
- with gradient checkpointing (counting how often a decoder layer runs), with LoRA (what changed, what the
  rollout engine is sent), and with a KL term alone (zero advantages, a reference less likely than the policy);
then the first engine is saved with the trainer's `save_checkpoint`, recording the order of its steps.
Writes the measurements as JSON for the tests to check.
"""

import json
import os
import sys
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("DS_ACCELERATOR", "cpu")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
import torch.distributed as dist

from agemem.models import ModelConfig, load_model, load_tokenizer
from agemem.rl import StepSample
from agemem.tasks.config import Config
from agemem.tasks.runtime import resume_critical_config
from agemem.train import checkpoint as ckpt
from agemem.train.distributed import full_state_dict, init_distributed, shutdown_distributed
from agemem.train.setup import build_actor
from agemem.train.update import recompute_logprobs, update_actor

LR = 1e-3
N_SAMPLES = 8
LORA_RANK, LORA_ALPHA = 4, 8
KL_COEF = 1.0
REF_SHIFT = -1.0  # the reference's log-prob of every sampled token: the initial policy's + this


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
    per_token = recompute_logprobs(module, samples, 10**9, pad_id, 1.0, torch.device("cpu"))
    return [sum(lps) for lps in per_token]


def params(module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return max((a[k] - b[k]).abs().max().item() for k in a)


def fresh_actor(cfg: Config):
    torch.manual_seed(0)
    return build_actor(load_model(ModelConfig()), cfg.trainer, cfg.deepspeed)


def counted_update(actor, samples: list[StepSample], cfg: Config, kwargs: dict) -> tuple[dict, int]:
    """`update_actor` in one micro-batch, and how often the first decoder layer's MLP ran meanwhile (a
    checkpointed layer runs again in the backward pass; forward hooks do not fire then, so `forward` is wrapped)."""
    mlp = actor.module.get_decoder().layers[0].mlp
    calls: list[int] = []
    forward = mlp.forward
    mlp.forward = lambda *args, **kw: (calls.append(1), forward(*args, **kw))[1]
    metrics = update_actor(actor, samples, cfg.algorithm, token_budget=10**6, **kwargs)
    mlp.forward = forward
    return metrics, len(calls)


def lora_result(cfg: Config, samples: list[StepSample], initial: dict, kwargs: dict) -> dict:
    """One LoRA update; then what changed in the module, and the weights the rollout engine would be sent."""
    actor = fresh_actor(replace(cfg, trainer=replace(cfg.trainer, lora_rank=LORA_RANK, lora_alpha=LORA_ALPHA)))
    update_actor(actor, samples, cfg.algorithm, token_budget=10**6, **kwargs)
    pushed = full_state_dict(actor, lora=True)
    full_state_dict(actor, lora=True)  # a second push (one per step): must leave the module as it was
    state = params(actor.module.get_base_model())
    base = {k.replace(".base_layer.", "."): v for k, v in state.items() if "lora_" not in k}
    merged = dict(base)
    for name in (k for k in state if ".lora_A." in k):
        layer = name.split(".lora_A.")[0]
        delta = state[name.replace("lora_A", "lora_B")] @ state[name]
        merged[layer + ".weight"] = base[layer + ".weight"] + LORA_ALPHA / LORA_RANK * delta
    lora_b = [v for k, v in state.items() if ".lora_B." in k]
    return {"base_change": max_diff(base, initial), "adapters": len(lora_b),
            "least_moved_lora_b": min(float(v.abs().max()) for v in lora_b),
            "names_match": sorted(pushed) == sorted(initial), "pushed_vs_merged": max_diff(merged, pushed),
            "pushed_change": max_diff(pushed, initial)}


def kl_result(cfg: Config, samples: list[StepSample], pad_id: int, kwargs: dict) -> dict:
    """One update with the KL term alone: zero advantages, and a reference that gives every sampled token
    e^REF_SHIFT times the initial policy's probability. The update must move the policy towards it."""
    kl_samples = [replace(s, advantage=0.0, ref_logprobs=[lp + REF_SHIFT for lp in s.old_logprobs]) for s in samples]
    actor = fresh_actor(cfg)
    before = response_logprobs(actor.module, kl_samples, pad_id)
    alg = replace(cfg.algorithm, kl_coef=KL_COEF, kl_estimator="k3")
    metrics = update_actor(actor, kl_samples, alg, token_budget=10**6, **kwargs)
    return {"metrics": metrics, "before": before, "after": response_logprobs(actor.module, kl_samples, pad_id)}


def save_result(actor, cfg: Config, root: Path) -> dict:
    """The trainer's `save_checkpoint` on a real engine, over a leftover of a killed save of the same step; the
    order of its writes and barriers, and what it left."""
    events: list[str] = []

    def recorded(name: str, function):
        return lambda *args, **kwargs: (events.append(name), function(*args, **kwargs))[1]

    for name in ("save_trainer_files", "write_manifest", "point_latest", "prune"):
        setattr(ckpt, name, recorded(name, getattr(ckpt, name)))
    dist.barrier = recorded("barrier", dist.barrier)
    actor.save_checkpoint = recorded("engine", actor.save_checkpoint)
    leftover = ckpt.step_dir(root, 3) / "stale.bin"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"old")
    ckpt.save_checkpoint(actor, root, 3, 0, "abc123", resume_critical_config(cfg), cfg.trainer.tasks_per_step,
                         cfg.trainer.keep_last, n_train=4)
    folder = ckpt.step_dir(root, 3)
    return {"events": events, "leftover_exists": leftover.exists(), "complete": list(ckpt.is_complete(folder)),
            "resume_folder": str(ckpt.find_resume_folder(root)), "folder": str(folder),
            "files": sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()),
            "state": ckpt.read_trainer_state(folder), "tasks_per_step": cfg.trainer.tasks_per_step,
            "expected_config": {**resume_critical_config(cfg), "world_size": 1}}


def main() -> None:
    out_path, stage = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 2
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
        s.old_logprobs = recompute_logprobs(model, [s], 10**9, tokenizer.pad_token_id, 1.0, torch.device("cpu"))[0]
    kwargs = {"pad_id": tokenizer.pad_token_id, "temperature": 1.0, "agg_constant": 16.0, "world_size": 1}
    initial = params(model)

    whole = build_actor(model, cfg.trainer, cfg.deepspeed)
    metrics, layer_calls = counted_update(whole, samples, cfg, kwargs)
    after = response_logprobs(whole.module, samples, tokenizer.pad_token_id)
    lengths = [len(s.prompt_ids) + len(s.response_ids) for s in samples]

    split = fresh_actor(cfg)
    split_metrics = update_actor(split, samples, cfg.algorithm, token_budget=2 * max(lengths), **kwargs)
    a, b = params(whole.module), params(split.module)

    # Copies (the second with another advantage) and a zero-advantage sample, trained as they are and combined.
    extra = [replace(samples[0], group_index=5), replace(samples[1], group_index=5, advantage=0.5),
             replace(samples[2], group_index=6, advantage=0.0)]
    combined_metrics, combined_params = {}, {}
    for combine in (False, True):
        actor = fresh_actor(cfg)
        alg = replace(cfg.algorithm, combine_duplicates=combine)
        combined_metrics[combine] = update_actor(actor, samples + extra, alg, token_budget=10**6, **kwargs)
        combined_params[combine] = params(actor.module)

    ppo = fresh_actor(cfg)
    ppo_alg = replace(cfg.algorithm, ppo_epochs=2, ppo_mini_batches=4)
    ppo_metrics = update_actor(ppo, samples, ppo_alg, token_budget=10**6, **kwargs)
    ppo_result = {"metrics": ppo_metrics, "global_steps": ppo.global_steps,
                  "after": response_logprobs(ppo.module, samples, tokenizer.pad_token_id)}

    checkpointed = fresh_actor(replace(cfg, trainer=replace(cfg.trainer, gradient_checkpointing=True)))
    checkpointed_metrics, checkpointed_calls = counted_update(checkpointed, samples, cfg, kwargs)
    result = {
        "advantages": [s.advantage for s in samples],
        "before": before,
        "after": after,
        "metrics": metrics,
        "split_metrics": split_metrics,
        "global_steps": [whole.global_steps, split.global_steps],
        "max_change": max_diff(a, initial),
        "max_split_diff": max_diff(a, b),
        "copies_metrics": combined_metrics[False],
        "combined_metrics": combined_metrics[True],
        "max_combined_diff": max_diff(combined_params[False], combined_params[True]),
        "layer_calls": layer_calls,
        "checkpointed": {"metrics": checkpointed_metrics, "layer_calls": checkpointed_calls,
                         "max_diff": max_diff(params(checkpointed.module), a)},
        "ppo": ppo_result,
        "lora": lora_result(cfg, samples, initial, kwargs),
        "kl": kl_result(cfg, samples, tokenizer.pad_token_id, kwargs),
        "save": save_result(whole, cfg, out_path.parent / "checkpoints"),
    }
    out_path.write_text(json.dumps(result))
    shutdown_distributed()


if __name__ == "__main__":
    main()
