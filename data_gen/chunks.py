"""Chunk streams for the Mem-α preset: an episode's material cut into chunks with token-count bounds.

Pure functions. Chunks are made of whole messages, joined by newlines; only a message longer than the upper
bound is cut (at spaces, or inside a word that alone exceeds the bound). A chunk's size is the sum of its
pieces' token counts (the joining newlines are not counted).

Guarantee: every chunk has at most `max_tokens`; every chunk has at least `min_tokens` whenever some cut of the
message sequence allows it (found by dynamic programming, preferring fewer, larger chunks). When none does
(all the material is shorter than `min_tokens`, or a long message leaves a short one stranded between bounds),
the chunks are packed greedily up to `max_tokens` and the short ones are kept rather than dropped.
"""

import math
from collections.abc import Callable, Sequence

from agemem.records import Episode

TokenCounter = Callable[[str], int]


def estimate_tokens(text: str) -> int:
    """Characters / 4, rounded up: the official AgeMem code's token estimate."""
    return math.ceil(len(text) / 4)


def _largest_fit(parts: list[str], start: int, sep: str, fits: Callable[[str], bool]) -> int:
    """The largest end > start such that sep.join(parts[start:end]) fits (binary search; end = start + 1 if none)."""
    low, high = start + 1, len(parts)
    while low < high:
        middle = (low + high + 1) // 2
        if fits(sep.join(parts[start:middle])):
            low = middle
        else:
            high = middle - 1
    return low


def split_long(text: str, max_tokens: int, count: TokenCounter) -> list[str]:
    """`text` cut into pieces of at most `max_tokens`, at spaces where possible."""
    fits = lambda piece: count(piece) <= max_tokens
    if fits(text):
        return [text]
    words, pieces, start = text.split(" "), [], 0
    while start < len(words):
        end = _largest_fit(words, start, " ", fits)
        piece = " ".join(words[start:end])
        if fits(piece):
            pieces.append(piece)
        else:  # one word longer than the bound: cut it by characters
            chars, begin = list(piece), 0
            while begin < len(chars):
                stop = _largest_fit(chars, begin, "", fits)
                pieces.append(piece[begin:stop])
                begin = stop
        start = end
    return [p for p in pieces if p]


def _feasible_from(sizes: list[int], low: int, high: int) -> list[bool]:
    """ok[i]: sizes[i:] can be cut into consecutive runs whose sums all lie in [low, high]."""
    ok = [False] * len(sizes) + [True]
    for i in range(len(sizes) - 1, -1, -1):
        total = 0
        for j in range(i, len(sizes)):
            total += sizes[j]
            if total > high:
                break
            if total >= low and ok[j + 1]:
                ok[i] = True
                break
    return ok


def _cuts(sizes: list[int], low: int, high: int) -> list[int]:
    """End indices of the chunks: fewest-chunks-first within bounds when possible, greedy packing otherwise."""
    ok = _feasible_from(sizes, low, high)
    cuts, start = [], 0
    while start < len(sizes):
        total, best = 0, start + 1
        for j in range(start, len(sizes)):
            total += sizes[j]
            if j > start and total > high:
                break
            if not ok[0] or (total >= low and ok[j + 1]):
                best = j + 1  # keep extending: the largest admissible chunk wins
        cuts.append(best)
        start = best
    return cuts


def chunk_stream(messages: Sequence[str], min_tokens: int, max_tokens: int,
                 count: TokenCounter = estimate_tokens) -> list[str]:
    """`messages` cut into chunks within [min_tokens, max_tokens] (see the module docstring for the guarantee)."""
    if not 0 < min_tokens <= max_tokens:
        raise ValueError(f"chunk bounds min={min_tokens}, max={max_tokens}: need 0 < min <= max")
    pieces = [p for message in messages for p in split_long(message, max_tokens, count)]
    sizes = [count(p) for p in pieces]
    chunks, start = [], 0
    for end in _cuts(sizes, min_tokens, max_tokens):
        chunks.append("\n".join(pieces[start:end]))
        start = end
    return chunks


def episode_chunks(episode: Episode, min_tokens: int, max_tokens: int,
                   count: TokenCounter = estimate_tokens) -> list[str]:
    """The Mem-α input stream of an episode: its stage-1 contexts, chunked."""
    return chunk_stream(episode.contexts, min_tokens, max_tokens, count)
