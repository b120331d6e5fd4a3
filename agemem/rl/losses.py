"""Token log-probs, the clipped policy-gradient loss, KL estimators and loss aggregation (SPEC.md §5).

Shape legend (all of agemem.rl): B batch, G group, T tokens, V vocab.

Gradient accumulation. The trainer splits one batch into micro-batches and must get exactly the gradient of the
whole batch. Every aggregation mode is a sum over micro-batches of `numerator / denominator` once the
denominator is the whole batch's:
- "token-mean": Σ loss·mask / (number of loss tokens in the whole batch);
- "seq-mean-*": Σ over sequences of a per-sequence loss / (number of sequences in the whole batch).
So the trainer computes `loss_denominator(mask, mode)` for every micro-batch before the first backward, sums
them (and all-reduces the sum across data-parallel ranks), and passes that sum as `global_denominator` to every
micro-batch's `aggregate` / `policy_loss`. Then Σ_micro aggregate(...) == aggregate(whole batch) exactly, so the
micro-batch losses must simply be added (backward on each, no 1/num_micro_batches factor: turn off or undo any
gradient-accumulation scaling the backend applies). A backend that averages gradients across W ranks (DDP,
DeepSpeed) needs `global_denominator = global_sum / W` so that the average equals the global mean (verl
multiplies by dp_size for the same reason). Sequences with no loss token are not counted (padding rows added to
even out micro-batch counts change nothing).
"""

import torch
import torch.nn.functional as F
from torch import Tensor

AGG_MODES = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm")
KL_KINDS = ("k1", "k2", "k3")
# Most logits one fused cross-entropy call sees (float32: 256 MiB); rows are chunked to stay under it.
CE_CHUNK_ELEMENTS = 2**26
LOG_RATIO_CLAMP = 20.0  # |log π/π_old| beyond this would overflow exp; verl clamps the same way


def token_logprobs(logits: Tensor, labels: Tensor, temperature: float = 1.0) -> Tensor:
    """log_softmax(logits / temperature) gathered at `labels`, in float32 (engine.py records the same quantity).

    Computed with a fused cross-entropy over chunks of rows holding at most `CE_CHUNK_ELEMENTS` logits, so a
    large vocabulary never needs a (B, T, V) float32 temporary, while a small model is not slowed down by one
    kernel launch per row (row by row made the tiny model's backward pass 2.4× slower). Temperature 0 (greedy
    decoding) means no scaling, as engine.py records it. Labels equal to -100 give 0.

    Shape: logits (B, T, V), labels (B, T) → (B, T) float32.
    """
    if logits.dim() != 3 or labels.shape != logits.shape[:2]:
        raise ValueError(
            f"logits {tuple(logits.shape)} and labels {tuple(labels.shape)} must be (B, T, V), (B, T)"
        )
    if temperature < 0:
        raise ValueError(f"temperature must be ≥ 0, got {temperature}")
    scale = 1.0 if temperature == 0 else 1.0 / temperature
    batch, width, vocab = logits.shape
    if batch == 0:
        return logits.new_zeros(labels.shape, dtype=torch.float32)
    rows_per_chunk = max(1, CE_CHUNK_ELEMENTS // max(width * vocab, 1))
    chunks = []
    for start in range(0, batch, rows_per_chunk):
        chunk = logits[start : start + rows_per_chunk].float()  # a no-op for float32 logits
        chunk = chunk * scale if scale != 1.0 else chunk
        target = labels[start : start + rows_per_chunk].long()
        nll = F.cross_entropy(chunk.reshape(-1, vocab), target.reshape(-1), reduction="none")
        chunks.append(-nll.view(target.shape))
    return torch.cat(chunks)


def loss_denominator(mask: Tensor, mode: str) -> float:
    """This micro-batch's share of the whole batch's denominator for `aggregate(..., mode)`: its number of loss
    tokens ("token-mean") or of sequences with at least one loss token ("seq-mean-*"). Sum it over micro-batches
    (and ranks) to get `global_denominator`.

    Shape: mask (B, T) → float.
    """
    _check_mode(mode)
    if mode == "token-mean":
        return float(mask.sum().item())
    return float((mask.sum(dim=-1) > 0).sum().item())


def aggregate(
    loss_mat: Tensor,
    mask: Tensor,
    mode: str = "token-mean",
    constant: float | None = None,
    global_denominator: float | None = None,
) -> Tensor:
    """Reduce a per-token loss to a scalar.

    - "token-mean": Σ l·m / Σ m (every token weighs the same);
    - "seq-mean-token-mean": mean over sequences of each sequence's token mean;
    - "seq-mean-token-sum": mean over sequences of each sequence's token sum;
    - "seq-mean-token-sum-norm" (Dr.GRPO): mean over sequences of token sum / `constant` (e.g. the maximum
      response length; required, since a batch-dependent default such as T would break micro-batching).
    `global_denominator` replaces this micro-batch's own token / sequence count (see the module docstring);
    sequences without loss tokens are never counted. An empty mask gives 0.

    Shape: loss_mat (B, T), mask (B, T) → scalar.
    """
    _check_mode(mode)
    if loss_mat.shape != mask.shape:
        raise ValueError(f"loss_mat {tuple(loss_mat.shape)} and mask {tuple(mask.shape)} differ")
    if mode == "seq-mean-token-sum-norm" and constant is None:
        raise ValueError("seq-mean-token-sum-norm needs `constant` (e.g. the maximum response length)")
    m = mask.to(loss_mat.dtype)
    denominator = loss_denominator(mask, mode) if global_denominator is None else float(global_denominator)
    denominator = denominator if denominator > 0 else 1.0  # nothing to average: the numerator is 0 too
    if mode == "token-mean":
        return (loss_mat * m).sum() / denominator
    seq_sum = (loss_mat * m).sum(dim=-1)
    if mode == "seq-mean-token-mean":
        seq_sum = seq_sum / m.sum(dim=-1).clamp(min=1)
    elif mode == "seq-mean-token-sum-norm":
        assert constant is not None
        seq_sum = seq_sum / constant
    return seq_sum.sum() / denominator


def policy_loss(
    logprobs: Tensor,
    old_logprobs: Tensor,
    advantages: Tensor,
    mask: Tensor,
    *,
    clip_low: float = 0.2,
    clip_high: float = 0.2,
    dual_clip_c: float | None = None,
    agg: str = "token-mean",
    agg_constant: float | None = None,
    global_denominator: float | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """PPO clipped surrogate −min(ρ·A, clip(ρ, 1 − clip_low, 1 + clip_high)·A), ρ = exp(logp − old_logp),
    with verl's dual clip: for A < 0 the loss is also capped at −A·c (c > 1), so a huge ratio on a bad token
    cannot blow the gradient up. Aggregated by `aggregate(…, agg, agg_constant, global_denominator)`.

    Metrics (masked means over this micro-batch, plain floats): `actor/pg_clipfrac` (fraction of tokens where
    the ratio clip bound), `actor/ppo_kl` (mean of old_logp − logp), `actor/pg_clipfrac_lower` (fraction where
    the dual clip bound; 0 without it).

    Shape: logprobs (B, T), old_logprobs (B, T), advantages (B,) or (B, T), mask (B, T) → (scalar, metrics).
    """
    if dual_clip_c is not None and dual_clip_c <= 1.0:
        raise ValueError(f"dual_clip_c must be > 1, got {dual_clip_c}")
    adv = advantages.unsqueeze(-1) if advantages.dim() == 1 else advantages
    adv = adv.to(logprobs.dtype)
    log_ratio = (logprobs - old_logprobs).clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)
    ratio = torch.exp(log_ratio)
    unclipped = -adv * ratio
    clipped = -adv * ratio.clamp(1.0 - clip_low, 1.0 + clip_high)
    loss_mat = torch.maximum(unclipped, clipped)
    clipfrac = (clipped > unclipped).to(logprobs.dtype)
    dual_frac = torch.zeros_like(clipfrac)
    if dual_clip_c is not None:
        cap = -adv * dual_clip_c
        negative = (adv < 0).expand_as(loss_mat)
        dual_frac = ((loss_mat > cap) & negative).to(logprobs.dtype)
        loss_mat = torch.where(negative, torch.minimum(loss_mat, cap), loss_mat)
    loss = aggregate(loss_mat, mask, agg, agg_constant, global_denominator)
    with torch.no_grad():
        metrics = {
            "actor/pg_clipfrac": _masked_mean(clipfrac, mask),
            "actor/ppo_kl": _masked_mean(-log_ratio, mask),
            "actor/pg_clipfrac_lower": _masked_mean(dual_frac, mask),
        }
    return loss, metrics


def kl_penalty(logprobs: Tensor, ref_logprobs: Tensor, kind: str = "k3") -> Tensor:
    """Per-token estimate of KL(π_θ ‖ π_ref) from sampled tokens (Schulman's estimators, as in verl):
    k1 = logp − ref; k2 = ½(logp − ref)²; k3 = exp(ref − logp) − (ref − logp) − 1 (verl's low_var_kl; the log
    ratio clamped to ±20 and the result to [−10, 10], as verl does).

    Shape: logprobs (B, T), ref_logprobs (B, T) → (B, T).
    """
    if kind == "k1":
        return logprobs - ref_logprobs
    if kind == "k2":
        return 0.5 * (logprobs - ref_logprobs).square()
    if kind == "k3":
        log_ratio = (ref_logprobs - logprobs).clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)
        return (torch.exp(log_ratio) - log_ratio - 1.0).clamp(-10.0, 10.0)
    raise ValueError(f"unknown KL estimator {kind!r}; valid: {', '.join(KL_KINDS)}")


def _check_mode(mode: str) -> None:
    if mode not in AGG_MODES:
        raise ValueError(f"unknown loss aggregation mode {mode!r}; valid: {', '.join(AGG_MODES)}")


def _masked_mean(values: Tensor, mask: Tensor) -> float:
    m = mask.to(values.dtype)
    return float(((values * m).sum() / m.sum().clamp(min=1)).item())
