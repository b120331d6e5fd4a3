"""The AgeMem reward presets (`reward.preset`, SPEC.md §4): their names, and how each combines its terms into R(τ).

`agemem_paper`    R = w·(R_task + R_context + R_memory) + P, w = 1 (paper §4.1) or 1/3 (paper App. C.4); its
                  terms are in agemem/rewards/paper_terms.py.
`agemem_official` R = clip(task + 0.2·R_tool + 0.15·R_context + 0.15·R_memory + P, −1, 1), task = 0.5·score
                  with an answer, else −1 unweighted (the official `ThreeStageRewardCalculator`; its terms are in
                  agemem/rewards/official_terms.py).
"""

from agemem.rewards.config import RewardConfig
from agemem.rewards.official_terms import clip

PAPER, OFFICIAL = "agemem_paper", "agemem_official"
PRESETS = (PAPER, OFFICIAL)
OFFICIAL_TOTAL_CLIP = (-1.0, 1.0)
PAPER_WEIGHTS = {"one": 1.0, "third": 1.0 / 3.0}


def check_preset(name: str) -> str:
    """`name` if it is an AgeMem reward preset; else a ValueError listing the valid ones."""
    if name not in PRESETS:
        hint = " (mem_alpha rewards are per step: agemem.rewards.mem_alpha)" if name == "mem_alpha" else ""
        raise ValueError(f"reward.preset={name!r}: must be one of {list(PRESETS)}{hint}")
    return name


def paper_total(task: float, context: float, memory: float, penalty: float, cfg: RewardConfig) -> float:
    """Eq. 16 with uniform weights: w·(R_task + R_context + R_memory) + P."""
    if cfg.paper_weights not in PAPER_WEIGHTS:
        raise ValueError(f"reward.paper_weights={cfg.paper_weights!r}: must be one of {sorted(PAPER_WEIGHTS)}")
    w = PAPER_WEIGHTS[cfg.paper_weights]
    return w * task + w * context + w * memory + penalty


def official_total(
    score: float | None, tool: float, context: float, memory: float, penalty: float, cfg: RewardConfig
) -> float:
    """The official total: w_task·score with an answer (`score` not None), else the no-answer reward unweighted
    (−1); plus the weighted tool, context and memory terms and the penalties; clipped to [−1, 1]."""
    task = cfg.w_task * score if score is not None else cfg.no_answer_reward
    value = task + cfg.w_tool_efficiency * tool + cfg.w_context * context + cfg.w_memory * memory
    return clip(value + penalty, OFFICIAL_TOTAL_CLIP)
