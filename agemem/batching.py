"""Splitting variable-length sequences into padded batches that waste little compute.

A padded batch costs rows × (its longest length). One long sequence in a batch of short ones makes every row pay
for its width, so the generation engine and the actor update both cut the length-sorted sequences into batches by
`length_partition`, which weighs the padding saved against what one more batch costs.
"""

import math


def length_partition(lengths: list[int], *, batch_cost: float, row_cost: float = 0.0,
                     max_rows: int | None = None, max_tokens: int | None = None) -> list[list[int]]:
    """Indices of `lengths` in batches, longest batch first; rows inside a batch longest first (ties by index).

    Minimises Σ over batches of rows × (width + row_cost) + batch_cost, where width is the batch's longest length
    (all in padded positions), over cuts of the sorted lengths between runs of equal length (dynamic programming,
    quadratic in the number of distinct lengths). A batch holds at most `max_rows` rows and, when `max_tokens` is
    set, at most max(1, max_tokens // width) rows (so rows × width ≤ max_tokens unless one sequence is longer).
    Deterministic.
    """
    if max_rows is not None and max_rows <= 0:
        raise ValueError(f"max_rows must be positive, got {max_rows}")
    if max_tokens is not None and max_tokens <= 0:
        raise ValueError(f"max_tokens must be positive, got {max_tokens}")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))  # longest first
    # Ends of the runs of equal length: the only places a cut can help.
    ends = [k + 1 for k in range(len(order)) if k + 1 == len(order) or lengths[order[k + 1]] != lengths[order[k]]]

    def rows_per_batch(width: int) -> int:
        cap = max(1, max_tokens // width) if max_tokens is not None else len(order)
        return min(cap, max_rows) if max_rows is not None else cap

    # best[e]: the cheapest split of order[:e]; cut[e]: where its last span starts. A span order[s:e] is padded to
    # the width of its first (longest) row and split into chunks of rows_per_batch(width) rows.
    best: dict[int, float] = {0: 0.0}
    cut: dict[int, int] = {}
    for end in ends:
        best[end], cut[end] = min(
            (best[start] + (end - start) * (lengths[order[start]] + row_cost)
             + batch_cost * math.ceil((end - start) / rows_per_batch(max(lengths[order[start]], 1))), start)
            for start in [0, *ends] if start < end)
    spans, end = [], len(order)
    while end:
        spans.append((cut[end], end))
        end = cut[end]
    batches = []
    for start, stop in reversed(spans):
        size = rows_per_batch(max(lengths[order[start]], 1))
        batches += [order[i : min(i + size, stop)] for i in range(start, stop, size)]
    return batches
