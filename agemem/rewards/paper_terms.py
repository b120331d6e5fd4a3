"""The paper preset's reward terms (`reward=agemem_paper`; SPEC.md §4, paper App. A.2, eqs. 17–26) as small pure
functions of a trajectory, and the key terms of a query that R_preservation looks for.

Judge-dependent terms (R_task, R_storage, R_relevance) take the judge's scores as arguments; which texts are
judged is decided here too (`stored_entries`, `retrieved_entries`), so the batching code and the terms agree.
Conventions for the tool results come from the executor: a call "happened" only when its result has ok=True.
The official-code preset reuses `task_reward` and `maintenance_reward` (its other terms: official_terms.py); the
totals of both presets are in presets.py.

Key terms K_q (R_preservation, eq. 21) are extracted by rules, deterministically, in this order (each pass masks
what it took, so nothing is counted twice):
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

from agemem.records import Trajectory
from agemem.tools.schemas import (
    ADD_MEMORY,
    DELETE_MEMORY,
    FILTER_CONTEXT,
    RETRIEVE_MEMORY,
    SUMMARY_CONTEXT,
    UPDATE_MEMORY,
)

CONTEXT_TOOLS = (SUMMARY_CONTEXT, FILTER_CONTEXT)
MAINTENANCE_TOOLS = (UPDATE_MEMORY, DELETE_MEMORY)
CHARS_PER_TOKEN = 4  # the official code's token estimate: characters / 4 (integer division)
TOKEN_ESTIMATES = ("tokenizer", "chars")


def task_reward(answer: str | None, judge_score: float | None, no_answer_reward: float) -> float:
    """R_task (eq. 17): the judge's score in [0, 1] when an answer was given (`answer` is not None), else P_no-answer."""
    if answer is None:
        return no_answer_reward
    if judge_score is None:
        raise ValueError("an answer was given but no judge score was passed")
    return float(judge_score)


def used_context_tokens(traj: Trajectory, token_estimate: str) -> float:
    """T_used: context tokens when answering; `chars` estimates them as characters of the final context // 4."""
    if token_estimate == "tokenizer":
        return float(traj.answer_context_tokens)
    if token_estimate == "chars":
        return float(sum(len(str(m["content"])) for m in traj.stm_final if m.get("content")) // CHARS_PER_TOKEN)
    raise ValueError(f"reward.token_estimate={token_estimate!r}: must be one of {list(TOKEN_ESTIMATES)}")


def compression_reward(used_tokens: float, budget: int) -> float:
    """R_compression = max(0, 1 − T_used / T_max) (eq. 19); 0 when no budget is recorded."""
    if budget <= 0:
        return 0.0
    return max(0.0, 1.0 - used_tokens / budget)


def preventive_reward(traj: Trajectory) -> float:
    """R_preventive (eq. 20): 1 if a Summary/Filter call succeeded at a step whose context was under the budget."""
    for step in traj.steps:
        if step.context_tokens < traj.context_budget and any(
            r.ok and r.name in CONTEXT_TOOLS for r in step.tool_results
        ):
            return 1.0
    return 0.0


def preservation_reward(question: str, answer_context: Sequence[dict[str, Any]]) -> float:
    """R_preservation (eq. 21): 1 if every key term of the query is in the context the model saw when answering
    (`Trajectory.answer_context()`: never text the answer itself added), else 0."""
    return float(terms_preserved(extract_key_terms(question), context_text(answer_context)))


def context_reward(compression: float, preventive: float, preservation: float) -> float:
    """R_context (eq. 18) with uniform α = 1/3."""
    return (compression + preventive + preservation) / 3


def stored_entries(traj: Trajectory) -> list[str]:
    """Contents of the entries added in stage 1 (ok Add_memory calls): what R_storage judges."""
    return [str(r.arguments["content"]) for r in traj.tool_results(stage=1) if r.ok and r.name == ADD_MEMORY]


def retrieved_entries(traj: Trajectory) -> list[str]:
    """Contents of every entry any ok Retrieve_memory call returned, once per entry id: what R_relevance judges."""
    seen: dict[str, str] = {}
    for r in traj.tool_results():
        if r.ok and r.name == RETRIEVE_MEMORY:
            for entry in r.data["retrieved"]:
                seen.setdefault(str(entry["id"]), str(entry["content"]))
    return list(seen.values())


def storage_reward(entry_scores: Sequence[float], threshold: float) -> float:
    """R_storage = N_high_quality / max(1, N_total) (eq. 23); an entry is high-quality when its score ≥ threshold."""
    return sum(score >= threshold for score in entry_scores) / max(1, len(entry_scores))


def maintenance_reward(traj: Trajectory) -> float:
    """R_maintenance (eq. 24): 1 if any Update_memory or Delete_memory call succeeded (any stage)."""
    return float(any(r.ok and r.name in MAINTENANCE_TOOLS for r in traj.tool_results()))


def relevance_reward(judge_score: float | None) -> float:
    """R_relevance (eq. 25): the judge's relevance of the retrieved set to q; 0 when nothing was retrieved."""
    return 0.0 if judge_score is None else float(judge_score)


def memory_reward(storage: float, maintenance: float, relevance: float) -> float:
    """R_memory (eq. 22) with uniform β = 1/3."""
    return (storage + maintenance + relevance) / 3


def penalties(traj: Trajectory, rounds_penalty: float, overflow_penalty: float) -> tuple[float, float]:
    """P_penalty terms (eq. 26): (P_rounds · 1[stage 3 ran out of rounds without an answer], P_overflow ·
    1[the context exceeded the budget itself]); the stages record both events (`stages/turn.py`)."""
    return (rounds_penalty if traj.rounds_exceeded else 0.0, overflow_penalty if traj.context_overflow else 0.0)


# ---------------------------------------------------------------- R_preservation's key terms

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
