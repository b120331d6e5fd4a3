"""The summary of a generated episode set: counts per source/category/split, token lengths per stage, rejections.

`generation_stats` returns a plain JSON-able dict (written as stats.json); `format_stats` renders it as the
table `task=generate` prints. Token counts use the model's tokenizer, since the stage budgets are in its tokens.
"""

from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
from transformers import PreTrainedTokenizerBase

from agemem.records import Episode
from data_gen.chunks import episode_chunks
from data_gen.errors import Rejection

# Rejections listed in the printed table (stats.json has all of them).
SHOWN_REJECTIONS = 20


class TokenCounter:
    """Token counts of texts with a memo: LoCoMo questions share one conversation's hundreds of messages."""

    def __init__(self, encode: Callable[[list[str]], list[list[int]]]):
        self.encode = encode
        self.memo: dict[str, int] = {}

    def prime(self, texts: Sequence[str]) -> None:
        """Count every not-yet-seen text in one batch."""
        new = list(dict.fromkeys(t for t in texts if t not in self.memo))
        for text, ids in zip(new, self.encode(new) if new else []):
            self.memo[text] = len(ids)

    def __call__(self, text: str) -> int:
        if text not in self.memo:
            self.prime([text])
        return self.memo[text]


def tokenizer_counter(tokenizer: PreTrainedTokenizerBase) -> TokenCounter:
    """A `TokenCounter` over a HF tokenizer (no special tokens: only the text itself is counted)."""
    return TokenCounter(lambda texts: tokenizer(texts, add_special_tokens=False)["input_ids"])


def summary(values: Sequence[int]) -> dict[str, float]:
    """min / mean / p50 / p95 / max of a list of counts (zeros for an empty list)."""
    if not values:
        return {"min": 0, "mean": 0.0, "p50": 0.0, "p95": 0.0, "max": 0}
    array = np.asarray(values, dtype=float)
    return {"min": int(array.min()), "mean": round(float(array.mean()), 2), "p50": float(np.percentile(array, 50)),
            "p95": round(float(np.percentile(array, 95)), 2), "max": int(array.max())}


def _token_lengths(episodes: list[Episode], count: TokenCounter) -> dict[str, dict[str, float]]:
    count.prime([t for e in episodes for t in (*e.contexts, *e.distractors, e.question, e.answers[0])])
    return {
        "stage1_contexts": summary([sum(count(c) for c in e.contexts) for e in episodes]),
        "stage2_distractors": summary([sum(count(d) for d in e.distractors) for e in episodes]),
        "stage3_question": summary([count(e.question) for e in episodes]),
        "answer": summary([count(e.answers[0]) for e in episodes]),
        "context_message": summary([count(c) for e in episodes for c in e.contexts]),
    }


def _chunk_counts(episodes: list[Episode], bounds: tuple[int, int], count: TokenCounter) -> list[int]:
    """Mem-α chunks per episode; episodes sharing their contexts (one LoCoMo conversation) are chunked once."""
    memo: dict[tuple[str, ...], int] = {}
    counts = []
    for episode in episodes:
        key = tuple(episode.contexts)
        if key not in memo:
            memo[key] = len(episode_chunks(episode, bounds[0], bounds[1], count))
        counts.append(memo[key])
    return counts


def generation_stats(episodes: list[Episode], rejections: list[Rejection], rows: int, count: TokenCounter,
                     chunk_bounds: tuple[int, int]) -> dict:
    """Everything stats.json holds; `rows` is the number of source rows read."""
    by_category: dict[str, dict[str, int]] = {}
    for (source, category), n in sorted(Counter((e.source, e.category) for e in episodes).items()):
        by_category.setdefault(source, {})[category or "(none)"] = n
    return {
        "rows_read": rows,
        "episodes": len(episodes),
        "rejected": len(rejections),
        "by_source": dict(sorted(Counter(e.source for e in episodes).items())),
        "by_category": by_category,
        "by_split": dict(sorted(Counter(str(e.metadata.get("split", "")) for e in episodes).items())),
        "messages": {"stage1_contexts": summary([len(e.contexts) for e in episodes]),
                     "stage2_distractors": summary([len(e.distractors) for e in episodes]),
                     "supporting_facts": summary([len(e.supporting_facts) for e in episodes])},
        "tokens": _token_lengths(episodes, count),
        "mem_alpha_chunks": {"bounds": list(chunk_bounds),
                             "per_episode": summary(_chunk_counts(episodes, chunk_bounds, count))},
        "rejections_by_field": dict(sorted(Counter(r.field for r in rejections).items())),
        "rejections": [{"file": r.file, "line": r.line, "field": r.field, "reason": r.reason, "item_id": r.item_id}
                       for r in rejections],
    }


def _row(name: str, stats: dict[str, float]) -> str:
    return f"  {name:<30}" + "".join(f"{stats[k]:>10}" for k in ("min", "mean", "p50", "p95", "max"))


def format_stats(stats: dict) -> str:
    """The printed summary table."""
    lines = [f"rows read {stats['rows_read']}  ·  episodes {stats['episodes']}  ·  rejected {stats['rejected']}",
             "", f"  {'source':<14}{'category':<24}{'episodes':>10}"]
    for source, categories in stats["by_category"].items():
        lines += [f"  {source:<14}{category:<24}{n:>10}" for category, n in categories.items()]
    lines += ["", "  split: " + "  ".join(f"{k} {v}" for k, v in stats["by_split"].items()), "",
              f"  {'tokens per episode':<30}" + "".join(f"{k:>10}" for k in ("min", "mean", "p50", "p95", "max"))]
    lines += [_row(name, values) for name, values in stats["tokens"].items()]
    lines += [_row(f"messages {name}", values) for name, values in stats["messages"].items()]
    lines.append(_row("mem-alpha chunks", stats["mem_alpha_chunks"]["per_episode"]))
    if stats["rejections"]:
        lines += ["", f"  rejected rows ({stats['rejected']}):"]
        lines += [f"    {r['file']}:{r['line']}: field {r['field']!r}: {r['reason']}"
                  for r in stats["rejections"][:SHOWN_REJECTIONS]]
        if stats["rejected"] > SHOWN_REJECTIONS:
            lines.append(f"    … {stats['rejected'] - SHOWN_REJECTIONS} more in stats.json")
    return "\n".join(lines)
