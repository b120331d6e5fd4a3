"""`length_partition`: padded batches that cover every index once, respect the caps, and cost the least."""

import itertools
import math
import random

import pytest

from agemem.batching import length_partition


def _cost(lengths, batches, batch_cost, row_cost):
    return sum(len(b) * (max(lengths[i] for i in b) + row_cost) + batch_cost for b in batches)


def _brute_force_cost(lengths, batch_cost, row_cost):
    """The cheapest split of the length-sorted sequences into contiguous batches (no caps)."""
    ordered = sorted(lengths, reverse=True)
    best = math.inf
    for cuts in itertools.product([False, True], repeat=len(ordered) - 1):
        spans, start = [], 0
        for k, cut in enumerate(cuts, start=1):
            if cut:
                spans.append(ordered[start:k])
                start = k
        spans.append(ordered[start:])
        best = min(best, sum(len(s) * (s[0] + row_cost) + batch_cost for s in spans))
    return best


def test_one_long_sequence_gets_its_own_batch():
    lengths = [60] * 63 + [430]
    assert length_partition(lengths, batch_cost=1800, row_cost=70) == [[63], list(range(63))]
    # when a batch costs more than the padding it saves, everything stays together (longest first)
    assert length_partition([60, 430], batch_cost=10_000) == [[1, 0]]
    assert length_partition([], batch_cost=1) == []


@pytest.mark.parametrize("seed", range(6))
def test_uncapped_partition_is_the_cheapest_contiguous_split(seed):
    rng = random.Random(seed)
    lengths = [rng.choice([5, 9, 9, 14, 30, 31, 80]) for _ in range(rng.randint(1, 11))]
    batch_cost, row_cost = rng.choice([0, 20, 100]), rng.choice([0, 7])
    batches = length_partition(lengths, batch_cost=batch_cost, row_cost=row_cost)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert _cost(lengths, batches, batch_cost, row_cost) == _brute_force_cost(lengths, batch_cost, row_cost)


@pytest.mark.parametrize("seed", range(6))
def test_caps_are_respected_and_the_result_is_deterministic(seed):
    rng = random.Random(seed)
    lengths = [rng.randint(1, 90) for _ in range(rng.randint(1, 120))]
    max_rows, max_tokens = rng.randint(1, 16), rng.randint(20, 400)
    batches = length_partition(lengths, batch_cost=50, max_rows=max_rows, max_tokens=max_tokens)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        widths = [lengths[i] for i in b]
        assert widths == sorted(widths, reverse=True)  # rows longest first
        assert len(b) <= max_rows
        assert len(b) == 1 or widths[0] * len(b) <= max_tokens
    assert batches == length_partition(list(lengths), batch_cost=50, max_rows=max_rows, max_tokens=max_tokens)


def test_bad_caps_name_the_argument():
    with pytest.raises(ValueError, match="max_rows"):
        length_partition([1], batch_cost=1, max_rows=0)
    with pytest.raises(ValueError, match="max_tokens"):
        length_partition([1], batch_cost=1, max_tokens=0)
