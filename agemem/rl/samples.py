"""Training samples: one per model call (SPEC.md §5 "broadcast"), padded batches, and micro-batch packing.

Shape legend (all of agemem.rl): B batch, G group, T tokens, V vocab.

Alignment convention of `collate` (next-token prediction). Every per-token tensor it returns is indexed by the
position of the logit that predicts the token: position t holds the facts about `labels[:, t] =
input_ids[:, t + 1]`. So the trainer uses the model's logits unshifted:

    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits   # (B, T, V)
    logprobs = token_logprobs(logits, batch["labels"], temperature)                                 # (B, T)
    loss, metrics = policy_loss(logprobs, batch["old_logprobs"], batch["advantages"], batch["loss_mask"])

`loss_mask[b, t]` is 1 exactly when `labels[b, t]` is a generated (trained) response token of sample b — i.e. the mask
sits on label positions, one to the left of the response in `input_ids` — and 0 on prompt, padding and the
last position. `old_logprobs[b, t]` is the rollout log-prob of `labels[b, t]` there, 0 elsewhere.
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from agemem.batching import length_partition
from agemem.records import Step, Trajectory
from agemem.tools.schemas import (
    ADD_MEMORY,
    FILTER_CONTEXT,
    RETRIEVE_MEMORY,
    SUMMARY_CONTEXT,
    UPDATE_MEMORY,
)


@dataclass
class StepSample:
    """One model call turned into a training sample: the exact ids the engine saw and generated."""

    prompt_ids: list[int]  # the exact prompt ids of that step
    response_ids: list[int]  # the exact generated ids (the only tokens trained on)
    old_logprobs: list[float]  # rollout log-prob of each response id, log_softmax(logits / T)
    advantage: float  # the trajectory's advantage, the same for every step of it
    episode_id: str  # the task the trajectory belongs to (its GRPO group)
    group_index: int  # k among the K rollouts of that task
    stage: int  # 1, 2 or 3 (SPEC.md §3)
    ref_logprobs: list[float] | None = None  # reference-model log-prob of each response id, when KL is used
    # 1 where a response id was generated (trained on), 0 where it is context between two merged model calls
    # (`merge_prefix_chains`); None means every response id was generated.
    response_mask: list[int] | None = None

    def loss_mask(self) -> list[int]:
        """1 on each response id the loss trains on, 0 elsewhere (all ones for a single model call)."""
        return self.response_mask if self.response_mask is not None else [1] * len(self.response_ids)


# algorithm.step_filter: which model calls become training samples. `all` (the paper: every step of every stage);
# `official` (the official code's experience filter): a step that made a call relevant to its stage, gave an
# answer, or is the trajectory's last step.
STEP_FILTERS = ("all", "official")
STAGE_RELEVANT_CALLS = {
    1: frozenset({ADD_MEMORY, RETRIEVE_MEMORY, UPDATE_MEMORY}),
    2: frozenset({FILTER_CONTEXT, SUMMARY_CONTEXT}),
    3: frozenset({SUMMARY_CONTEXT, FILTER_CONTEXT, RETRIEVE_MEMORY}),
}


def is_trainable(step: Step) -> bool:
    """A step trains only when it generated something: an empty response has no token to put a loss on
    (it happens when the engine stops at once, e.g. the context budget left no room to generate)."""
    return len(step.response_ids) > 0


def kept_steps(traj: Trajectory, step_filter: str = "all") -> list[tuple[int, Step]]:
    """(index, step) of the trajectory's steps that become samples under `step_filter` (STEP_FILTERS), trainable
    ones only. The official filter asks for a stage-relevant call among the calls the step requested."""
    if step_filter not in STEP_FILTERS:
        raise ValueError(f"algorithm.step_filter={step_filter!r}: must be one of {list(STEP_FILTERS)}")
    last = len(traj.steps) - 1
    kept = []
    for i, step in enumerate(traj.steps):
        relevant = any(c.name in STAGE_RELEVANT_CALLS.get(step.stage, ()) for c in step.action.tool_calls)
        official = relevant or step.action.kind == "answer" or i == last
        if is_trainable(step) and (step_filter == "all" or official):
            kept.append((i, step))
    return kept


def count_trainable_steps(trajectories: Sequence[Trajectory], step_filter: str = "all") -> Tensor:
    """Number of samples `build_step_samples` makes from each trajectory — the `steps_per_trajectory` for
    `stepwise_advantages` and `broadcast_to_steps`.

    Shape: → (N,) int64.
    """
    return torch.tensor([len(kept_steps(t, step_filter)) for t in trajectories], dtype=torch.long)


def build_step_samples(
    trajectories: Sequence[Trajectory], advantages: Tensor | Sequence[float], step_filter: str = "all"
) -> list[StepSample]:
    """One `StepSample` per kept model call (`kept_steps`: with `all`, every trainable call of every stage), in
    trajectory then step order; each carries its trajectory's advantage A_k (SPEC.md §5), or, where
    `advantages[k]` is a list, the advantage of each kept step (Mem-α's per-step GRPO, SPEC.md §6).

    Shape: advantages (N,) with N = len(trajectories), or N lists of one value per kept step.
    """
    adv = advantages.tolist() if isinstance(advantages, Tensor) else list(advantages)
    if len(adv) != len(trajectories):
        raise ValueError(f"{len(adv)} advantages for {len(trajectories)} trajectories")
    samples = []
    for traj, a in zip(trajectories, adv):
        kept = kept_steps(traj, step_filter)
        per_step = list(a) if isinstance(a, Sequence) else [a] * len(kept)
        if len(per_step) != len(kept):
            raise ValueError(f"episode {traj.episode_id} rollout {traj.group_index}: {len(per_step)} step "
                             f"advantages for {len(kept)} kept steps")
        for (i, step), a in zip(kept, per_step):
            if len(step.response_logprobs) != len(step.response_ids):
                raise ValueError(
                    f"episode {traj.episode_id} rollout {traj.group_index} step {i}: "
                    f"{len(step.response_logprobs)} log-probs for {len(step.response_ids)} response ids"
                )
            samples.append(
                StepSample(
                    prompt_ids=list(step.prompt_ids),
                    response_ids=list(step.response_ids),
                    old_logprobs=[float(x) for x in step.response_logprobs],
                    advantage=float(a),
                    episode_id=traj.episode_id,
                    group_index=traj.group_index,
                    stage=step.stage,
                )
            )
    return samples


def merge_prefix_chains(samples: Sequence[StepSample]) -> list[StepSample]:
    """Merge consecutive model calls of one trajectory whose prompt extends the previous call's prompt + response
    into one sample: the tokens in between (tool results, the next input) become untrained response tokens.

    A merged sample holds exactly the same trained tokens, at the same positions after the same context, with the
    same old log-probs and advantage, so under causal attention every per-token log-prob — and therefore a
    token-mean loss and its gradient — is unchanged, while the shared prefix is computed once instead of once per
    call (stage 1's calls and the stage-2 → stage-3 hand-over share most of their context). Only a token-level
    loss aggregation is unchanged by merging (the trainer checks `algorithm.loss_agg`). Order is kept.
    """
    merged: list[StepSample] = []
    for sample in samples:
        last = merged[-1] if merged else None
        if last is not None and _extends(last, sample):
            between = sample.prompt_ids[len(last.prompt_ids) + len(last.response_ids):]
            merged[-1] = StepSample(
                prompt_ids=last.prompt_ids,
                response_ids=last.response_ids + between + sample.response_ids,
                old_logprobs=last.old_logprobs + [0.0] * len(between) + sample.old_logprobs,
                advantage=last.advantage,
                episode_id=last.episode_id,
                group_index=last.group_index,
                stage=last.stage,
                ref_logprobs=None if last.ref_logprobs is None or sample.ref_logprobs is None
                else last.ref_logprobs + [0.0] * len(between) + sample.ref_logprobs,
                response_mask=last.loss_mask() + [0] * len(between) + sample.loss_mask(),
            )
        else:
            merged.append(sample)
    return merged


def combine_duplicates(samples: Sequence[StepSample]) -> list[StepSample]:
    """The samples that carry a policy-gradient signal, each once.

    Copies with the same prompt, response and response mask (a confident policy repeats itself: a group's
    stage-1 calls are often identical) become one sample whose advantage is the sum of theirs, and a sample whose
    advantage is, or sums to, zero is dropped. Each copy's loss is −A·ρ per token while the PPO ratio ρ is inside
    the clip range — always, up to engine/actor numerics, for the single on-policy update of a batch — so the
    combined loss and its gradient are unchanged, provided it is divided by the denominator of the *original*
    samples (`plan_micro_batches(..., denominator_samples=…)`). Without KL only: a KL term does not scale with A.
    Old log-probs are the first copy's; order is that of first occurrence.
    """
    combined: dict[tuple, StepSample] = {}
    for sample in samples:
        key = (tuple(sample.prompt_ids), tuple(sample.response_ids), tuple(sample.loss_mask()))
        first = combined.get(key)
        combined[key] = sample if first is None else replace(first, advantage=first.advantage + sample.advantage)
    return [sample for sample in combined.values() if sample.advantage != 0.0]


def _extends(previous: StepSample, sample: StepSample) -> bool:
    """True when `sample` is the next call of `previous`'s trajectory and its prompt starts with all of it."""
    if (sample.episode_id, sample.group_index) != (previous.episode_id, previous.group_index):
        return False
    if sample.advantage != previous.advantage or (sample.ref_logprobs is None) != (previous.ref_logprobs is None):
        return False
    head = len(previous.prompt_ids) + len(previous.response_ids)
    return (len(sample.prompt_ids) >= head and sample.prompt_ids[: len(previous.prompt_ids)] == previous.prompt_ids
            and sample.prompt_ids[len(previous.prompt_ids): head] == previous.response_ids)


def collate(samples: Sequence[StepSample], pad_id: int) -> dict[str, Tensor]:
    """Right-padded batch of prompt + response, aligned as the module docstring states.

    Returns `input_ids` (B, T) int64, `attention_mask` (B, T) int64 (1 on real tokens), `labels` (B, T) int64
    (input_ids shifted left, `pad_id` past the end), `loss_mask` (B, T) float32, `old_logprobs` (B, T) float32,
    `advantages` (B,) float32, and `ref_logprobs` (B, T) float32 when every sample has them.
    Shape: T = max over samples of len(prompt_ids) + len(response_ids).
    """
    if not samples:
        raise ValueError("collate needs at least one sample")
    with_ref = [s.ref_logprobs is not None for s in samples]
    if any(with_ref) and not all(with_ref):
        raise ValueError("either every sample has ref_logprobs or none has")
    width = max(len(s.prompt_ids) + len(s.response_ids) for s in samples)
    shape = (len(samples), width)
    batch = {
        "input_ids": torch.full(shape, pad_id, dtype=torch.long),
        "attention_mask": torch.zeros(shape, dtype=torch.long),
        "labels": torch.full(shape, pad_id, dtype=torch.long),
        "loss_mask": torch.zeros(shape, dtype=torch.float32),
        "old_logprobs": torch.zeros(shape, dtype=torch.float32),
        "advantages": torch.tensor([s.advantage for s in samples], dtype=torch.float32),
    }
    if all(with_ref):
        batch["ref_logprobs"] = torch.zeros(shape, dtype=torch.float32)
    for b, s in enumerate(samples):
        p, r = len(s.prompt_ids), len(s.response_ids)
        if p == 0 or r == 0 or len(s.old_logprobs) != r or len(s.loss_mask()) != r:
            raise ValueError(f"sample {b}: needs a prompt, a response, and one old log-prob and one mask value per "
                             "response id")
        batch["input_ids"][b, : p + r] = torch.tensor(s.prompt_ids + s.response_ids, dtype=torch.long)
        batch["attention_mask"][b, : p + r] = 1
        batch["labels"][b, : p + r - 1] = batch["input_ids"][b, 1 : p + r]
        # the logit at position p − 1 (last prompt token) predicts the first response token
        batch["loss_mask"][b, p - 1 : p + r - 1] = torch.tensor(s.loss_mask(), dtype=torch.float32)
        batch["old_logprobs"][b, p - 1 : p + r - 1] = torch.tensor(s.old_logprobs, dtype=torch.float32)
        if s.ref_logprobs is not None:
            if len(s.ref_logprobs) != r:
                raise ValueError(f"sample {b}: {len(s.ref_logprobs)} ref log-probs for {r} response ids")
            batch["ref_logprobs"][b, p - 1 : p + r - 1] = torch.tensor(s.ref_logprobs, dtype=torch.float32)
    return batch


# What one more micro-batch costs, in padded positions: a forward/backward pass of the tiny model on 2 CPU cores
# costs ≈ 25 ms fixed + 0.1 ms per position.
MICRO_BATCH_POSITIONS = 256


def pack_micro_batches(lengths: Sequence[int], token_budget: int) -> list[list[int]]:
    """Group sample indices into micro-batches whose padded size (longest length × count) fits `token_budget`.

    Cuts the length-sorted samples where the padding saved outweighs one more forward/backward pass
    (`length_partition`); the largest micro-batch comes first (an out-of-memory shows at once) and rows are
    longest first. A sample longer than the budget goes alone. Deterministic.
    """
    if token_budget <= 0:
        raise ValueError(f"token_budget must be positive, got {token_budget}")
    return length_partition(list(lengths), batch_cost=MICRO_BATCH_POSITIONS, max_tokens=token_budget)
