"""Policy loss, KL estimators, aggregation and micro-batch accumulation against hand-computed values."""

import math
import re

import pytest
import torch
from torch import nn

from agemem.rl import (
    AGG_MODES,
    StepSample,
    aggregate,
    collate,
    kl_penalty,
    loss_denominator,
    losses,
    policy_loss,
    token_logprobs,
)

LOSS = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
MASK = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])


@pytest.mark.parametrize(
    ("mode", "constant", "expected"),
    [
        ("token-mean", None, (1 + 2 + 4) / 3),  # 3 loss tokens
        ("seq-mean-token-mean", None, ((1 + 2) / 2 + 4 / 1) / 2),  # 2.75
        ("seq-mean-token-sum", None, ((1 + 2) + 4) / 2),  # 3.5
        ("seq-mean-token-sum-norm", 4.0, ((1 + 2) / 4 + 4 / 4) / 2),  # Dr.GRPO, constant 4: 0.875
    ],
)
def test_aggregate_hand_2x3(mode, constant, expected):
    assert aggregate(LOSS, MASK, mode, constant).item() == pytest.approx(expected)
    # a row with no loss token (padding) counts for nothing, in every mode
    padded = aggregate(
        torch.cat([LOSS, torch.full((1, 3), 9.0)]), torch.cat([MASK, torch.zeros(1, 3)]), mode, constant
    )
    assert padded.item() == pytest.approx(expected)


def test_aggregate_errors_name_valid_options():
    with pytest.raises(ValueError, match="token-mean, seq-mean-token-mean"):
        aggregate(LOSS, MASK, "seq-mean")
    with pytest.raises(ValueError, match="constant"):
        aggregate(LOSS, MASK, "seq-mean-token-sum-norm")
    assert aggregate(LOSS, torch.zeros_like(MASK)).item() == 0.0


def _random_batch(seed: int, b: int = 7, t: int = 9):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(0, t + 1, (b,), generator=g)
    lengths[3] = 0  # one sequence without loss tokens
    mask = (torch.arange(t)[None, :] < lengths[:, None]).float()
    return torch.randn(b, t, generator=g, dtype=torch.float64), mask


@pytest.mark.parametrize("mode", AGG_MODES)
def test_micro_batches_sum_to_full_batch(mode):
    loss_mat, mask = _random_batch(0)
    constant = 12.0 if mode == "seq-mean-token-sum-norm" else None
    full_leaf = loss_mat.clone().requires_grad_(True)
    full = aggregate(full_leaf, mask, mode, constant)
    full.backward()

    parts = [[0, 1, 2], [3], [4, 5], [6]]
    # each micro-batch padded only to its own longest row, as the trainer's collate does
    widths = [int(mask[p].sum(-1).max().clamp(min=1)) for p in parts]
    global_den = sum(loss_denominator(mask[p, :w], mode) for p, w in zip(parts, widths))
    leaf = loss_mat.clone().requires_grad_(True)
    total = sum(
        aggregate(leaf[p, :w], mask[p, :w], mode, constant, global_den) for p, w in zip(parts, widths)
    )
    total.backward()
    assert total.item() == pytest.approx(full.item(), rel=1e-12)
    assert torch.allclose(leaf.grad, full_leaf.grad, atol=1e-14)

    # two data-parallel ranks whose gradients are averaged: each passes global_den / world_size
    ranks = [[[0, 1], [2, 3]], [[4, 5, 6]]]
    den = sum(loss_denominator(mask[p], mode) for r in ranks for p in r) / 2
    averaged = sum(sum(aggregate(loss_mat[p], mask[p], mode, constant, den) for p in r) for r in ranks) / 2
    assert averaged.item() == pytest.approx(full.item(), rel=1e-12)


@pytest.mark.parametrize("mode", AGG_MODES)
def test_policy_loss_micro_batches_sum_to_full_batch(mode):
    _, mask = _random_batch(1)
    g = torch.Generator().manual_seed(2)
    logp = -torch.rand(mask.shape, generator=g, dtype=torch.float64)
    old = logp + 0.3 * torch.randn(mask.shape, generator=g, dtype=torch.float64)
    adv = torch.randn(mask.shape[0], generator=g, dtype=torch.float64)
    kw = {"agg": mode, "agg_constant": 12.0, "dual_clip_c": 3.0}
    full, _ = policy_loss(logp, old, adv, mask, **kw)
    parts = [[0, 4], [1, 2, 3], [5, 6]]
    den = sum(loss_denominator(mask[p], mode) for p in parts)
    total = sum(policy_loss(logp[p], old[p], adv[p], mask[p], global_denominator=den, **kw)[0] for p in parts)
    assert total.item() == pytest.approx(full.item(), rel=1e-12)


def test_dual_clip_by_hand():
    # token 0: A = −1, ratio 5 → max(5, 1.2) = 5, capped by the dual clip at −A·c = 3 → 3
    # token 1: A = +1, ratio 5 → max(−5, −1.2) = −1.2 (ratio clipped)
    # token 2: A = −1, ratio 0.5 → max(0.5, 0.8) = 0.8 (ratio clipped), below the cap 3
    old = torch.zeros(1, 3)
    logp = torch.tensor([[math.log(5.0), math.log(5.0), math.log(0.5)]], requires_grad=True)
    adv = torch.tensor([[-1.0, 1.0, -1.0]])
    mask = torch.ones(1, 3)
    loss, metrics = policy_loss(logp, old, adv, mask, dual_clip_c=3.0)
    assert loss.item() == pytest.approx((3.0 - 1.2 + 0.8) / 3)
    assert metrics["actor/pg_clipfrac"] == pytest.approx(2 / 3)
    assert metrics["actor/pg_clipfrac_lower"] == pytest.approx(1 / 3)
    assert metrics["actor/ppo_kl"] == pytest.approx(-(2 * math.log(5.0) + math.log(0.5)) / 3)
    loss.backward()
    assert logp.grad.eq(0).all()  # every token is clipped: no gradient anywhere

    plain, plain_metrics = policy_loss(logp.detach(), old, adv, mask)
    assert plain.item() == pytest.approx((5.0 - 1.2 + 0.8) / 3)
    assert plain_metrics["actor/pg_clipfrac_lower"] == 0.0
    with pytest.raises(ValueError, match="> 1"):
        policy_loss(logp, old, adv, mask, dual_clip_c=1.0)


def test_asymmetric_clip_and_sequence_advantages():
    ratios = torch.tensor([[1.25, 1.5, 0.85, 0.95]])
    adv = torch.tensor([1.0])  # (B,): broadcast over tokens
    loss, metrics = policy_loss(
        ratios.log(), torch.zeros(1, 4), adv, torch.ones(1, 4), clip_low=0.1, clip_high=0.3
    )
    # A > 0: −min(ρ, 1.3) on the upside; −ρ for ρ < 1 (the low clip only binds for A < 0)
    assert loss.item() == pytest.approx(-(1.25 + 1.3 + 0.85 + 0.95) / 4)
    assert metrics["actor/pg_clipfrac"] == pytest.approx(1 / 4)
    neg, neg_metrics = policy_loss(
        ratios.log(), torch.zeros(1, 4), -adv, torch.ones(1, 4), clip_low=0.1, clip_high=0.3
    )
    # A < 0: max(ρ, clip(ρ, 0.9, 1.3)) → 1.25, 1.5, 0.9, 0.95
    assert neg.item() == pytest.approx((1.25 + 1.5 + 0.9 + 0.95) / 4)
    assert neg_metrics["actor/pg_clipfrac"] == pytest.approx(1 / 4)


def test_kl_estimators_by_hand():
    logp, ref = torch.tensor([[math.log(0.5), -1.0]]), torch.tensor([[math.log(0.25), -1.0]])
    ln2 = math.log(2.0)
    assert kl_penalty(logp, ref, "k1")[0].tolist() == pytest.approx([ln2, 0.0])
    assert kl_penalty(logp, ref, "k2")[0].tolist() == pytest.approx([0.5 * ln2**2, 0.0])
    # k3 = e^{−ln2} + ln2 − 1
    assert kl_penalty(logp, ref, "k3")[0].tolist() == pytest.approx([0.5 + ln2 - 1.0, 0.0])
    huge = kl_penalty(torch.tensor([[-40.0]]), torch.tensor([[0.0]]), "k3")
    assert huge.item() == 10.0  # log ratio clamped to 20, result clamped to 10, as verl
    with pytest.raises(ValueError, match="k1, k2, k3"):
        kl_penalty(logp, ref, "low_var")


@pytest.mark.parametrize("temperature", [0.5, 0.6, 2.0])
def test_token_logprobs_matches_log_softmax(temperature):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 5, 11, generator=g, requires_grad=True)
    labels = torch.randint(0, 11, (2, 5), generator=g)
    got = token_logprobs(logits, labels, temperature=temperature)
    want = torch.log_softmax(logits / temperature, dim=-1).gather(-1, labels[..., None]).squeeze(-1)
    assert torch.allclose(got, want, atol=1e-6)
    (grad_got,) = torch.autograd.grad(got.sum(), logits)
    (grad_want,) = torch.autograd.grad(want.sum(), logits)
    assert torch.allclose(grad_got, grad_want, atol=1e-6)
    assert torch.equal(token_logprobs(logits, labels, 0.0), token_logprobs(logits, labels, 1.0))
    bf16 = token_logprobs(logits.detach().bfloat16(), labels, 1.0)
    assert bf16.dtype == torch.float32 and torch.allclose(bf16, token_logprobs(logits, labels), atol=0.05)


def exactly(message: str) -> str:
    """A `pytest.raises` pattern matching the whole message and nothing else."""
    return f"^{re.escape(message)}$"


def test_token_logprobs_rejects_what_it_cannot_read_and_handles_an_empty_batch():
    logits, labels = torch.zeros(2, 5, 11), torch.zeros(2, 5, dtype=torch.long)
    with pytest.raises(ValueError, match=exactly("logits (2, 5, 11) and labels (2, 4) must be (B, T, V), (B, T)")):
        token_logprobs(logits, labels[:, :4])
    with pytest.raises(ValueError, match=exactly("temperature must be ≥ 0, got -1.0")):
        token_logprobs(logits, labels, -1.0)
    empty = token_logprobs(torch.zeros(0, 5, 11, dtype=torch.bfloat16), labels[:0])
    assert empty.shape == (0, 5) and empty.dtype == torch.float32


def test_token_logprobs_never_hands_cross_entropy_more_than_a_chunk_of_logits(monkeypatch):
    """A large vocabulary never makes a (B, T, V) float32 temporary: rows go to cross-entropy in chunks."""
    seen = []
    cross_entropy = torch.nn.functional.cross_entropy
    monkeypatch.setattr(torch.nn.functional, "cross_entropy",
                        lambda x, *a, **kw: (seen.append(x.numel()), cross_entropy(x, *a, **kw))[1])
    g = torch.Generator().manual_seed(0)
    logits, labels = torch.randn(5, 3, 4, generator=g), torch.randint(0, 4, (5, 3), generator=g)
    want = token_logprobs(logits, labels)
    for limit, chunks in [(2 * 3 * 4, [24, 24, 12]), (3 * 4, [12] * 5), (5, [12] * 5)]:  # 2 rows, 1 row, < 1 row
        seen.clear()
        monkeypatch.setattr(losses, "CE_CHUNK_ELEMENTS", limit)
        assert torch.equal(token_logprobs(logits, labels), want)
        assert seen == chunks, limit


def test_aggregate_messages_and_a_fractional_global_denominator():
    with pytest.raises(ValueError, match=exactly("loss_mat (2, 3) and mask (2, 2) differ")):
        aggregate(LOSS, MASK[:, :2])
    with pytest.raises(ValueError, match=exactly(
            "seq-mean-token-sum-norm needs `constant` (e.g. the maximum response length)")):
        aggregate(LOSS, MASK, "seq-mean-token-sum-norm")
    # One loss token on each of 2 data-parallel ranks: the denominator passed is 2 / 2 = 1, and 1 / 2 = 0.5 with
    # one token in all; a denominator below 1 is used as it is.
    assert aggregate(LOSS, MASK, "token-mean", global_denominator=0.5).item() == pytest.approx((1 + 2 + 4) / 0.5)


def test_extreme_ratios_are_clamped_as_verl_does():
    # log-ratio ±50 is clamped to ±20: a finite loss, and ppo_kl from the clamped log-ratio.
    old, mask = torch.zeros(1, 2, dtype=torch.float64), torch.ones(1, 2)
    logp = torch.tensor([[50.0, -50.0]], dtype=torch.float64)
    loss, metrics = policy_loss(logp, old, torch.tensor([-1.0]), mask)
    # A = −1: max(ρ, clip(ρ)) → e^20 on the first token, 0.8 (clipped) on the second
    assert loss.item() == pytest.approx((math.exp(20.0) + 0.8) / 2)
    assert metrics["actor/ppo_kl"] == pytest.approx(0.0) and metrics["actor/pg_clipfrac"] == 0.5
    up, up_metrics = policy_loss(logp[:, :1], old[:, :1], torch.tensor([-1.0]), mask[:, :1])
    assert up.item() == pytest.approx(math.exp(20.0)) and up_metrics["actor/ppo_kl"] == pytest.approx(-20.0)
    down, down_metrics = policy_loss(logp[:, 1:], old[:, 1:], torch.tensor([1.0]), mask[:, 1:])
    assert down.item() == pytest.approx(-math.exp(-20.0), rel=1e-9) and down_metrics["actor/ppo_kl"] == 20.0


def test_dual_clip_leaves_positive_advantages_and_its_own_bound_alone():
    old, mask = torch.zeros(1, 3, dtype=torch.float64), torch.ones(1, 3)
    logp = torch.tensor([[math.log(5.0), 0.0, math.log(0.5)]], dtype=torch.float64)
    for adv in (0.5, 1.0):  # below and at 1: the dual clip is for A < 0 only
        advantages = torch.tensor([adv], dtype=torch.float64)
        dual, metrics = policy_loss(logp, old, advantages, mask, dual_clip_c=3.0)
        assert dual.item() == pytest.approx(policy_loss(logp, old, advantages, mask)[0].item())
        assert metrics["actor/pg_clipfrac_lower"] == 0.0
    # A = −1 and ratio exactly c = 2 (e^{ln 2} is 2.0 in float64): the loss equals the cap; the bound does not bind.
    at_cap = torch.tensor([[math.log(2.0)]], dtype=torch.float64)
    loss, metrics = policy_loss(at_cap, old[:, :1], torch.tensor([-1.0]), mask[:, :1], dual_clip_c=2.0)
    assert loss.item() == 2.0 and metrics["actor/pg_clipfrac_lower"] == 0.0
    policy_loss(at_cap, old[:, :1], torch.tensor([-1.0]), mask[:, :1], dual_clip_c=1.5)  # any c > 1 is valid


def test_metrics_of_a_single_token():
    loss, metrics = policy_loss(torch.tensor([[math.log(5.0)]]), torch.zeros(1, 1), torch.tensor([1.0]),
                                torch.ones(1, 1))
    assert loss.item() == pytest.approx(-1.2)  # A = 1, ratio 5 clipped to 1.2
    assert metrics["actor/pg_clipfrac"] == 1.0 and metrics["actor/ppo_kl"] == pytest.approx(-math.log(5.0))


def test_kl_default_is_k3_and_a_huge_log_ratio_keeps_gradients_finite():
    logp, ref = torch.tensor([[math.log(0.5), -1.0]]), torch.tensor([[math.log(0.25), -1.0]])
    assert torch.equal(kl_penalty(logp, ref), kl_penalty(logp, ref, "k3"))
    # log π_ref − log π = 100: e^100 overflows float32; the log-ratio clamp (±20) keeps the gradient finite.
    far = torch.tensor([[-100.0]], requires_grad=True)
    value = kl_penalty(far, torch.zeros(1, 1), "k3")
    value.sum().backward()
    assert value.item() == 10.0 and torch.isfinite(far.grad).all()


class BigramLM(nn.Module):
    """The smallest next-token model: logits depend on the current token only."""

    def __init__(self, vocab: int = 12, dim: int = 8) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.head = nn.Linear(dim, vocab)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(input_ids))


def _response_logprobs(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    logp = token_logprobs(model(batch["input_ids"]), batch["labels"], 1.0)
    return (logp * batch["loss_mask"]).sum(-1)


def test_one_update_raises_positive_and_lowers_negative_response():
    torch.manual_seed(0)
    model = BigramLM()
    prompt, good, bad = [1, 2], [3, 4, 0], [5, 6]
    with torch.no_grad():
        olds = []
        for resp in (good, bad):
            ids = torch.tensor([prompt + resp])
            lp = token_logprobs(model(ids[:, :-1]), ids[:, 1:], 1.0)[0, len(prompt) - 1 :]
            olds.append(lp.tolist())
    samples = [
        StepSample(prompt, good, olds[0], advantage=1.0, episode_id="q", group_index=0, stage=3),
        StepSample(prompt, bad, olds[1], advantage=-1.0, episode_id="q", group_index=1, stage=3),
    ]
    batch = collate(samples, pad_id=0)
    before = _response_logprobs(model, batch).detach()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    logp = token_logprobs(model(batch["input_ids"]), batch["labels"], 1.0)
    loss, metrics = policy_loss(logp, batch["old_logprobs"], batch["advantages"], batch["loss_mask"])
    # ratio 1 everywhere: collate aligned the rollout log-probs with the recomputed ones
    assert abs(metrics["actor/ppo_kl"]) < 1e-6
    loss.backward()
    opt.step()
    after = _response_logprobs(model, batch).detach()
    assert after[0] > before[0] + 1e-3 and after[1] < before[1] - 1e-3
