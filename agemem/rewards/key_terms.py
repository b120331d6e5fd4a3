"""Key terms of a query and whether the context still holds them: R_preservation (SPEC.md §4, paper eq. 21).

Extraction is rule-based and deterministic, in this order (each pass masks what it took, so nothing is counted
twice):
1. dates: ISO `2019-03-04`, numeric `4/3/2019` or `4.3.19`, `March 4(, 2019)`, `4(th) (of) March( 2019)`,
   `March 2019`;
2. times: `14:30(:05)( pm)`, `5 pm`, `5 a.m.`;
3. named entities by capitalisation: maximal runs of capitalised words not broken by punctuation, with
   capitalised function words (question words, articles, pronouns, auxiliaries: `CAPITALISED_STOPWORDS`) stripped
   from both ends of the run: "Which band has more members, Muse or The Raconteurs?" → ["Muse", "Raconteurs"];
4. numbers: `1999`, `3.5`, `1,000`, `21st`, `1990s`.

A term is preserved when it occurs in the context as whole words, case-insensitively, whitespace collapsed.
"""

import re
from collections.abc import Iterable, Sequence
from typing import Any

_MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December|"
    "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec"
)
_ORDINAL = r"(?:st|nd|rd|th)?"
DATE_PATTERNS = (
    r"\b\d{4}-\d{1,2}-\d{1,2}\b",
    r"\b\d{1,2}[/.]\d{1,2}[/.]\d{2,4}\b",
    rf"\b(?:{_MONTHS})\.?\s+\d{{1,2}}{_ORDINAL}(?:,?\s+\d{{4}})?\b",
    rf"\b\d{{1,2}}{_ORDINAL}\s+(?:of\s+)?(?:{_MONTHS})\b\.?(?:,?\s+\d{{4}}\b)?",
    rf"\b(?:{_MONTHS})\.?,?\s+\d{{4}}\b",
)
TIME_PATTERNS = (
    r"\b\d{1,2}:\d{2}(?::\d{2})?(?:\s*(?:a\.m\.|p\.m\.|am|pm)(?![a-z]))?",
    r"\b\d{1,2}\s*(?:a\.m\.|p\.m\.|am|pm)(?![a-z])",
)
NUMBER_PATTERN = r"(?<!\w)\d+(?:[.,]\d+)*(?:st|nd|rd|th|s)?(?!\w)"

# Capitalised words that are not names: stripped from the ends of a capitalised run.
CAPITALISED_STOPWORDS = frozenset(
    {
        "what", "which", "who", "whom", "whose", "when", "where", "why", "how", "is", "are", "was", "were",
        "am", "be", "been", "do", "does", "did", "can", "could", "will", "would", "shall", "should", "may",
        "might", "must", "has", "have", "had", "the", "a", "an", "and", "or", "but", "nor", "if", "of", "in",
        "on", "at", "to", "for", "from", "by", "with", "as", "this", "that", "these", "those", "it", "its",
        "he", "she", "they", "we", "you", "i", "me", "him", "her", "his", "hers", "their", "them", "our",
        "your", "my", "there", "here", "name", "list", "give", "tell", "find", "describe", "explain",
        "according",
    }
)
_EDGE_OPEN = "\"'([{“‘«"
_EDGE_CLOSE = "\"'.,;:!?)]}”’»"


def _take_spans(text: str, patterns: Iterable[str]) -> tuple[list[str], str]:
    spans: list[tuple[int, int]] = []
    for pattern in patterns:
        for m in re.finditer(pattern, text, flags=re.IGNORECASE):
            if all(m.end() <= s or m.start() >= e for s, e in spans):
                spans.append((m.start(), m.end()))
    spans.sort()
    found = [" ".join(text[s:e].split()) for s, e in spans]
    masked = text
    for start, end in spans:
        masked = masked[:start] + " " * (end - start) + masked[end:]
    return found, masked


def _strip_function_words(run: list[str]) -> list[str]:
    while run and run[0].lower() in CAPITALISED_STOPWORDS:
        run = run[1:]
    while run and run[-1].lower() in CAPITALISED_STOPWORDS:
        run = run[:-1]
    return run


def capitalised_runs(text: str) -> list[str]:
    """Runs of capitalised words (named entities by capitalisation), function words stripped from the ends."""
    runs: list[str] = []
    current: list[str] = []

    def flush() -> None:
        kept = _strip_function_words(current)
        if kept:
            runs.append(" ".join(kept))
        current.clear()

    for raw in text.split():
        word = raw.lstrip(_EDGE_OPEN).rstrip(_EDGE_CLOSE)
        opens_new = raw[0] in _EDGE_OPEN
        if opens_new:
            flush()
        if word and word[0].isupper():
            current.append(word)
        else:
            flush()
        if raw[-1] in _EDGE_CLOSE:  # punctuation ends a name: "Paris, France" is two
            flush()
    flush()
    return runs


def extract_key_terms(question: str) -> list[str]:
    """The query's key terms K_q (dates, times, capitalised names, numbers), deduplicated case-insensitively."""
    dates, rest = _take_spans(question, DATE_PATTERNS)
    times, rest = _take_spans(rest, TIME_PATTERNS)
    names = capitalised_runs(rest)
    uncapitalised = " ".join(w for w in rest.split() if not w.lstrip(_EDGE_OPEN)[:1].isupper())
    numbers, _ = _take_spans(uncapitalised, [NUMBER_PATTERN])  # "COVID-19" is a name, not the number 19
    terms: list[str] = []
    for term in dates + times + names + numbers:
        if term.lower() not in {t.lower() for t in terms}:
            terms.append(term)
    return terms


def term_present(term: str, text: str) -> bool:
    """Whether `term` occurs in `text` as whole words, case-insensitively, whitespace collapsed."""
    pattern = r"(?<!\w)" + r"\s+".join(re.escape(part) for part in term.split()) + r"(?!\w)"
    return re.search(pattern, text, flags=re.IGNORECASE) is not None


def context_text(messages: Sequence[dict[str, Any]]) -> str:
    """All message contents of a context, joined (summary messages included: they are messages)."""
    return "\n".join(str(m["content"]) for m in messages if m.get("content"))


def terms_preserved(terms: Sequence[str], text: str) -> bool:
    """1[every key term is still in the context]; vacuously true when the query has no key terms."""
    return all(term_present(term, text) for term in terms)
