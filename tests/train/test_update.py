"""`update_actor` on a real DeepSpeed engine (1 rank, ZeRO-2, gloo, CPU), driven by update_driver.py in its own
process: one step on a fixed batch moves log-probs the way the advantages say, and splitting the batch into
micro-batches still gives exactly one optimizer step with the same gradient, as does training copies once with
their advantages summed (`algorithm.combine_duplicates`)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from train_runs import train_env

from agemem import PROJECT_ROOT

DRIVER = Path(__file__).with_name("update_driver.py")


@pytest.fixture(scope="module")
def update_result(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("update")
    proc = subprocess.run([sys.executable, str(DRIVER), str(out / "result.json")], cwd=PROJECT_ROOT,
                          env=train_env(out), capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    return json.loads((out / "result.json").read_text())


def test_one_update_raises_positive_and_lowers_negative_logprobs(update_result):
    r = update_result
    for i, (adv, before, after) in enumerate(zip(r["advantages"], r["before"], r["after"])):
        if adv > 0:
            assert after > before, f"sample {i} (advantage {adv}): log-prob {before:.4f} → {after:.4f}"
        else:
            assert after < before, f"sample {i} (advantage {adv}): log-prob {before:.4f} → {after:.4f}"
    metrics = r["metrics"]
    assert metrics["actor/micro_batches"] == 1 and metrics["actor/samples"] == len(r["advantages"])
    # Old log-probs are the initial model's: every ratio is 1 (nothing clipped, no KL between old and new).
    assert metrics["actor/pg_clipfrac"] == 0 and abs(metrics["actor/ppo_kl"]) < 1e-6
    assert metrics["actor/grad_norm"] > 0 and metrics["actor/lr"] == pytest.approx(1e-3)


def test_micro_batches_accumulate_into_one_optimizer_step(update_result):
    r = update_result
    assert r["split_metrics"]["actor/micro_batches"] > 1
    assert r["global_steps"] == [1, 1]
    # The same full-batch gradient however the batch is split (losses use the global denominator).
    assert r["split_metrics"]["actor/grad_norm"] == pytest.approx(r["metrics"]["actor/grad_norm"], rel=1e-5)
    assert r["split_metrics"]["actor/pg_loss"] == pytest.approx(r["metrics"]["actor/pg_loss"], rel=1e-5)
    # Adam moves every weight by about lr; the two runs differ only by float rounding (amplified by Adam where
    # a gradient is near zero), far less than the step.
    assert r["max_change"] > 5e-4
    assert r["max_split_diff"] < 0.05 * r["max_change"]


def test_combined_duplicates_train_like_the_copies(update_result):
    r = update_result
    copies, combined = r["copies_metrics"], r["combined_metrics"]
    n = len(r["advantages"])
    assert copies["actor/trained_samples"] == copies["actor/samples"] == combined["actor/samples"] == n + 3
    assert combined["actor/trained_samples"] == n  # two copies folded in, the zero-advantage sample dropped
    assert combined["actor/grad_norm"] == pytest.approx(copies["actor/grad_norm"], rel=1e-5)
    assert combined["actor/pg_loss"] == pytest.approx(copies["actor/pg_loss"], rel=1e-5, abs=1e-8)
    assert r["max_combined_diff"] < 0.05 * r["max_change"]
