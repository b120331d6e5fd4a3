"""The actor update: step samples → micro-batches packed by a token budget → exactly one optimizer step.

Losses are normalised by the WHOLE batch's denominator (all micro-batches, all ranks; agemem.rl.losses), so the
accumulated gradient equals the full-batch gradient however the samples were split. Every rank runs the same
number of micro-batches (ZeRO-3 gathers parameters collectively); a rank with fewer runs empty ones.
"""

from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

import torch

from agemem.collective import all_reduce_max, all_reduce_sum
from agemem.rl import (
    StepSample,
    collate,
    combine_duplicates,
    kl_penalty,
    loss_denominator,
    pack_micro_batches,
    policy_loss,
    token_logprobs,
)
from agemem.rl.losses import aggregate
from agemem.train.config import AlgorithmConfig

if TYPE_CHECKING:  # deepspeed is imported where it runs only (a slow import)
    from deepspeed import DeepSpeedEngine


def _forward_logprobs(module: torch.nn.Module, batch: dict[str, torch.Tensor], temperature: float) -> torch.Tensor:
    """Log-probs of every label under the model. Shape: (B, T)."""
    logits = module(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return token_logprobs(logits, batch["labels"], temperature)


def _to(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in batch.items()}


def lockstep(batches: list[dict[str, torch.Tensor]], device: torch.device,
             ) -> Iterator[tuple[int, dict[str, torch.Tensor], bool, bool]]:
    """This rank's micro-batches, as many as the rank with the most: a ZeRO-3 module gathers its parameters
    collectively in every forward, so every rank must run the same number. A rank with fewer reruns its first
    batch as padding (its loss is scaled by 0, its outputs discarded). Yields (index, batch on `device`,
    is_padding, is_last)."""
    n = all_reduce_max(len(batches))
    for i in range(n):
        padding = i >= len(batches)
        yield i, _to(batches[0 if padding else i], device), padding, i == n - 1


@torch.no_grad()
def recompute_logprobs(module: torch.nn.Module, samples: list[StepSample], token_budget: int, pad_id: int, temperature: float,
                       device: torch.device) -> list[list[float]]:
    """Per-sample log-probs of the response ids under `module` (old policy or reference), in sample order."""
    micro = pack_micro_batches([len(s.prompt_ids) + len(s.response_ids) for s in samples], token_budget)
    out: list[list[float]] = [[] for _ in samples]
    for n, batch, padding, _ in lockstep([collate([samples[i] for i in m], pad_id) for m in micro], device):
        logprobs = _forward_logprobs(module, batch, temperature)
        if padding:
            continue
        for row, i in enumerate(micro[n]):
            p, r = len(samples[i].prompt_ids), len(samples[i].response_ids)
            # one value per response id; 0 on the untrained context ids inside a merged sample
            out[i] = (logprobs[row, p - 1 : p + r - 1] * batch["loss_mask"][row, p - 1 : p + r - 1]).tolist()
    return out


def attach_recomputed_logprobs(samples: list[StepSample], actor: "DeepSpeedEngine",
                               reference: torch.nn.Module | None, alg: AlgorithmConfig, *,
                               token_budget: int, pad_id: int, temperature: float) -> None:
    """The one place recomputed log-probs join the samples: the actor's before its update as the old policy
    (algorithm.old_logprobs=recompute; else the engine's recorded ones stay) and the reference model's for the
    KL term (a reference exists when algorithm.kl_coef > 0)."""
    if alg.old_logprobs == "recompute":
        for s, lp in zip(samples, recompute_logprobs(actor.module, samples, token_budget, pad_id, temperature,
                                                     actor.device)):
            s.old_logprobs = lp
    if reference is not None:
        for s, lp in zip(samples, recompute_logprobs(reference, samples, token_budget, pad_id, temperature,
                                                     actor.device)):
            s.ref_logprobs = lp


def plan_micro_batches(samples: list[StepSample], token_budget: int, pad_id: int, loss_agg: str,
                       world_size: int, denominator_samples: list[StepSample] | None = None,
                       ) -> tuple[list[dict[str, torch.Tensor]], float]:
    """This rank's collated micro-batches and the loss denominator of the whole batch (all micro-batches, all ranks) that makes accumulation exact. The denominator counts
    `denominator_samples` when given (the batch before `combine_duplicates`), else `samples`."""
    micro = pack_micro_batches([len(s.prompt_ids) + len(s.response_ids) for s in samples], token_budget)
    batches = [collate([samples[i] for i in indices], pad_id) for indices in micro]
    local = sum(loss_denominator(torch.tensor([s.loss_mask()], dtype=torch.float32), loss_agg)
                for s in (samples if denominator_samples is None else denominator_samples))
    # DeepSpeed averages gradients over ranks: divide the global denominator by the world size to undo it.
    denominator = max(all_reduce_sum([local])[0], 1.0) / world_size
    return batches, denominator


def mini_batches(samples: list[StepSample], count: int) -> list[list[StepSample]]:
    """`samples` cut into `count` contiguous mini-batches of sizes differing by at most one (some empty when there
    are fewer samples than `count`): every rank makes the same number of optimizer steps, whatever its share."""
    size, extra = divmod(len(samples), count)
    bounds = [i * size + min(i, extra) for i in range(count + 1)]
    return [samples[bounds[i]:bounds[i + 1]] for i in range(count)]


def update_actor(actor: "DeepSpeedEngine", samples: list[StepSample], alg: AlgorithmConfig, *, token_budget: int, pad_id: int,
                 temperature: float, agg_constant: float, world_size: int) -> dict[str, float]:
    """The update of one rollout batch (`samples`: this rank's share): `alg.ppo_epochs` passes over it, each cut
    into `alg.ppo_mini_batches` mini-batches with one optimizer step each (1 × 1, the default, is the single
    on-policy step of SPEC.md §5). From the second optimizer step on the policy differs from the one that sampled
    (the recorded old log-probs), so the PPO ratio moves away from 1 and the clip bounds the step. Returns the
    actor/ metrics: clip and KL figures token-weighted over all steps, losses summed over mini-batches and
    averaged over epochs, the last step's grad norm and LR."""
    updates = alg.ppo_epochs * alg.ppo_mini_batches
    totals: dict[str, float] = {}
    for _ in range(alg.ppo_epochs):
        for part in mini_batches(samples, alg.ppo_mini_batches):
            metrics = _optimizer_step(actor, part, samples[0], alg, token_budget=token_budget, pad_id=pad_id,
                                      temperature=temperature, agg_constant=agg_constant, world_size=world_size)
            for key, value in metrics.items():
                totals[key] = totals.get(key, 0.0) + value
    tokens = max(totals.pop("tokens"), 1.0)
    out = {key: totals[key] / tokens for key in ("actor/pg_clipfrac", "actor/ppo_kl", "actor/pg_clipfrac_lower")}
    out.update({key: totals[key] / alg.ppo_epochs for key in ("actor/pg_loss", "actor/kl_loss", "actor/micro_batches",
                                                               "actor/trained_samples")})
    out["actor/grad_norm"], out["actor/lr"] = metrics["actor/grad_norm"], metrics["actor/lr"]
    out["actor/samples"] = float(len(samples))
    out["actor/optimizer_steps"] = float(updates)
    return out


def _optimizer_step(actor: "DeepSpeedEngine", samples: list[StepSample], stand_in: StepSample, alg: AlgorithmConfig,
                    *, token_budget: int, pad_id: int, temperature: float, agg_constant: float, world_size: int,
                    ) -> dict[str, float]:
    """One optimizer step on `samples` (this rank's share of a mini-batch, possibly empty; `stand_in` runs in its
    place then). Returns summed losses, token-weighted sums of the clip/KL figures with their token count
    ("tokens"), grad norm and LR."""
    trained = samples
    if alg.combine_duplicates and samples:
        trained = combine_duplicates(samples)
    # Every rank runs at least one micro-batch (collectives): a rank with nothing to train (its mini-batch is empty,
    # or every sample combined away) runs the stand-in with its loss scaled by 0.
    idle = not trained
    if idle:
        trained = [replace(samples[0] if samples else stand_in, advantage=0.0)]
    batches, denominator = plan_micro_batches(trained, token_budget, pad_id, alg.loss_agg, world_size,
                                              denominator_samples=samples)
    actor.train()
    sums = {"actor/pg_loss": 0.0, "actor/kl_loss": 0.0, "actor/pg_clipfrac": 0.0, "actor/ppo_kl": 0.0,
            "actor/pg_clipfrac_lower": 0.0, "actor/micro_batches": 0.0, "tokens": 0.0}
    for _, batch, padding, last in lockstep(batches, actor.device):
        actor.set_gradient_accumulation_boundary(last)
        sums["actor/micro_batches"] += 1
        empty = padding or idle
        logprobs = _forward_logprobs(actor, batch, temperature)
        pg_loss, metrics = policy_loss(
            logprobs, batch["old_logprobs"], batch["advantages"], batch["loss_mask"],
            clip_low=alg.clip_low, clip_high=alg.clip_high, dual_clip_c=alg.dual_clip_c, agg=alg.loss_agg,
            agg_constant=agg_constant, global_denominator=denominator,
        )
        loss = pg_loss
        if alg.kl_coef > 0:
            kl = aggregate(kl_penalty(logprobs, batch["ref_logprobs"], alg.kl_estimator), batch["loss_mask"],
                           alg.loss_agg, agg_constant, denominator)
            loss = loss + alg.kl_coef * kl
            sums["actor/kl_loss"] += 0.0 if empty else kl.item()
        actor.backward(loss * (0.0 if empty else 1.0), scale_wrt_gas=False)
        if not empty:
            sums["actor/pg_loss"] += pg_loss.item()
            tokens = float(batch["loss_mask"].sum())
            sums["tokens"] += tokens
            for key in ("actor/pg_clipfrac", "actor/ppo_kl", "actor/pg_clipfrac_lower"):
                sums[key] += metrics[key] * tokens
    actor.step()
    grad_norm = actor.get_global_grad_norm()
    sums["actor/grad_norm"] = float(grad_norm) if grad_norm is not None else 0.0
    sums["actor/lr"] = float(actor.get_lr()[0])
    sums["actor/trained_samples"] = 0.0 if idle else float(len(trained))
    return sums


def sft_update(actor: "DeepSpeedEngine", samples: list[StepSample], token_budget: int, pad_id: int, world_size: int) -> float:
    """One optimizer step of token-mean NLL on the response tokens; micro-batches as in the RL update."""
    batches, denominator = plan_micro_batches(samples, token_budget, pad_id, "token-mean", world_size)
    total = 0.0
    for _, batch, padding, last in lockstep(batches, actor.device):
        actor.set_gradient_accumulation_boundary(last)
        logits = actor(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        nll = -token_logprobs(logits, batch["labels"], 1.0)
        loss = aggregate(nll, batch["loss_mask"], "token-mean", None, denominator)
        actor.backward(loss * (0.0 if padding else 1.0), scale_wrt_gas=False)
        total += 0.0 if padding else loss.item()
    actor.step()
    return total
