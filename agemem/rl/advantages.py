"""Group-relative advantages for step-wise GRPO (SPEC.md §5) and Mem-α's per-step GRPO (SPEC.md §6).

Shape legend (all of agemem.rl): B batch, G group, T tokens, V vocab; here N trajectories, S step samples.

One core, `grouped_normalize`, turns values into group-relative advantages:
    A_i = (x_i − mean_g) / (std_g + ε),  std unbiased (divides by n_g − 1),
with three rules stated once here and tested:
- a group whose values are all equal gets exactly 0 (not (x − mean)/ε, which float rounding can make non-zero);
- a group of ONE sample keeps its raw value (verl's rule: mean 0, std 1 — there is no baseline to subtract);
- `norm_by_std=False` (Dr.GRPO) subtracts the mean only.
Optional integer `weights` count each row that many times (frequency weights): the official AgeMem code
normalises over all step samples of a task, i.e. each trajectory's reward repeated once per step; weighting by
the step count gives the same numbers without materialising the repeats.
"""

from collections.abc import Hashable, Sequence
from typing import Literal

import torch
from torch import Tensor

GroupIds = Tensor | Sequence[Hashable]
NORMALIZE_OVER = ("trajectory", "step")


def group_index(group_ids: GroupIds) -> tuple[Tensor, int]:
    """Map arbitrary group ids (episode ids, ints) to contiguous indices 0..num_groups−1.

    Shape: group_ids (N,) → index (N,) int64, plus the number of groups.
    """
    if isinstance(group_ids, Tensor):
        if group_ids.dim() != 1:
            raise ValueError(f"group_ids must be 1-D, got shape {tuple(group_ids.shape)}")
        uniques, index = torch.unique(group_ids, return_inverse=True)
        return index, int(uniques.numel())  # torch.unique's inverse indices are int64 already
    first_seen: dict[Hashable, int] = {}
    index_list = [first_seen.setdefault(g, len(first_seen)) for g in group_ids]
    return torch.tensor(index_list, dtype=torch.long), len(first_seen)


def grouped_normalize(
    values: Tensor,
    group_ids: GroupIds,
    *,
    eps: float = 1e-6,
    norm_by_std: bool = True,
    weights: Tensor | None = None,
) -> Tensor:
    """Group-relative advantages of `values` (the shared core; also Mem-α's per-step GRPO, SPEC.md §6).

    For Mem-α pass one value per chunk-step sample (its step reward r_t) and the instance id as the group:
    all chunk-step samples of an instance's K rollouts then form one group.

    `weights` (non-negative counts, default 1 each) repeat row i `weights[i]` times in the group statistics; a
    row with weight 0 is left out of them but is still normalised with its group's statistics. The group size
    n_g is the total weight; the singleton rule applies when n_g ≤ 1.

    Shape: values (S,), group_ids (S,), weights (S,) → (S,), float (values' dtype when floating, else float32).
    """
    if values.dim() != 1:
        raise ValueError(f"values must be 1-D, got shape {tuple(values.shape)}")
    index, num_groups = group_index(group_ids)
    if index.numel() != values.numel():
        raise ValueError(f"group_ids has {index.numel()} entries, values has {values.numel()}")
    out_dtype = values.dtype if values.is_floating_point() else torch.float32
    x = values.detach().to(torch.float64).cpu()
    w = torch.ones_like(x) if weights is None else weights.detach().to(torch.float64).cpu()
    if w.shape != x.shape or bool((w < 0).any()):
        raise ValueError("weights must be non-negative with the same shape as values")

    count = torch.zeros(num_groups, dtype=torch.float64).index_add_(0, index, w)
    mean = torch.zeros(num_groups, dtype=torch.float64).index_add_(0, index, w * x) / count.clamp(min=1)
    centred = x - mean[index]
    sq = torch.zeros(num_groups, dtype=torch.float64).index_add_(0, index, w * centred**2)
    std = (sq / (count - 1).clamp(min=1)).sqrt()

    present = w > 0
    big = torch.finfo(torch.float64).max
    gmax = torch.full((num_groups,), -big, dtype=torch.float64).scatter_reduce_(
        0, index, torch.where(present, x, -big), "amax"
    )
    gmin = torch.full((num_groups,), big, dtype=torch.float64).scatter_reduce_(
        0, index, torch.where(present, x, big), "amin"
    )

    adv = centred / (std[index] + eps) if norm_by_std else centred
    adv = torch.where((gmax == gmin)[index], torch.zeros_like(adv), adv)
    adv = torch.where((count <= 1)[index], x, adv)
    return adv.to(device=values.device, dtype=out_dtype)


def stepwise_advantages(
    rewards: Tensor,
    group_ids: GroupIds,
    *,
    eps: float = 1e-6,
    norm_by_std: bool = True,
    steps_per_trajectory: Tensor | None = None,
    normalize_over: Literal["trajectory", "step"] = "trajectory",
    divide_by_length: bool = False,
) -> Tensor:
    """One GRPO advantage per trajectory from its terminal reward (SPEC.md §5); broadcast it with
    `broadcast_to_steps`.

    - normalize_over="trajectory" (the paper): statistics over the K trajectory rewards of a task.
    - normalize_over="step" (the official code's `grpo`): statistics over all step samples of the task, i.e.
      reward i counted `steps_per_trajectory[i]` times, so long trajectories weigh more. The singleton rule then
      applies to a task with one step sample in all, exactly as when normalising the repeated samples directly.
    - divide_by_length: divide each trajectory's advantage by its number of steps (a 0-step trajectory by 1).
    See `grouped_normalize` for the zero-variance (→ 0) and group-of-one (→ raw reward) rules.

    Shape: rewards (N,), group_ids (N,), steps_per_trajectory (N,) → (N,).
    """
    if normalize_over not in NORMALIZE_OVER:
        raise ValueError(f"normalize_over={normalize_over!r}; valid: {', '.join(NORMALIZE_OVER)}")
    needs_steps = normalize_over == "step" or divide_by_length
    if needs_steps and steps_per_trajectory is None:
        raise ValueError("normalize_over='step' and divide_by_length need steps_per_trajectory")
    if steps_per_trajectory is not None and steps_per_trajectory.shape != rewards.shape:
        raise ValueError(
            f"steps_per_trajectory shape {tuple(steps_per_trajectory.shape)} != rewards {tuple(rewards.shape)}"
        )
    weights = steps_per_trajectory if normalize_over == "step" else None
    adv = grouped_normalize(rewards, group_ids, eps=eps, norm_by_std=norm_by_std, weights=weights)
    if divide_by_length:
        assert steps_per_trajectory is not None
        adv = adv / steps_per_trajectory.to(device=adv.device, dtype=adv.dtype).clamp(min=1)
    return adv


def broadcast_to_steps(advantages: Tensor, steps_per_trajectory: Tensor) -> Tensor:
    """Give every step of trajectory i the advantage A_i, trajectories in order, steps in order.

    Shape: advantages (N,), steps_per_trajectory (N,) int → (S,) with S = steps_per_trajectory.sum().
    """
    if advantages.shape != steps_per_trajectory.shape:
        raise ValueError(
            f"advantages shape {tuple(advantages.shape)} != steps_per_trajectory {tuple(steps_per_trajectory.shape)}"
        )
    return torch.repeat_interleave(
        advantages, steps_per_trajectory.to(device=advantages.device, dtype=torch.long)
    )


def shuffle_rewards(rewards: Tensor, seed: int) -> Tensor:
    """The shuffled-reward control: the batch's rewards in a seeded random order, so that a trajectory's reward
    no longer depends on what it did (on several ranks each rank permutes its own share of the batch).

    Shape: rewards (N,) → (N,).
    """
    return rewards[torch.randperm(len(rewards), generator=torch.Generator().manual_seed(seed))]


def per_step_advantages(step_rewards: Sequence[Sequence[float]], group_ids: Sequence[Hashable], *,
                        eps: float = 1e-6, norm_by_std: bool = True) -> list[list[float]]:
    """Mem-α's GRPO (SPEC.md §6): each step sample keeps its own reward r_t, and all the chunk-step samples of one
    group's K rollouts are normalised together, A_t = (r_t − mean_g) / (std_g + ε) over every step of the group.

    Shape: N trajectories' lists of per-step rewards (S_k each), N group ids → N lists of S_k advantages.
    """
    if len(step_rewards) != len(group_ids):
        raise ValueError(f"{len(step_rewards)} reward lists for {len(group_ids)} group ids")
    values = torch.tensor([r for rewards in step_rewards for r in rewards], dtype=torch.float64)
    ids = [g for g, rewards in zip(group_ids, step_rewards) for _ in rewards]
    flat = grouped_normalize(values, ids, eps=eps, norm_by_std=norm_by_std).tolist() if ids else []
    out, start = [], 0
    for rewards in step_rewards:
        out.append(flat[start: start + len(rewards)])
        start += len(rewards)
    return out
