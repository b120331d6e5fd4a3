"""The rule judge: answer metrics for R_task, fact/answer overlap for the memory terms (no model, no network)."""

from collections.abc import Sequence

from agemem.rewards.judges.protocol import (
    ANSWER,
    MEMORY_QUALITY,
    RELEVANCE,
    RULE,
    STORAGE,
    JudgeRequest,
    Verdict,
)
from agemem.rewards.matching import entry_supported, fact_coverage, rule_metric


class RuleJudge:
    """Deterministic scores: `metric` (exact_match | token_f1 | substring_match) for answers; for memory entries
    the overlap rules of `agemem.rewards.matching` with `overlap_threshold`."""

    def __init__(self, metric: str = "token_f1", overlap_threshold: float = 0.5):
        self.metric_name = metric
        self.metric = rule_metric(metric)
        self.overlap_threshold = overlap_threshold

    def score_one(self, request: JudgeRequest) -> float:
        """The rule score of one request, in [0, 1]."""
        if request.kind == ANSWER:
            return self.metric(request.texts[0], list(request.answers))
        supported = [entry_supported(t, request.facts, request.answers, self.overlap_threshold) for t in request.texts]
        if request.kind == STORAGE:
            return float(supported[0])
        if request.kind == RELEVANCE:  # fraction of retrieved entries that state the answer or hold a fact
            return sum(supported) / len(supported) if supported else 0.0
        if request.kind == MEMORY_QUALITY:
            return fact_coverage(request.texts, request.facts, request.answers, self.overlap_threshold)
        raise ValueError(f"unknown judge request kind {request.kind!r}")

    def score(self, requests: Sequence[JudgeRequest]) -> list[Verdict]:
        return [Verdict(self.score_one(r), RULE) for r in requests]
