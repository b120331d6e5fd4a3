"""Schemas of the `reward` and `judge` config groups (SPEC.md §4)."""

from dataclasses import dataclass


@dataclass
class RewardConfig:
    """Which reward formula and its weights."""

    # Formula: agemem_paper | agemem_official.
    preset: str = "agemem_paper"
    # Weight of R_task.
    w_task: float = 1.0
    # Weight of R_context.
    w_context: float = 1.0
    # Weight of R_memory.
    w_memory: float = 1.0


@dataclass
class JudgeConfig:
    """Who scores answers, stored memories and retrieved memories."""

    # Judge backend: rule | llm_local | llm_http.
    kind: str = "rule"
    # Rule judge for R_task: exact_match | token_f1 | substring_match.
    rule_metric: str = "token_f1"
