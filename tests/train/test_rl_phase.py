"""The RL phase of the CPU demo on the real pipeline: a short run from step 0 with held-out evaluation and the
shuffled-reward control (compared with the unshuffled reference run), and the control's permutation itself."""

import pytest
import torch
from train_runs import read_jsonl, run_train

from agemem.rl import shuffle_rewards

HELDOUT_SUCCESS = [0.0, 0.0]  # eval/heldout_success at steps 0 and 3: the untrained tiny model answers none
PHASES = ["timing_s/gen", "timing_s/reward", "timing_s/update", "timing_s/weight_sync", "timing_s/eval"]


def test_a_short_rl_run_executes_every_phase_and_evaluates_held_out_tasks(reference_run, tmp_path):
    """The reference run's setting with the demo's RL extras: held-out evaluation from step 0 and the
    shuffled-reward control."""
    run_train(tmp_path, "trainer.total_steps=3", "trainer.eval_every=3", "trainer.eval_before_training=true",
              "trainer.heldout_tasks=3", "algorithm.shuffle_rewards=true", "trainer.export_hf=false", "resume=never",
              "trainer.eval_tasks=0")
    records = read_jsonl(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in records] == [0, 1, 2, 3]
    assert set(records[0]) >= {"eval/heldout_success", "timing_s/elapsed"}
    assert not any(k in r for r in records for k in ("eval/score", "eval/task"))  # no validation tasks: no zeros
    assert "eval/heldout_success" in records[3] and "eval/heldout_success" not in records[1]
    for record in records[1:]:
        assert all(record[k] >= 0 for k in PHASES) and record["actor/samples"] > 0
        assert record["actor/grad_norm"] > 0  # the update ran on the (shuffled) advantages
    elapsed = [r["timing_s/elapsed"] for r in records]
    assert elapsed == sorted(elapsed)
    # Greedy, deterministic: pinned (re-pin when rewards, stages or the tiny model change).
    assert [records[0]["eval/heldout_success"], records[3]["eval/heldout_success"]] == HELDOUT_SUCCESS
    # Step 1 rolled out what the reference run's step 1 did (the same initial weights and seeds), with the same
    # rewards in all; shuffled among the trajectories, they gave other advantages, so another loss (unshuffled, it
    # would be the same number to the bit). Today's permutation swaps the rewards within the group that differs:
    # every advantage changes sign, and so does the loss (the gradient's norm stays the same).
    first, reference = records[1], read_jsonl(reference_run / "metrics.jsonl")[0]
    for key in ("reward/total/mean", "reward/total/max", "reward/total/min", "rollout/response_length/mean", "actor/samples"):
        assert first[key] == reference[key], key
    assert first["actor/pg_loss"] != reference["actor/pg_loss"]


def test_the_shuffle_control_permutes_rewards_within_the_batch():
    rewards = torch.arange(16, dtype=torch.float32)
    shuffled = shuffle_rewards(rewards, seed=3)
    assert sorted(shuffled.tolist()) == rewards.tolist()  # the same rewards: a permutation of this batch
    assert (shuffled != rewards).sum() >= 12  # and most of them moved to another trajectory
    assert torch.equal(shuffled, shuffle_rewards(rewards, seed=3))  # deterministic in the seed
    assert not torch.equal(shuffled, shuffle_rewards(rewards, seed=4))


@pytest.mark.parametrize("n", [1, 2])
def test_the_shuffle_of_a_tiny_batch_keeps_its_rewards(n):
    rewards = torch.tensor([0.5, -1.0][:n])
    assert sorted(shuffle_rewards(rewards, seed=0).tolist()) == sorted(rewards.tolist())
