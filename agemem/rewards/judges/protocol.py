"""What a judge is asked, what it answers, and the two protocols behind it (DESIGN.md: Protocol for the judge).

A `Judge` scores a whole batch of `JudgeRequest`s in one call, so that all judge work of a training step goes out
together (concurrently over HTTP, batched on a local model). An LLM judge builds prompts and hands them to a
`CompletionBackend` (local HF model or OpenAI-compatible endpoint), which returns raw reply texts.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

# What is judged: an answer (R_task), one stage-1 entry (R_storage), the retrieved set (R_relevance), the
# final LTM against the supporting facts (memory quality, paper Fig. 2).
ANSWER, STORAGE, RELEVANCE, MEMORY_QUALITY = "answer", "storage", "relevance", "memory_quality"
KINDS = (ANSWER, STORAGE, RELEVANCE, MEMORY_QUALITY)

# Where a verdict came from: the rule judge, a fresh LLM reply, the reply cache, or the rule fallback after an
# LLM failure (no reply, or a reply with no parsable score).
RULE, LLM, CACHE, FALLBACK = "rule", "llm", "cache", "fallback"

ChatPrompt = tuple[str, str]  # (system message, user message)


@dataclass(frozen=True)
class JudgeRequest:
    """One thing to score in [0, 1]."""

    kind: str  # one of KINDS
    question: str  # the query q
    answers: tuple[str, ...]  # gold answers A_q
    texts: tuple[str, ...]  # ANSWER: (prediction,); STORAGE: (entry,); RELEVANCE, MEMORY_QUALITY: the entries
    facts: tuple[str, ...] = ()  # the episode's supporting facts

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"judge request kind {self.kind!r}: must be one of {list(KINDS)}")


@dataclass(frozen=True)
class Verdict:
    """A judge's score in [0, 1] and where it came from (RULE, LLM, CACHE or FALLBACK)."""

    score: float
    source: str


class Judge(Protocol):
    """Scores a batch of requests; verdicts in request order. Never raises on a backend failure."""

    def score(self, requests: Sequence[JudgeRequest]) -> list[Verdict]:
        """One verdict per request, in order."""
        ...


class CompletionBackend(Protocol):
    """Completes chat prompts with an LLM; None for a prompt whose completion failed."""

    @property
    def model_id(self) -> str:
        """The model's name or path (part of the reply-cache key)."""
        ...

    def complete(self, prompts: Sequence[ChatPrompt]) -> list[str | None]:
        """One reply text (or None) per prompt, in order; all prompts are sent together."""
        ...
