"""Rule-based judges: answer matching (SQuAD/HotpotQA) and the overlap rules of the rule fallbacks.

Answer metrics take one gold answer or a list of them and return the best score over the golds.
The overlap rules decide whether a memory entry "supports" a fact or the answer; R_storage, R_relevance and
memory quality fall back to them when no LLM judge is configured or when it fails (SPEC.md §4: every
LLM-judged term needs a rule-based fallback).
"""

import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from functools import lru_cache

Gold = str | Sequence[str]

_PUNCTUATION = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")

# Function words ignored when measuring how much of a fact an entry contains (articles are already gone).
STOPWORDS = frozenset(
    {
        "about", "above", "after", "again", "against", "all", "am", "and", "any", "are", "as", "at", "be",
        "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "did", "do",
        "does", "doing", "down", "during", "each", "few", "for", "from", "further", "had", "has", "have",
        "having", "he", "her", "here", "hers", "him", "his", "how", "i", "if", "in", "into", "is", "it",
        "its", "itself", "just", "me", "more", "most", "my", "no", "nor", "not", "now", "of", "off", "on",
        "once", "only", "or", "other", "our", "out", "over", "own", "same", "she", "should", "so", "some",
        "such", "than", "that", "their", "theirs", "them", "then", "there", "these", "they", "this", "those",
        "through", "to", "too", "under", "until", "up", "very", "was", "we", "were", "what", "when", "where",
        "which", "while", "who", "whom", "why", "will", "with", "you", "your",
    }
)


@lru_cache(maxsize=1024)
def normalize_answer(text: str) -> str:
    """SQuAD/HotpotQA normalisation: lower-case, drop punctuation, drop articles a/an/the, collapse spaces.
    Cached: Mem-α's readers score many questions against the same long context."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _golds(gold: Gold) -> list[str]:
    return [gold] if isinstance(gold, str) else list(gold)


def _best(metric: Callable[[str, str], float], pred: str, gold: Gold) -> float:
    return max((metric(pred, g) for g in _golds(gold)), default=0.0)


def _exact(pred: str, gold: str) -> float:
    return float(normalize_answer(pred) == normalize_answer(gold))


def _f1(pred: str, gold: str) -> float:
    pred_tokens = normalize_answer(pred).split()
    gold_tokens = normalize_answer(gold).split()
    if not pred_tokens or not gold_tokens:  # SQuAD: both empty is a match, one empty is not
        return float(pred_tokens == gold_tokens)
    common = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred_tokens), common / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def _contains(pred: str, gold: str) -> float:
    pred_n, gold_n = normalize_answer(pred), normalize_answer(gold)
    if not gold_n:
        return float(not pred_n)
    # Whole tokens only: "paris" is in "in paris france" but not in "comparison".
    return float(f" {gold_n} " in f" {pred_n} ")


def exact_match(pred: str, gold: Gold) -> float:
    """1.0 when the normalised prediction equals a normalised gold answer, else 0.0."""
    return _best(_exact, pred, gold)


def token_f1(pred: str, gold: Gold) -> float:
    """SQuAD token F1 (bag of normalised tokens) against the best gold answer, in [0, 1]."""
    return _best(_f1, pred, gold)


def substring_match(pred: str, gold: Gold) -> float:
    """1.0 when a normalised gold answer occurs in the normalised prediction as whole tokens, else 0.0."""
    return _best(_contains, pred, gold)


RULE_METRICS: dict[str, Callable[[str, Gold], float]] = {
    "exact_match": exact_match,
    "token_f1": token_f1,
    "substring_match": substring_match,
}


def rule_metric(name: str) -> Callable[[str, Gold], float]:
    """The answer metric called `name`; an unknown name raises ValueError listing the valid ones."""
    if name not in RULE_METRICS:
        raise ValueError(f"judge.rule_metric={name!r}: must be one of {sorted(RULE_METRICS)}")
    return RULE_METRICS[name]


def content_tokens(text: str) -> set[str]:
    """The normalised tokens of `text` that are not function words."""
    return {t for t in normalize_answer(text).split() if t not in STOPWORDS}


def fact_recall(entry: str, fact: str) -> float:
    """Fraction of the fact's content words that the entry contains (0 when the fact has none)."""
    fact_tokens = content_tokens(fact)
    if not fact_tokens:
        return 0.0
    return len(fact_tokens & content_tokens(entry)) / len(fact_tokens)


def entry_supported(entry: str, facts: Sequence[str], answers: Sequence[str], threshold: float) -> bool:
    """Rule fallback of R_storage/R_relevance: the entry states a gold answer, or holds ≥ `threshold` of a fact."""
    if any(normalize_answer(a) and substring_match(entry, a) for a in answers):
        return True
    return any(fact_recall(entry, fact) >= threshold for fact in facts)


def fact_coverage(entries: Sequence[str], facts: Sequence[str], answers: Sequence[str], threshold: float) -> float:
    """Rule memory quality: fraction of supporting facts held (≥ `threshold`) by some entry.

    Without supporting facts, 1.0 when some entry states a gold answer, else 0.0.
    """
    facts = [f for f in facts if content_tokens(f)]
    if not facts:
        return float(any(entry_supported(e, [], answers, threshold) for e in entries))
    covered = sum(any(fact_recall(e, fact) >= threshold for e in entries) for fact in facts)
    return covered / len(facts)
