"""Group-relative advantages (SPEC.md §5, §6) against hand-computed values and a loop reference."""

import math
import random
import re
import statistics

import pytest
import torch

from agemem.rl import broadcast_to_steps, group_index, grouped_normalize, stepwise_advantages

EPS = 1e-6


def reference_advantages(
    rewards, groups, *, eps=EPS, norm_by_std=True, steps=None, over="trajectory", divide=False
):
    """The published formula written as a plain loop over groups (independent of the vectorised code)."""
    out = []
    for i, r in enumerate(rewards):
        members = [j for j, g in enumerate(groups) if g == groups[i]]
        repeat = [steps[j] if over == "step" else 1 for j in members]
        pool = [rewards[j] for j, n in zip(members, repeat) for _ in range(n)]
        if len(pool) <= 1:
            a = r  # verl: a group of one keeps its raw reward
        elif len(set(pool)) == 1:
            a = 0.0
        else:
            mean = sum(pool) / len(pool)
            a = (r - mean) / (statistics.stdev(pool) + eps) if norm_by_std else r - mean
        out.append(a / max(steps[i], 1) if divide else a)
    return out


def test_k4_group_by_hand():
    # rewards 0, 0, 1, 1: mean 0.5, squared deviations sum 4·0.25 = 1, unbiased var 1/3, std 1/√3,
    # so A = ±0.5·√3 = ±0.8660 (up to ε).
    adv = stepwise_advantages(torch.tensor([0.0, 0.0, 1.0, 1.0]), ["q", "q", "q", "q"])
    expected = 0.5 / (1 / math.sqrt(3) + EPS)
    assert torch.allclose(adv, torch.tensor([-expected, -expected, expected, expected]), atol=1e-7)


def test_singleton_group_keeps_raw_reward_and_equal_group_gets_zero():
    rewards = torch.tensor([0.7, 0.1, 0.1, 0.1, -1.0])
    adv = stepwise_advantages(rewards, ["solo", "same", "same", "same", "alone"])
    assert adv.tolist() == pytest.approx([0.7, 0.0, 0.0, 0.0, -1.0])
    assert adv[1:4].eq(0).all()  # exactly zero, not (0.1 − 0.1000…02)/ε


def test_interleaved_groups_and_tensor_ids():
    rewards = torch.tensor([1.0, 5.0, 3.0, 7.0])
    by_str = stepwise_advantages(rewards, ["a", "b", "a", "b"])
    by_int = stepwise_advantages(rewards, torch.tensor([4, 9, 4, 9]))
    # each group is {x, x+2}: mean x+1, std √2, so A = ∓1/√2
    expected = 1 / (math.sqrt(2) + EPS)
    assert torch.allclose(by_str, torch.tensor([-expected, -expected, expected, expected]))
    assert torch.equal(by_str, by_int)


def test_dr_grpo_subtracts_mean_only():
    adv = stepwise_advantages(torch.tensor([0.0, 1.0, 2.0, 5.0]), [0, 0, 0, 0], norm_by_std=False)
    assert adv.tolist() == pytest.approx([-2.0, -1.0, 0.0, 3.0])


def test_normalize_over_steps_weighs_long_trajectories():
    # official code: rewards 1 (3 steps) and 0 (1 step) → samples 1, 1, 1, 0: mean 0.75,
    # squared deviations 3·0.0625 + 0.5625 = 0.75, unbiased var 0.75/3 = 0.25, std 0.5 → A = 0.5, −1.5.
    rewards, steps = torch.tensor([1.0, 0.0]), torch.tensor([3, 1])
    adv = stepwise_advantages(rewards, ["q", "q"], steps_per_trajectory=steps, normalize_over="step")
    assert adv.tolist() == pytest.approx([0.25 / (0.5 + EPS), -0.75 / (0.5 + EPS)])
    per_sample = grouped_normalize(broadcast_to_steps(rewards, steps), ["q"] * 4)
    assert torch.allclose(broadcast_to_steps(adv, steps), per_sample)
    # paper's trajectory normalisation of the same rewards: ±1/√2
    paper = stepwise_advantages(rewards, ["q", "q"], steps_per_trajectory=steps)
    a = 0.5 / (1 / math.sqrt(2) + EPS)
    assert paper.tolist() == pytest.approx([a, -a])


def test_step_mode_singleton_rule_counts_step_samples():
    one_step = stepwise_advantages(
        torch.tensor([0.4]), ["q"], steps_per_trajectory=torch.tensor([1]), normalize_over="step"
    )
    three_steps = stepwise_advantages(
        torch.tensor([0.4]), ["q"], steps_per_trajectory=torch.tensor([3]), normalize_over="step"
    )
    assert one_step.item() == pytest.approx(0.4) and three_steps.item() == 0.0


def test_divide_by_length():
    steps = torch.tensor([1, 2, 3, 4])
    adv = stepwise_advantages(
        torch.tensor([0.0, 0.0, 1.0, 1.0]), [0] * 4, steps_per_trajectory=steps, divide_by_length=True
    )
    a = 0.5 / (1 / math.sqrt(3) + EPS)
    assert adv.tolist() == pytest.approx([-a, -a / 2, a / 3, a / 4])


def test_mem_alpha_per_step_rewards_form_one_group_per_instance():
    # two instances; every chunk-step sample of an instance's rollouts is one group
    # instance i1: 0.2, 0.4, 0.6 → mean 0.4, unbiased std √((0.04 + 0 + 0.04)/2) = 0.2; i2: all equal → 0
    values = torch.tensor([0.2, 0.4, 0.6, 1.0, 1.0], dtype=torch.float64)
    adv = grouped_normalize(values, ["i1", "i1", "i1", "i2", "i2"])
    assert adv.dtype == torch.float64
    assert adv.tolist() == pytest.approx([-0.2 / (0.2 + EPS), 0.0, 0.2 / (0.2 + EPS), 0.0, 0.0], abs=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_vectorised_equals_loop_reference(seed):
    rng = random.Random(seed)
    n = rng.randint(1, 40)
    groups = [rng.randint(0, 7) for _ in range(n)]
    rewards = [
        rng.choice([-1.0, 0.0, 0.25, 0.5, 1.0]) + (rng.random() if rng.random() < 0.5 else 0) for _ in groups
    ]
    steps = [rng.randint(0, 5) for _ in groups]
    for norm_by_std in (True, False):
        for over in ("trajectory", "step"):
            for divide in (False, True):
                got = stepwise_advantages(
                    torch.tensor(rewards, dtype=torch.float64),
                    groups,
                    norm_by_std=norm_by_std,
                    steps_per_trajectory=torch.tensor(steps),
                    normalize_over=over,
                    divide_by_length=divide,
                )
                want = reference_advantages(
                    rewards, groups, norm_by_std=norm_by_std, steps=steps, over=over, divide=divide
                )
                assert got.tolist() == pytest.approx(want, rel=1e-9, abs=1e-9), (norm_by_std, over, divide)


def test_inputs_not_mutated_and_dtype():
    rewards, steps = torch.tensor([1.0, 2.0, 4.0]), torch.tensor([1, 2, 3])
    before = (rewards.clone(), steps.clone())
    adv = stepwise_advantages(
        rewards, [0, 0, 0], steps_per_trajectory=steps, normalize_over="step", divide_by_length=True
    )
    assert torch.equal(rewards, before[0]) and torch.equal(steps, before[1])
    assert adv.dtype == torch.float32
    assert stepwise_advantages(torch.tensor([1, 2]), [0, 0]).dtype == torch.float32


def test_broadcast_to_steps():
    out = broadcast_to_steps(torch.tensor([0.5, -1.0, 2.0]), torch.tensor([2, 0, 3]))
    assert out.tolist() == [0.5, 0.5, 2.0, 2.0, 2.0]
    # Step counts in another dtype (a float tensor) are counts all the same.
    assert broadcast_to_steps(torch.tensor([0.5, 2.0]), torch.tensor([2.0, 1.0])).tolist() == [0.5, 0.5, 2.0]


def test_eps_is_the_one_given():
    # rewards 0 and 1: mean 0.5, unbiased std 1/√2; with ε = 0.5 the advantages are ±0.5/(1/√2 + 0.5)
    adv = stepwise_advantages(torch.tensor([0.0, 1.0]), ["q", "q"], eps=0.5)
    a = 0.5 / (1 / math.sqrt(2) + 0.5)
    assert adv.tolist() == pytest.approx([-a, a])


def test_group_index_is_int64_for_every_kind_of_ids():
    index, groups = group_index([])
    assert index.dtype == torch.long and index.numel() == 0 and groups == 0
    index, groups = group_index(torch.tensor([9, 4, 9], dtype=torch.int32))
    assert index.dtype == torch.long and index.tolist() == [1, 0, 1] and groups == 2


def exactly(message: str) -> str:
    """A `pytest.raises` pattern matching the whole message and nothing else."""
    return f"^{re.escape(message)}$"


def test_bad_arguments_raise():
    r = torch.tensor([1.0, 0.0])
    with pytest.raises(ValueError, match="trajectory, step"):
        stepwise_advantages(r, [0, 0], normalize_over="steps")  # type: ignore[arg-type]
    need_steps = exactly("normalize_over='step' and divide_by_length need steps_per_trajectory")
    with pytest.raises(ValueError, match=need_steps):
        stepwise_advantages(r, [0, 0], normalize_over="step")
    with pytest.raises(ValueError, match=need_steps):
        stepwise_advantages(r, [0, 0], divide_by_length=True)
    with pytest.raises(ValueError, match=exactly("group_ids has 1 entries, values has 2")):
        stepwise_advantages(r, [0])
    with pytest.raises(ValueError, match=exactly("steps_per_trajectory shape (3,) != rewards (2,)")):
        stepwise_advantages(r, [0, 0], steps_per_trajectory=torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match=exactly("advantages shape (2,) != steps_per_trajectory (3,)")):
        broadcast_to_steps(r, torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match=exactly("group_ids must be 1-D, got shape (2, 1)")):
        group_index(torch.tensor([[0], [1]]))
    with pytest.raises(ValueError, match=exactly("values must be 1-D, got shape (1, 2)")):
        grouped_normalize(r[None], [0, 0])
    weights_message = exactly("weights must be non-negative with the same shape as values")
    with pytest.raises(ValueError, match=weights_message):
        grouped_normalize(r, [0, 0], weights=torch.tensor([1.0, -1.0]))  # a negative count, the right shape
    with pytest.raises(ValueError, match=weights_message):
        grouped_normalize(r, [0, 0], weights=torch.tensor([1.0, 1.0, 1.0]))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_advantages_stay_on_the_rewards_device():
    rewards, steps = torch.tensor([0.0, 1.0, 1.0], device="cuda"), torch.tensor([1, 2, 3], device="cuda")
    adv = stepwise_advantages(rewards, [0, 0, 1], steps_per_trajectory=steps, normalize_over="step",
                              divide_by_length=True)
    assert adv.device.type == "cuda" and grouped_normalize(rewards, [0, 0, 1]).device.type == "cuda"
    assert broadcast_to_steps(adv, steps).device.type == "cuda"


def test_per_step_advantages_normalise_every_chunk_step_of_a_group_together():
    """Mem-α (SPEC.md §6): group g1 holds the 2 + 1 steps of its two rollouts, values 1, 3, 2 → mean 2, std 1."""
    from agemem.rl import per_step_advantages

    out = per_step_advantages([[1.0, 3.0], [2.0], [5.0, 5.0]], ["g1", "g1", "g2"])
    assert out[0] == pytest.approx([-1.0, 1.0], abs=1e-5) and out[1] == pytest.approx([0.0])
    assert out[2] == [0.0, 0.0]  # all equal → exactly 0
    assert per_step_advantages([[1.0], []], ["g", "g"]) == [[1.0], []]  # a singleton group keeps its value
    with pytest.raises(ValueError, match="reward lists"):
        per_step_advantages([[1.0]], ["a", "b"])
