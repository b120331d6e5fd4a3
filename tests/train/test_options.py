"""Every trainer option a paper preset turns on, through the real trainer on the tiny model (1 rank, CPU), each
checked by a property that fails if the option is ignored: the KL term with its reference model, LoRA, gradient
checkpointing with recomputed old log-probs on ZeRO-3 with offload, the official code's GRPO at its temperature,
every loss aggregation, weight decay, and resuming from a checkpoints folder of another run.

Most runs are compared with the shared reference run (conftest): the same tiny setting, so the first step's
rollouts are the same (they come from the initial weights), and an option that changes nothing else must give the
reference's numbers.
"""

import re
import shutil
from pathlib import Path

import pytest
import torch
from train_runs import (
    REFERENCE,
    checkpoint_weights,
    exported_weights,
    max_abs_diff,
    read_jsonl,
    run_train,
)

from agemem.models import ModelConfig, load_model
from agemem.train import checkpoint as ckpt

SHORT = ["trainer.total_steps=2", "resume=never"]
LORA_RANK, LORA_ALPHA = 4, 8
MAX_NEW_TOKENS = 16  # train_runs.TINY: the constant of seq-mean-token-sum-norm
LR = 5e-5  # train_runs.TINY
WEIGHT_DECAY = 200.0  # decay of lr·wd = 1% per step: far more than one Adam step (≤ lr) can move a weight
LOSS_AGGS = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm")
DECAYED = "seq-mean-token-mean"  # the aggregation run that also checks weight decay
SAME_ROLLOUTS = ("reward/total/mean", "reward/total/max", "reward/total/min", "rollout/response_length/mean",
                 "rollout/num_turns/mean", "actor/samples")


@pytest.fixture(scope="module")
def initial() -> dict[str, torch.Tensor]:
    return load_model(ModelConfig()).state_dict()


def steady(record: dict) -> dict:
    """A step's metrics that do not depend on timing."""
    return {k: v for k, v in record.items() if not k.startswith(("timing_s/", "perf/"))}


@pytest.fixture(scope="module")
def kl_run(tmp_path_factory) -> Path:
    """The qwen presets' β = 0.1 (k3), with the reference model."""
    out = tmp_path_factory.mktemp("kl")
    run_train(out, *SHORT, "algorithm.kl_coef=0.1", "trainer.export_hf=false")
    return out


def test_kl_with_the_reference_model_changes_the_update_once_the_policy_moved(reference_run, kl_run):
    reference, records = read_jsonl(reference_run / "metrics.jsonl"), read_jsonl(kl_run / "metrics.jsonl")
    # Step 1: the actor is the reference, so the KL and its gradient are exactly 0: the reference run's step.
    assert records[0]["actor/kl_loss"] == 0.0
    assert steady(records[0]) == steady(reference[0])
    # Step 2: the same rollouts (the same weights made them), but the policy has moved off the reference.
    assert all(records[1][k] == reference[1][k] for k in SAME_ROLLOUTS)
    assert records[1]["actor/kl_loss"] > 1e-4
    assert records[1]["actor/pg_loss"] == reference[1]["actor/pg_loss"]
    assert records[1]["actor/grad_norm"] != reference[1]["actor/grad_norm"]
    assert max_abs_diff(checkpoint_weights(kl_run, 2), checkpoint_weights(reference_run, 2)) > 1e-5


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory) -> Path:
    """The official code's trainer settings: LoRA (rank 32 there, 4 here), its GRPO (k2 KL at 0.001, statistics
    over step samples, its step filter) and temperature 0.6."""
    out = tmp_path_factory.mktemp("lora")
    run_train(out, *SHORT, f"trainer.lora_rank={LORA_RANK}", f"trainer.lora_alpha={LORA_ALPHA}",
              "algorithm=grpo_official", "rollout.temperature=0.6")
    return out


def test_lora_trains_only_the_adapters_and_the_export_merges_them(lora_run, initial):
    records = read_jsonl(lora_run / "metrics.jsonl")
    # The reference is the base model: no KL before the adapters moved, some after.
    assert records[0]["actor/kl_loss"] == 0.0 and records[1]["actor/kl_loss"] > 0.0
    for record in records:  # the trainer's log-probs at temperature 0.6 are the engine's: every ratio ≈ 1
        assert abs(record["actor/ppo_kl"]) < 1e-6 and record["actor/pg_clipfrac"] == 0.0
    state = {k.removeprefix("base_model.model."): v for k, v in checkpoint_weights(lora_run, 2).items()}
    base = {k.replace(".base_layer.", "."): v for k, v in state.items() if "lora_" not in k}
    assert sorted(base) == sorted(initial)
    assert max_abs_diff(base, initial) == 0.0  # frozen, through 2 updates and 3 weight pushes to the engine
    lora_b = {k: v for k, v in state.items() if ".lora_B." in k}
    assert len(lora_b) == 7 * 4  # every linear layer of the 4 decoder layers
    assert min(float(v.abs().max()) for v in lora_b.values()) > 1e-5  # B starts at 0: every adapter trained
    merged = dict(base)
    for name, b in lora_b.items():
        layer = name.split(".lora_B.")[0]
        merged[f"{layer}.weight"] = base[f"{layer}.weight"] + LORA_ALPHA / LORA_RANK * b @ state[
            name.replace("lora_B", "lora_A")]
    exported = exported_weights(lora_run)
    assert set(exported) <= set(initial)  # plain names: no adapters left
    assert max_abs_diff(exported, merged) < 1e-6 and max_abs_diff(exported, initial) > 1e-5


@pytest.fixture(scope="module")
def memory_run(tmp_path_factory) -> Path:
    """What a large model needs to fit: ZeRO-3 with offload, gradient checkpointing, old log-probs recomputed."""
    out = tmp_path_factory.mktemp("memory")
    run_train(out, *SHORT, "deepspeed=zero3_offload", "trainer.gradient_checkpointing=true",
              "algorithm.old_logprobs=recompute")
    return out


def test_checkpointing_offload_and_recomputed_logprobs_train_like_the_reference(reference_run, memory_run, initial):
    reference, records = read_jsonl(reference_run / "metrics.jsonl"), read_jsonl(memory_run / "metrics.jsonl")
    for a, b in zip(reference, records, strict=False):
        assert all(b[k] == a[k] for k in SAME_ROLLOUTS), f"step {a['step']}"
        # Old log-probs from the actor itself, just before its update: every ratio is exactly 1 (the engine's
        # recorded log-probs differ from the trainer's by float rounding: ppo_kl ≈ 1e-8 in the reference).
        assert b["actor/ppo_kl"] == 0.0 and b["actor/pg_clipfrac"] == 0.0 and a["actor/ppo_kl"] != 0.0
        assert b["actor/grad_norm"] == pytest.approx(a["actor/grad_norm"], rel=1e-5)
    weights = exported_weights(memory_run)
    assert max_abs_diff(weights, checkpoint_weights(reference_run, 2)) < 1e-5
    assert max_abs_diff(weights, initial) > 5e-5


@pytest.fixture(scope="module")
def loss_agg_runs(tmp_path_factory) -> dict[str, Path]:
    """One step of each sequence-level aggregation (token-mean is the reference run's), each model call its own
    sample (only token-mean allows merging them); seq-mean-token-mean also with weight decay (its first step's
    metrics come before the optimizer step)."""
    runs = {}
    for agg in LOSS_AGGS[1:]:
        out = tmp_path_factory.mktemp(agg)
        decay = [f"trainer.weight_decay={WEIGHT_DECAY}"] if agg == DECAYED else []
        run_train(out, "trainer.total_steps=1", "resume=never", "trainer.export_hf=false",
                  "algorithm.merge_prefix_steps=false", f"algorithm.loss_agg={agg}", *decay)
        runs[agg] = out
    return runs


def test_every_loss_aggregation_reaches_the_update(reference_run, loss_agg_runs):
    first = {"token-mean": read_jsonl(reference_run / "metrics.jsonl")[0]}
    first.update({agg: read_jsonl(out / "metrics.jsonl")[0] for agg, out in loss_agg_runs.items()})
    for agg, record in first.items():
        assert all(record[k] == first["token-mean"][k] for k in SAME_ROLLOUTS), agg
    loss = {agg: record["actor/pg_loss"] for agg, record in first.items()}
    grad = {agg: record["actor/grad_norm"] for agg, record in first.items()}
    # Token sums over sequences: the Dr.GRPO constant (rollout.max_new_tokens) is the only difference.
    assert loss["seq-mean-token-sum"] == pytest.approx(MAX_NEW_TOKENS * loss["seq-mean-token-sum-norm"], rel=1e-5)
    assert grad["seq-mean-token-sum"] == pytest.approx(MAX_NEW_TOKENS * grad["seq-mean-token-sum-norm"], rel=1e-5)
    # The same token sum over #tokens (token-mean) and over #sequences, one per model call: the ratio is the mean
    # response length.
    record = first["seq-mean-token-sum"]
    assert record["actor/samples"] == 4 * record["rollout/num_turns/mean"]  # 2 tasks × 2 rollouts
    assert loss["seq-mean-token-sum"] == pytest.approx(loss["token-mean"] * record["rollout/response_length/mean"], rel=1e-5)
    assert len({round(v, 9) for v in loss.values()}) == 4 and len({round(v, 6) for v in grad.values()}) == 4


def test_weight_decay_shrinks_every_weight(loss_agg_runs, initial):
    weights = checkpoint_weights(loss_agg_runs[DECAYED], 1)
    # AdamW: w ← w·(1 − lr·wd) − lr·(Adam step, at most ~1 in size). The norm weights start at exactly 1.
    norms = [k for k in initial if k.endswith("norm.weight")]
    assert norms and all(bool((initial[k] == 1.0).all()) for k in norms)
    for key in norms:
        assert (weights[key] - (1 - LR * WEIGHT_DECAY)).abs().max() < 1.5 * LR, key
    assert max_abs_diff(weights, {k: v * (1 - LR * WEIGHT_DECAY) for k, v in initial.items()}) < 1.5 * LR


def test_resume_from_another_runs_checkpoints_folder(reference_run, tmp_path):
    source = tmp_path / "source"
    shutil.copytree(reference_run / "checkpoints", source)
    for step in (3, 4):
        shutil.rmtree(ckpt.step_dir(source, step))
    ckpt.point_latest(source, ckpt.step_dir(source, 2))
    out = tmp_path / "run"
    overrides = [o for o in REFERENCE if o not in ("resume=never", "logger=wandb")]
    proc = run_train(out, *overrides, "trainer.total_steps=3", f"resume={source}")
    assert re.search(rf"resumed from {re.escape(str(source))}/step_000002 at step 2", proc.stdout + proc.stderr)
    assert [r["step"] for r in read_jsonl(out / "metrics.jsonl")] == [3]
    assert max_abs_diff(checkpoint_weights(out, 3), checkpoint_weights(reference_run, 3)) == 0.0
    # The new checkpoints go to this run's folder; the source is only read.
    assert (out / "checkpoints" / "latest").read_text() == "step_000003"
    assert sorted(p.name for p in source.glob("step_*")) == ["step_000002"]
    assert (source / "latest").read_text() == "step_000002"
