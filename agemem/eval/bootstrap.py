"""Confidence intervals for evaluation figures (SPEC.md §7.1: every aggregate with its n and a 95% CI).

- `bootstrap_ci`: the percentile bootstrap of a mean (seeded, 2,000 resamples by default).
- `group_mean_ci`: the mean of group means (LongMemEval's task-averaged accuracy), resampled within each
  group.
- `paired_bootstrap` / `compare_agents`: two agents on the same episodes: the mean difference A − B, its CI
  and the share of resamples in which A scores higher.
- `aggregate`: per-episode rows (plain dicts: metric name → number, plus a group key such as "category" or
  "question_type") → every aggregate (overall, per group, mean of the groups) with its n and CI.

Rows are treated as independent draws: when an agent is run with several sampled seeds per episode, average an
episode's rows first, or the interval comes out too narrow.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import NamedTuple

import numpy as np

# Resampled values held at once (float64): bounds the memory of a bootstrap over many episodes to ~32 MB.
_BLOCK = 1 << 22


class Estimate(NamedTuple):
    """A mean with its bootstrap confidence interval [low, high] and the number of values behind it."""

    mean: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict[str, float | int]:
        """JSON form: {"mean", "ci_low", "ci_high", "n"}."""
        return {"mean": self.mean, "ci_low": self.low, "ci_high": self.high, "n": self.n}


class PairedComparison(NamedTuple):
    """Agent A against agent B on the same n episodes."""

    difference: float  # mean of A − B
    low: float  # CI of the difference
    high: float
    n: int
    a_better: float  # share of resamples in which A's mean exceeds B's

    def to_dict(self) -> dict[str, float | int]:
        """JSON form: {"difference", "ci_low", "ci_high", "n", "a_better"}."""
        return {"difference": self.difference, "ci_low": self.low, "ci_high": self.high, "n": self.n,
                "a_better": self.a_better}


def _values(values: Sequence[float], name: str = "values") -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name}: expected a non-empty sequence of numbers, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name}: every value must be finite")
    return array


def _check(confidence: float, n_resamples: int) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence={confidence}: must lie strictly between 0 and 1")
    if n_resamples < 1:
        raise ValueError(f"n_resamples={n_resamples}: must be at least 1")


def _resampled_means(values: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Means of `n_resamples` resamples (with replacement, same size) of `values`. Shape: (n_resamples,)."""
    n = values.size
    block = max(1, _BLOCK // n)
    means = np.empty(n_resamples)
    for start in range(0, n_resamples, block):
        stop = min(n_resamples, start + block)
        means[start:stop] = values[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    return means


def _mean(values: np.ndarray) -> float:
    """The mean, kept inside the values' range against rounding (a constant sample's mean is exact)."""
    return float(np.clip(math.fsum(values) / values.size, values.min(), values.max()))


def _interval(resampled: np.ndarray, confidence: float, floor: float, ceiling: float) -> tuple[float, float]:
    """Percentile interval, kept inside [floor, ceiling] (the statistic's range) against rounding."""
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(resampled, [tail, 1.0 - tail])
    return float(np.clip(low, floor, ceiling)), float(np.clip(high, floor, ceiling))


def bootstrap_ci(values: Sequence[float], *, confidence: float = 0.95, n_resamples: int = 2000,
                 seed: int = 0) -> Estimate:
    """(mean, low, high, n): the sample mean and its percentile-bootstrap confidence interval.

    The same values and seed always give the same interval; a constant sample gives low = high = mean.
    """
    _check(confidence, n_resamples)
    array = _values(values)
    means = _resampled_means(array, n_resamples, np.random.default_rng(seed))
    low, high = _interval(means, confidence, float(array.min()), float(array.max()))
    return Estimate(_mean(array), low, high, int(array.size))


def group_mean_ci(groups: Mapping[str, Sequence[float]], *, confidence: float = 0.95, n_resamples: int = 2000,
                  seed: int = 0) -> Estimate:
    """The unweighted mean of the group means, with a stratified percentile bootstrap (each group resampled
    within itself, so every resample keeps every group at its size); n counts the values of all groups."""
    _check(confidence, n_resamples)
    if not groups:
        raise ValueError("groups: expected at least one group")
    arrays = [_values(v, f"groups[{k!r}]") for k, v in groups.items()]
    rng = np.random.default_rng(seed)
    resampled = np.mean([_resampled_means(a, n_resamples, rng) for a in arrays], axis=0)
    means = [_mean(a) for a in arrays]
    low, high = _interval(resampled, confidence, min(means), max(means))
    return Estimate(_mean(np.asarray(means)), low, high, sum(int(a.size) for a in arrays))


def paired_bootstrap(a: Sequence[float], b: Sequence[float], *, confidence: float = 0.95,
                     n_resamples: int = 2000, seed: int = 0) -> PairedComparison:
    """Agents A and B scored on the same episodes, `a[i]` and `b[i]` on episode i: the mean of A − B, its
    percentile-bootstrap CI (episodes resampled as pairs) and the share of resamples where A's mean is
    higher."""
    _check(confidence, n_resamples)
    a_values, b_values = _values(a, "a"), _values(b, "b")
    if a_values.size != b_values.size:
        raise ValueError(f"paired samples differ in length: {a_values.size} vs {b_values.size}")
    differences = a_values - b_values
    # Resampling pairs and differencing the means equals resampling the differences.
    means = _resampled_means(differences, n_resamples, np.random.default_rng(seed))
    low, high = _interval(means, confidence, float(differences.min()), float(differences.max()))
    return PairedComparison(_mean(differences), low, high, int(differences.size), float(np.mean(means > 0)))


def compare_agents(rows_a: Sequence[Mapping[str, object]], rows_b: Sequence[Mapping[str, object]],
                   metric: str, *, id_key: str = "id", confidence: float = 0.95, n_resamples: int = 2000,
                   seed: int = 0) -> PairedComparison:
    """`paired_bootstrap` of `metric` over the episodes (matched by `id_key`) that both agents' rows score;
    n says how many. An id repeated within one agent's rows, or no episode in common, is a ValueError."""
    scored = []
    for name, rows in (("rows_a", rows_a), ("rows_b", rows_b)):
        by_id: dict[object, float] = {}
        for row in rows:
            if id_key not in row:
                raise ValueError(f"{name}: a row has no {id_key!r}")
            if row[id_key] in by_id:
                raise ValueError(f"{name}: episode {row[id_key]!r} appears twice")
            if _is_number(row.get(metric)):
                by_id[row[id_key]] = float(row[metric])  # type: ignore[arg-type]
        scored.append(by_id)
    common = [key for key in scored[0] if key in scored[1]]
    if not common:
        raise ValueError(f"no episode has {metric!r} in both agents' rows")
    return paired_bootstrap([scored[0][k] for k in common], [scored[1][k] for k in common],
                            confidence=confidence, n_resamples=n_resamples, seed=seed)


@dataclass(frozen=True)
class Aggregates:
    """Every aggregate of a set of per-episode rows; each Estimate carries its n and CI."""

    overall: dict[str, Estimate]  # metric → over every row that has it
    by_group: dict[str, dict[str, Estimate]] = field(default_factory=dict)  # group value → metric → estimate
    group_mean: dict[str, Estimate] = field(default_factory=dict)  # metric → mean of its group means

    def to_dict(self) -> dict[str, object]:
        """JSON form: the same three levels with every Estimate as {"mean", "ci_low", "ci_high", "n"}."""
        return {
            "overall": {m: e.to_dict() for m, e in self.overall.items()},
            "by_group": {g: {m: e.to_dict() for m, e in ms.items()} for g, ms in self.by_group.items()},
            "group_mean": {m: e.to_dict() for m, e in self.group_mean.items()},
        }


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _columns(rows: Sequence[Mapping[str, object]]) -> dict[str, list[float]]:
    """metric → its values, in row order; a metric is any key whose value is a number (bool is not)."""
    columns: dict[str, list[float]] = {}
    for row in rows:
        for key, value in row.items():
            if _is_number(value):
                columns.setdefault(key, []).append(float(value))  # type: ignore[arg-type]
    return columns


def aggregate(rows: Sequence[Mapping[str, object]], group_key: str | None = None, *, confidence: float = 0.95,
              n_resamples: int = 2000, seed: int = 0) -> Aggregates:
    """Every aggregate of per-episode rows, each with its n and percentile-bootstrap CI.

    A row is a plain dict: metric name → number, plus any other fields (texts, booleans, None, lists), which
    are not metrics; every int or float field is a metric, so keep ids as strings. A metric is aggregated over
    the rows that have it (so n may differ between metrics). With a `group_key` (e.g. "category",
    "question_type"; every row must have it) the rows are also aggregated per group value (groups sorted by
    name), and `group_mean` holds the unweighted mean of a metric's group means (LongMemEval's task-averaged
    accuracy) with a stratified CI. Every interval uses `seed`.
    """
    estimate = partial(bootstrap_ci, confidence=confidence, n_resamples=n_resamples, seed=seed)
    overall = {m: estimate(v) for m, v in _columns(rows).items() if m != group_key}
    if group_key is None:
        return Aggregates(overall)
    grouped: dict[str, list[Mapping[str, object]]] = {}
    for row in rows:
        if group_key not in row:
            raise ValueError(f"a row has no group key {group_key!r}: {dict(row)}")
        grouped.setdefault(str(row[group_key]), []).append(row)
    columns = {g: _columns(grouped[g]) for g in sorted(grouped)}
    by_group = {g: {m: estimate(v) for m, v in cols.items() if m != group_key} for g, cols in columns.items()}
    group_estimate = partial(group_mean_ci, confidence=confidence, n_resamples=n_resamples, seed=seed)
    group_mean = {m: group_estimate({g: c[m] for g, c in columns.items() if m in c}) for m in overall}
    return Aggregates(overall, by_group, group_mean)
