"""Rewards (SPEC.md §4) and judges: every AgeMem term, the official-code variant, memory quality, Mem-α terms.

Public API (imported lazily, so that `agemem.rewards.config` stays light for the config schema):
- `score(trajectory, episode, reward_cfg, judge=None) -> RewardBreakdown`
- `score_batch(trajectories, episodes_by_id, reward_cfg, judge) -> ScoredBatch` (a list of RewardBreakdown
  with `.metrics`); `build_judge(judge_cfg) -> Judge`
- `exact_match`, `token_f1`, `substring_match`, `normalize_answer` (rule judges)
- `memory_quality(trajectories, episodes_by_id, judge) -> list[float]`
"""

import importlib
from typing import Any

_EXPORTS = {
    "RewardConfig": "agemem.rewards.config",
    "JudgeConfig": "agemem.rewards.config",
    "RewardBreakdown": "agemem.rewards.scoring",
    "ScoredBatch": "agemem.rewards.scoring",
    "score": "agemem.rewards.scoring",
    "score_batch": "agemem.rewards.scoring",
    "batch_metrics": "agemem.rewards.scoring",
    "exact_match": "agemem.rewards.matching",
    "token_f1": "agemem.rewards.matching",
    "substring_match": "agemem.rewards.matching",
    "normalize_answer": "agemem.rewards.matching",
    "extract_key_terms": "agemem.rewards.key_terms",
    "tool_term": "agemem.rewards.official",
    "memory_quality": "agemem.rewards.quality",
    "build_judge": "agemem.rewards.judges",
    "Judge": "agemem.rewards.judges",
    "JudgeRequest": "agemem.rewards.judges",
    "Verdict": "agemem.rewards.judges",
    "RuleJudge": "agemem.rewards.judges",
    "LLMJudge": "agemem.rewards.judges",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'agemem.rewards' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
