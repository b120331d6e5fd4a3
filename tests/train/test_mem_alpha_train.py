"""`experiment=mem_alpha_cpu` end to end (SPEC.md §6): chunk-stream rollouts of the tiny model, the offline reader,
r1–r4 per step, per-step GRPO over each instance's chunk-step samples, DeepSpeed ZeRO-2 on CPU; a run killed after
its first checkpoint resumes to the same weights as an uninterrupted one. The untrained tiny model never writes a
valid call (every reward equal, nothing to learn), so the learning and resume tests start from a 50-step SFT model
that imitates the scripted writer well enough to write some valid inserts."""

import subprocess
import sys

import pytest
from train_runs import (
    exported_weights,
    max_abs_diff,
    read_jsonl,
    run_train,
    run_until_then_kill,
    train_env,
)

from agemem import PROJECT_ROOT
from agemem.models import ModelConfig, load_model

MEM_ALPHA = ["experiment=mem_alpha_cpu", "data.size=8", "trainer.total_steps=2", "trainer.save_every=1",
             "trainer.eval_every=2", "trainer.eval_tasks=2", "rollout.max_new_tokens=16", "resume=auto"]
# Held-out streams (entity ids from the held-out range): their reader accuracy is Mem-α's eval/heldout_success.
HELDOUT_STREAMS = ["trainer.heldout_tasks=2"]


@pytest.fixture(scope="module")
def mem_alpha_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("mem_alpha")
    proc = run_train(out, *MEM_ALPHA, "data.size=40", "data.val_fraction=0.2")  # 2 of ~6 validation streams
    (out / "run.log").write_text(proc.stdout + proc.stderr)
    return out


def test_mem_alpha_run_logs_every_reward_term(mem_alpha_run):
    rows = read_jsonl(mem_alpha_run / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2]
    for key in ("reward/r1/mean", "reward/r2/mean", "reward/r3/mean", "reward/r4/mean", "reward/total/mean",
                "reward/memory_tokens/mean", "actor/pg_loss", "actor/grad_norm", "timing_s/reward"):
        assert key in rows[0], key
    assert "eval/qa_accuracy" in rows[1] and "eval/compression" in rows[1] and rows[1]["eval/tasks"] == 2
    # The untrained tiny model never writes a valid call: r1 = r2 = r4 = 0 and an empty memory (r3 = 1) in every
    # rollout, so every r_t is 0.05, every advantage exactly 0 and the update leaves the weights as they were.
    assert all(r["reward/total/mean"] == pytest.approx(0.05) and r["reward/r2/mean"] == 0 for r in rows)
    assert all(r["actor/advantages/mean"] == 0 and r["actor/grad_norm"] == 0 for r in rows)
    initial = {k: v for k, v in load_model(ModelConfig()).state_dict().items()}
    assert max_abs_diff(exported_weights(mem_alpha_run), initial) == 0


@pytest.fixture(scope="module")
def sft_model(tmp_path_factory):
    """`task=sft experiment=mem_alpha_cpu` for 50 steps (~1 min): its write turns are valid inserts in some rollouts
    and not in others, so r2, r3, r4 and the advantages vary."""
    out = tmp_path_factory.mktemp("mem_alpha_sft")
    cmd = [sys.executable, "run.py", "task=sft", "experiment=mem_alpha_cpu", f"out={out}",
           f"hydra.run.dir={out}/hydra", "sft.max_steps=50", "sft.batch_size=16", "sft.eval_every=50",
           "sft.eval_tasks=2", *HELDOUT_STREAMS]
    proc = subprocess.run(cmd, cwd=PROJECT_ROOT, env=train_env(out / "home"), capture_output=True, text=True,
                          timeout=600, check=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return out / "hf_model"


@pytest.fixture(scope="module")
def learning_args(sft_model):
    return [*MEM_ALPHA, "rollout.max_new_tokens=64", f"model.path={sft_model}", *HELDOUT_STREAMS]


@pytest.fixture(scope="module")
def learning_run(tmp_path_factory, learning_args):
    out = tmp_path_factory.mktemp("mem_alpha_learning")
    proc = run_train(out, *learning_args)
    (out / "run.log").write_text(proc.stdout + proc.stderr)
    return out


def test_two_steps_from_the_sft_model_change_the_parameters(learning_run, sft_model):
    from safetensors.torch import load_file

    rows = read_jsonl(learning_run / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2]
    # Some rollouts wrote valid inserts and others did not: the rewards differ within groups, so the advantages are
    # not all zero and the policy gradient is not zero.
    assert any(0 < r["reward/r2/mean"] < 1 for r in rows), [r["reward/r2/mean"] for r in rows]
    assert all(r["actor/grad_norm"] > 0 for r in rows), [r["actor/grad_norm"] for r in rows]
    assert max_abs_diff(exported_weights(learning_run), load_file(sft_model / "model.safetensors")) > 0
    # The held-out figure (the reader's accuracy from what the policy wrote on unseen-id streams) and Mem-α's own
    # tools in the rollout metrics (task=demo plots both).
    assert 0 <= rows[-1]["eval/heldout_success"] <= 1 and "eval/heldout_success" not in rows[0]
    assert rows[0]["tool_calls/new_memory_insert/mean"] > 0 and "tool_calls/Add_memory/mean" not in rows[0]


def test_sft_measures_the_reader_accuracy_on_held_out_streams(sft_model):
    """Where a Mem-α demo's RL curves start: the SFT model's reader accuracy on the held-out streams."""
    rows = read_jsonl(sft_model.parent / "metrics.jsonl")
    assert 0 <= rows[-1]["eval/heldout_success"] <= 1 and "eval/success" in rows[-2]


def test_a_killed_mem_alpha_run_resumes_bit_identically(learning_run, learning_args, tmp_path):
    run_until_then_kill(tmp_path, "step_000001", *learning_args)
    run_train(tmp_path, *learning_args)
    assert max_abs_diff(exported_weights(tmp_path), exported_weights(learning_run)) == 0.0
    resumed = {r["step"]: r for r in read_jsonl(tmp_path / "metrics.jsonl")}
    reference = {r["step"]: r for r in read_jsonl(learning_run / "metrics.jsonl")}
    assert resumed[2]["reward/total/mean"] == reference[2]["reward/total/mean"]
    assert resumed[2]["actor/grad_norm"] == reference[2]["actor/grad_norm"]
