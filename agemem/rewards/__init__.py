"""Rewards (SPEC.md §4) and judges: every AgeMem term, the official-code variant, memory quality, Mem-α terms.

Public API (imported lazily, so that `agemem.rewards.config` stays light for the config schema):
- `score(trajectory, episode, reward_cfg, judge=None) -> RewardBreakdown`
- `score_batch(trajectories, episodes_by_id, reward_cfg, judge) -> ScoredBatch` (a list of RewardBreakdown
  with `.metrics`); `build_judge(judge_cfg) -> Judge`
- `exact_match`, `token_f1`, `substring_match`, `normalize_answer` (rule judges)
- `memory_quality(trajectories, episodes_by_id, judge) -> list[float]`

Modules: `config` (the reward/judge config schemas), `presets` (preset names and each preset's total R(τ)),
`paper_terms` (the paper preset's terms, key-term extraction included), `official_terms` (the official-code
preset's terms), `scoring` (batch scoring: plans the judge requests, one judge call, assembles each breakdown),
`matching` (rule-based answer matching and overlap rules), `quality` (memory quality), `mem_alpha` (Mem-α's
per-step reward), `judges/` (rule, local-LLM and HTTP judges).
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
    "extract_key_terms": "agemem.rewards.paper_terms",
    "tool_term": "agemem.rewards.official_terms",
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
