"""`update_actor` on a real DeepSpeed engine (1 rank, ZeRO-2, gloo, CPU), driven by update_driver.py in its own
process (the `update_result` fixture, conftest): one step on a fixed batch moves log-probs the way the advantages
say, and splitting the batch into micro-batches still gives exactly one optimizer step with the same gradient, as
does training copies once with their advantages summed (`algorithm.combine_duplicates`); gradient checkpointing
recomputes and changes nothing else; LoRA trains the adapters only and the rollout engine gets them merged; the
KL term pulls the policy towards the reference."""

import math

import pytest


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
    assert r["layer_calls"] == 1  # no gradient checkpointing: one forward pass per layer


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


def test_ppo_mini_batches_make_several_steps_and_the_clip_binds(update_result):
    r, ppo = update_result, update_result["ppo"]
    metrics = ppo["metrics"]
    # 2 epochs × 4 mini-batches of the 8 samples: 8 optimizer steps, each sample trained twice.
    assert ppo["global_steps"] == 8 and metrics["actor/optimizer_steps"] == 8
    assert metrics["actor/samples"] == 8 and metrics["actor/trained_samples"] == 8
    # After the first step the policy is no longer the one that sampled: the ratio leaves 1 and the clip binds.
    assert metrics["actor/pg_clipfrac"] > 0 and metrics["actor/ppo_kl"] != 0
    # Each sample still moves the way its advantage says.
    for i, (adv, before, after) in enumerate(zip(r["advantages"], r["before"], ppo["after"])):
        assert (after - before) * adv > 0, f"sample {i} (advantage {adv}): log-prob {before:.4f} → {after:.4f}"


def test_gradient_checkpointing_recomputes_and_gives_the_same_update(update_result):
    r, checkpointed = update_result, update_result["checkpointed"]
    assert checkpointed["layer_calls"] == 2  # every layer runs again in the backward pass
    assert checkpointed["metrics"]["actor/grad_norm"] == pytest.approx(r["metrics"]["actor/grad_norm"], rel=1e-5)
    assert checkpointed["max_diff"] < 1e-3 * r["max_change"]


def test_lora_trains_only_the_adapters_and_the_engine_gets_them_merged(update_result):
    lora = update_result["lora"]
    assert lora["base_change"] == 0.0  # frozen, also after two weight pushes
    assert lora["adapters"] == 28 and lora["least_moved_lora_b"] > 5e-4  # B starts at 0; every adapter moved
    # The rollout engine gets plain base-model names, each weight W + (alpha / r)·B·A.
    assert lora["names_match"] and lora["pushed_vs_merged"] < 1e-6 and lora["pushed_change"] > 1e-4


def test_the_kl_term_pulls_the_policy_towards_the_reference(update_result):
    kl = update_result["kl"]
    # Every sampled token: log π_ref − log π = −1, so k3 = e^−1 − (−1) − 1 = e^−1; zero advantages: no PG loss.
    assert kl["metrics"]["actor/kl_loss"] == pytest.approx(math.exp(-1.0), rel=1e-5)
    assert kl["metrics"]["actor/pg_loss"] == 0.0 and kl["metrics"]["actor/grad_norm"] > 0
    # The reference finds every sampled response less likely than the policy does: the step lowers each one.
    for i, (before, after) in enumerate(zip(kl["before"], kl["after"])):
        assert after < before - 0.1, f"sample {i}: log-prob {before:.4f} → {after:.4f}"
