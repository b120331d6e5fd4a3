"""How the terms combine into R(τ): the paper's formula and the official code's (SPEC.md §4).

`agemem_paper`   R = w·(R_task + R_context + R_memory) + P, w = 1 (paper §4.1) or 1/3 (paper App. C.4).
`agemem_official` R = clip(0.5·R_task + 0.2·R_tool + 0.15·R_context + 0.15·R_memory + P, −1, 1).

The official AgeMem code (a Trinity-RFT fork) was not available to us, so the tool-efficiency rules below are
written from SPEC.md §4 ("rewards 0.3–2 calls per round, use of Retrieve, Summary/Filter, Add, and fewer rounds,
clipped to [−0.5, 1]") with these exact constants:

    R_tool = clip( rate + retrieve + context + add + rounds, −0.5, 1 )
      rate     = +0.3 if 0.3 ≤ calls/rounds ≤ 2 else −0.2     (calls: every executed tool call, errors included;
                                                                rounds: model calls, i.e. trajectory steps)
      retrieve = +0.2 if some Retrieve_memory call succeeded
      context  = +0.2 if some Summary_context or Filter_context call succeeded
      add      = +0.2 if some Add_memory call succeeded
      rounds   = +0.1 if rounds ≤ 8, else −0.05·(rounds − 8)
"""

from collections.abc import Callable

from agemem.records import Trajectory
from agemem.rewards.config import RewardConfig
from agemem.rewards.terms import CONTEXT_TOOLS
from agemem.tools.schemas import ADD_MEMORY, RETRIEVE_MEMORY

CALLS_PER_ROUND_RANGE = (0.3, 2.0)
RATE_IN_RANGE, RATE_OUT_OF_RANGE = 0.3, -0.2
USE_BONUS = 0.2
FEW_ROUNDS, FEW_ROUNDS_BONUS, EXTRA_ROUND_COST = 8, 0.1, 0.05
TOOL_EFFICIENCY_CLIP = (-0.5, 1.0)
OFFICIAL_TOTAL_CLIP = (-1.0, 1.0)
PAPER_WEIGHTS = {"one": 1.0, "third": 1.0 / 3.0}


def clip(value: float, bounds: tuple[float, float]) -> float:
    """`value` limited to [low, high]."""
    return min(max(value, bounds[0]), bounds[1])


def tool_efficiency(traj: Trajectory) -> float:
    """The official code's tool-efficiency term R_tool ∈ [−0.5, 1] (rules and constants in the module docstring)."""
    results = traj.tool_results()
    rounds = len(traj.steps)
    calls_per_round = len(results) / rounds if rounds else 0.0
    low, high = CALLS_PER_ROUND_RANGE
    used = {r.name for r in results if r.ok}
    value = RATE_IN_RANGE if low <= calls_per_round <= high else RATE_OUT_OF_RANGE
    value += USE_BONUS * (RETRIEVE_MEMORY in used)
    value += USE_BONUS * bool(used & set(CONTEXT_TOOLS))
    value += USE_BONUS * (ADD_MEMORY in used)
    value += FEW_ROUNDS_BONUS if rounds <= FEW_ROUNDS else -EXTRA_ROUND_COST * (rounds - FEW_ROUNDS)
    return clip(value, TOOL_EFFICIENCY_CLIP)


def paper_total(task: float, context: float, memory: float, tool: float, penalty: float, cfg: RewardConfig) -> float:
    """Eq. 16 with uniform weights: w·(R_task + R_context + R_memory) + P (R_tool is not part of it)."""
    if cfg.paper_weights not in PAPER_WEIGHTS:
        raise ValueError(f"reward.paper_weights={cfg.paper_weights!r}: must be one of {sorted(PAPER_WEIGHTS)}")
    w = PAPER_WEIGHTS[cfg.paper_weights]
    return w * task + w * context + w * memory + penalty


def official_total(
    task: float, context: float, memory: float, tool: float, penalty: float, cfg: RewardConfig
) -> float:
    """The official code's total: weighted sum with R_tool, plus penalties, clipped to [−1, 1]."""
    value = cfg.w_task * task + cfg.w_tool_efficiency * tool + cfg.w_context * context + cfg.w_memory * memory
    return clip(value + penalty, OFFICIAL_TOTAL_CLIP)


Formula = Callable[[float, float, float, float, float, RewardConfig], float]
FORMULAS: dict[str, Formula] = {"agemem_paper": paper_total, "agemem_official": official_total}


def formula(name: str) -> Formula:
    """The total-reward formula `reward.preset` names; an unknown name raises ValueError listing the valid ones."""
    if name not in FORMULAS:
        hint = " (mem_alpha rewards are per step: agemem.rewards.mem_alpha)" if name == "mem_alpha" else ""
        raise ValueError(f"reward.preset={name!r}: must be one of {sorted(FORMULAS)}{hint}")
    return FORMULAS[name]
