"""Pure RL maths for step-wise GRPO (SPEC.md §5): advantages, policy loss, KL, aggregation, sample building.

Tensors, masks and plain scalars in; tensors and a metrics dict out. Shape legend: B batch, G group, T tokens,
V vocab (N trajectories, S step samples).
"""

from agemem.rl.advantages import (
    broadcast_to_steps,
    group_index,
    grouped_normalize,
    per_step_advantages,
    shuffle_rewards,
    stepwise_advantages,
)
from agemem.rl.losses import (
    AGG_MODES,
    KL_KINDS,
    aggregate,
    kl_penalty,
    loss_denominator,
    policy_loss,
    token_logprobs,
)
from agemem.rl.samples import (
    StepSample,
    build_step_samples,
    collate,
    combine_duplicates,
    count_trainable_steps,
    is_trainable,
    merge_prefix_chains,
    pack_micro_batches,
)

__all__ = [
    "AGG_MODES",
    "KL_KINDS",
    "StepSample",
    "aggregate",
    "broadcast_to_steps",
    "build_step_samples",
    "collate",
    "combine_duplicates",
    "count_trainable_steps",
    "group_index",
    "grouped_normalize",
    "is_trainable",
    "kl_penalty",
    "loss_denominator",
    "merge_prefix_chains",
    "pack_micro_batches",
    "per_step_advantages",
    "policy_loss",
    "shuffle_rewards",
    "stepwise_advantages",
    "token_logprobs",
]
