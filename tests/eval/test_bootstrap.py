"""Bootstrap confidence intervals, the paired comparison and the aggregation of per-episode rows, on samples
whose answers are known: a Bernoulli sample of mean exactly 0.3, constant samples, paired data with a gap."""

import json
import math

import numpy as np
import pytest

from agemem.eval import bootstrap
from agemem.eval.bootstrap import (
    Estimate,
    aggregate,
    bootstrap_ci,
    compare_agents,
    group_mean_ci,
    paired_bootstrap,
)


def _bernoulli(ones: int, n: int, seed: int = 0) -> np.ndarray:
    values = np.zeros(n)
    values[:ones] = 1.0
    return np.random.default_rng(seed).permutation(values)


def test_bernoulli_ci_covers_p_with_the_expected_width():
    sample = _bernoulli(600, 2000)  # mean exactly 0.3
    mean, low, high, n = bootstrap_ci(sample)
    assert (mean, n) == (pytest.approx(0.3), 2000)
    assert low < 0.3 < high
    expected_half_width = 1.96 * math.sqrt(0.3 * 0.7 / 2000)  # 0.0201
    assert high - low == pytest.approx(2 * expected_half_width, rel=0.12)
    assert 0.3 - low == pytest.approx(expected_half_width, rel=0.2)
    assert high - 0.3 == pytest.approx(expected_half_width, rel=0.2)


def test_ci_coverage_is_near_nominal():
    # 300 samples of Bernoulli(0.3), n = 100: about 95% of their intervals contain 0.3.
    rng = np.random.default_rng(1)
    hits = []
    for i in range(300):
        _, low, high, _ = bootstrap_ci(rng.random(100) < 0.3, n_resamples=500, seed=i)
        hits.append(low <= 0.3 <= high)
    assert 0.91 <= np.mean(hits) <= 0.98


def test_confidence_level_sets_the_width():
    sample = _bernoulli(600, 2000)
    wide, narrow = bootstrap_ci(sample, confidence=0.99), bootstrap_ci(sample, confidence=0.5)
    # Normal quantiles: 2.576 / 0.674 ≈ 3.8 times wider.
    assert (wide.high - wide.low) / (narrow.high - narrow.low) == pytest.approx(3.8, rel=0.2)


@pytest.mark.parametrize("value", [0.1, 0.0, 1.0, 7.25])
def test_constant_sample_has_a_zero_width_ci(value):
    assert bootstrap_ci([value] * 37) == Estimate(value, value, value, 37)


def test_single_value_and_single_resample():
    assert bootstrap_ci([0.4]) == Estimate(0.4, 0.4, 0.4, 1)
    one = bootstrap_ci([0.0, 1.0, 0.5, 0.25], n_resamples=1)
    assert one.low == one.high


def test_seeded_is_deterministic_and_the_seed_matters():
    sample = np.random.default_rng(2).random(300)
    assert bootstrap_ci(sample, seed=5) == bootstrap_ci(sample, seed=5)
    assert bootstrap_ci(sample, seed=5) != bootstrap_ci(sample, seed=6)


def test_resampling_in_blocks_gives_the_same_interval(monkeypatch):
    sample = np.random.default_rng(3).random(1000)
    whole = bootstrap_ci(sample, n_resamples=300)
    monkeypatch.setattr(bootstrap, "_BLOCK", 5000)  # 5 resamples per block
    assert bootstrap_ci(sample, n_resamples=300) == whole


@pytest.mark.parametrize(
    "values,kwargs,message",
    [
        ([], {}, "non-empty"),
        ([0.1, float("nan")], {}, "finite"),
        ([0.1, 0.2], {"confidence": 1.0}, "confidence"),
        ([0.1, 0.2], {"n_resamples": 0}, "n_resamples"),
    ],
)
def test_bad_input_is_an_error(values, kwargs, message):
    with pytest.raises(ValueError, match=message):
        bootstrap_ci(values, **kwargs)


# ---------------------------------------------------------------------------------------------- paired


def _paired(gap: float, n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Agent B with widely spread scores; agent A = B + gap + centred noise (mean difference exactly gap)."""
    rng = np.random.default_rng(seed)
    b = rng.random(n)
    noise = rng.normal(0.0, 0.05, n)
    return b + gap + (noise - noise.mean()), b


def test_paired_bootstrap_detects_a_known_difference():
    a, b = _paired(0.02)
    result = paired_bootstrap(a, b)
    assert result.difference == pytest.approx(0.02)
    assert result.low < 0.02 < result.high
    assert result.low > 0.0  # the gap is resolved...
    assert result.a_better == 1.0
    assert result.n == 400
    # ...because episodes are resampled as pairs: each agent's own interval is ten times wider than the gap.
    alone = bootstrap_ci(a)
    assert alone.high - alone.low > 5 * (result.high - result.low)


def test_paired_bootstrap_without_a_difference():
    a, b = _paired(0.0)
    result = paired_bootstrap(a, b)
    assert result.low < 0.0 < result.high
    assert 0.2 < result.a_better < 0.8
    flipped = paired_bootstrap(b, a)
    assert flipped.difference == pytest.approx(-result.difference)
    assert (flipped.low, flipped.high) == pytest.approx((-result.high, -result.low))
    assert flipped.a_better == pytest.approx(1.0 - result.a_better)


def test_paired_bootstrap_constant_gap_and_errors():
    result = paired_bootstrap([0.5, 0.75, 0.25], [0.25, 0.5, 0.0])
    assert result == (0.25, 0.25, 0.25, 3, 1.0)
    tie = paired_bootstrap([0.5, 0.0, 1.0], [0.5, 0.0, 1.0])
    assert tie == (0.0, 0.0, 0.0, 3, 0.0)  # a tie is not "A better"
    with pytest.raises(ValueError, match="differ in length"):
        paired_bootstrap([1.0, 0.0], [1.0])


def test_compare_agents_pairs_rows_by_episode_id():
    a, b = _paired(0.02, n=50)
    rows_a = [{"id": f"e{i}", "f1": float(v)} for i, v in enumerate(a)]
    rows_b = [{"id": f"e{i}", "f1": float(v)} for i, v in enumerate(b)][::-1]  # another order
    rows_a.append({"id": "only_a", "f1": 0.3})
    rows_b.append({"id": "only_b", "f1": 0.0})
    rows_a.append({"id": "unscored", "f1": None})
    rows_b.append({"id": "unscored", "f1": 1.0})
    assert compare_agents(rows_a, rows_b, "f1") == paired_bootstrap(a, b)
    with pytest.raises(ValueError, match="twice"):
        compare_agents(rows_a + rows_a[:1], rows_b, "f1")
    with pytest.raises(ValueError, match="no episode"):
        compare_agents(rows_a, rows_b, "em")


# ---------------------------------------------------------------------------------------------- aggregation


def test_group_mean_weights_groups_equally_and_resamples_within_them():
    groups = {"big": [1.0] * 90 + [0.0] * 10, "small": [0.0] * 9 + [1.0]}
    result = group_mean_ci(groups)
    assert result.mean == pytest.approx((0.9 + 0.1) / 2)
    assert result.n == 110
    assert result.low < 0.5 < result.high
    # Constant groups: each resample keeps every group's size and value, so the interval has no width.
    assert group_mean_ci({"a": [1.0] * 5, "b": [0.0] * 50}) == Estimate(0.5, 0.5, 0.5, 55)


def test_aggregate_every_metric_overall_per_group_and_group_mean():
    rows = [
        {"id": "1", "type": "x", "em": 1.0, "f1": 1.0, "tokens": 100, "answered": True, "answer": "a"},
        {"id": "2", "type": "x", "em": 0.0, "f1": 0.5, "tokens": 300, "answered": True, "answer": "b"},
        {"id": "3", "type": "x", "em": 1.0, "f1": 1.0, "tokens": 200, "answered": False, "answer": None},
        {"id": "4", "type": "y", "em": 0.0, "f1": 0.0, "tokens": 400, "mq": 0.5},
    ]
    result = aggregate(rows, "type", n_resamples=300)
    assert set(result.overall) == {"em", "f1", "tokens", "mq"}  # ids, texts and booleans are not metrics
    assert result.overall["em"] == bootstrap_ci([1.0, 0.0, 1.0, 0.0], n_resamples=300)
    assert result.overall["tokens"].mean == 250.0
    assert result.overall["mq"] == Estimate(0.5, 0.5, 0.5, 1)  # only the rows that have it
    assert list(result.by_group) == ["x", "y"]
    assert result.by_group["x"]["f1"].mean == pytest.approx(2.5 / 3) and result.by_group["x"]["f1"].n == 3
    assert "mq" not in result.by_group["x"]
    assert result.group_mean["em"].mean == pytest.approx((2 / 3 + 0.0) / 2)
    assert result.group_mean["mq"].mean == 0.5
    assert aggregate(rows, "type", n_resamples=300) == result  # seeded
    summary = json.loads(json.dumps(result.to_dict()))
    assert summary["overall"]["em"] == {"mean": 0.5, "ci_low": result.overall["em"].low,
                                        "ci_high": result.overall["em"].high, "n": 4}
    assert summary["by_group"]["y"]["tokens"]["n"] == 1


def test_aggregate_without_groups_and_with_a_numeric_group_key():
    rows = [{"category": 1, "f1": 0.5}, {"category": 5, "f1": 1.0}, {"category": 1, "f1": 0.0}]
    plain = aggregate(rows, n_resamples=100)
    assert set(plain.overall) == {"category", "f1"} and plain.by_group == {} and plain.group_mean == {}
    grouped = aggregate(rows, "category", n_resamples=100)
    assert set(grouped.overall) == {"f1"}  # the group key is not a metric
    assert grouped.by_group["1"]["f1"].mean == 0.25 and grouped.by_group["5"]["f1"].mean == 1.0
    with pytest.raises(ValueError, match="no group key"):
        aggregate([*rows, {"f1": 1.0}], "category")
