"""Judges: rule-based, local HF model, OpenAI-compatible HTTP endpoint (one `Judge` protocol)."""

from collections.abc import Callable

from agemem.rewards.config import JudgeConfig
from agemem.rewards.judges.cache import JudgeCache
from agemem.rewards.judges.llm import LLMJudge
from agemem.rewards.judges.protocol import (
    ANSWER,
    CACHE,
    FALLBACK,
    KINDS,
    LLM,
    MEMORY_QUALITY,
    RELEVANCE,
    RULE,
    STORAGE,
    CompletionBackend,
    Judge,
    JudgeRequest,
    Verdict,
)
from agemem.rewards.judges.rule import RuleJudge


def _rule(cfg: JudgeConfig) -> RuleJudge:
    return RuleJudge(cfg.rule_metric, cfg.overlap_threshold)


def _llm_local(cfg: JudgeConfig) -> LLMJudge:
    from agemem.rewards.judges.local_backend import load_local_backend  # loads torch models: only when asked

    return LLMJudge(load_local_backend(cfg.local), _rule(cfg))


def _llm_http(cfg: JudgeConfig) -> LLMJudge:
    from agemem.rewards.judges.http_backend import HTTPBackend

    cache = JudgeCache(cfg.http.cache_path) if cfg.http.cache_path else None
    return LLMJudge(HTTPBackend(cfg.http), _rule(cfg), cache)


JUDGES: dict[str, Callable[[JudgeConfig], Judge]] = {"rule": _rule, "llm_local": _llm_local, "llm_http": _llm_http}


def build_judge(cfg: JudgeConfig) -> Judge:
    """The judge `judge.kind` names; an unknown kind raises ValueError listing the valid ones."""
    if cfg.kind not in JUDGES:
        raise ValueError(f"judge.kind={cfg.kind!r}: must be one of {sorted(JUDGES)}")
    return JUDGES[cfg.kind](cfg)


__all__ = [
    "ANSWER",
    "CACHE",
    "FALLBACK",
    "JUDGES",
    "KINDS",
    "LLM",
    "MEMORY_QUALITY",
    "RELEVANCE",
    "RULE",
    "STORAGE",
    "CompletionBackend",
    "Judge",
    "JudgeCache",
    "JudgeRequest",
    "LLMJudge",
    "RuleJudge",
    "Verdict",
    "build_judge",
]
