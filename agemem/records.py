"""Rollout records (DESIGN.md): one `Step` per model call, one `Trajectory` per rollout of an episode.

Plain dataclasses that round-trip through JSON (`to_dict` / `from_dict`), so trajectories can be written to
`trajectories.jsonl`, inspected, and scored or trained on later.
"""

from dataclasses import asdict, dataclass, field
from typing import Any

from agemem.tools.actions import Action, ToolCall, ToolResult

# How the agent's turn on an input (and so a stage) ended: a call without tool calls, every round used, or the
# auto-stop after a call (the context passed 0.8 × budget).
END_DONE = "done"
END_ROUND_LIMIT = "round_limit"
END_BUDGET = "budget"


@dataclass
class Step:
    """One model call inside a trajectory, recorded token-exactly."""

    stage: int  # 1 LTM construction, 2 STM control, 3 integrated reasoning
    round: int  # 0-based round within the stage's current input message
    prompt_ids: list[int]  # the exact ids the engine saw (the rendered context)
    response_ids: list[int]  # the exact ids it generated
    response_logprobs: list[float]  # log-prob of each generated id (engine.py defines it)
    response_text: str  # decoded response
    finish_reason: str  # "stop" or "length"
    action: Action  # what the response was parsed as
    tool_results: list[ToolResult] = field(default_factory=list)  # one per executed call, in order
    context_tokens: int = 0  # tokens in the prompt (= len(prompt_ids))


@dataclass
class Trajectory:
    """One three-stage rollout of one episode (SPEC.md §3) and, once scored, its reward."""

    episode_id: str
    group_index: int  # k in 0..K-1 among the rollouts of the same episode
    steps: list[Step] = field(default_factory=list)
    answer: str | None = None  # the final <answer> of stage 3, None when none was given
    stage_end: dict[int, str] = field(default_factory=dict)  # stage → END_DONE | END_ROUND_LIMIT | END_BUDGET
    rounds_exceeded: bool = False  # stage 3 used all its rounds without an answer (P_rounds, −1)
    context_overflow: bool = False  # the context exceeded the budget itself at some call (P_overflow, −0.5)
    context_budget: int = 0  # the context token budget the rollout ran under
    max_rounds: int = 0  # the model calls allowed per input (curriculum.max_rounds)
    answer_context_tokens: int = 0  # context tokens when answering (or at the end when no answer)
    stm_final: list[dict[str, Any]] = field(default_factory=list)  # the context messages at the end
    # How many of stm_final's messages the answering call saw (None: all of them): R_preservation is measured on
    # stm_final[:answer_context_len], never on text the answer added.
    answer_context_len: int | None = None
    ltm_final: list[dict[str, Any]] = field(default_factory=list)  # LTM snapshot entries at the end
    reward: float | None = None  # terminal reward, set by rewards.score
    reward_components: dict[str, float] = field(default_factory=dict)  # every term of the reward, by name

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "Trajectory":
        steps = []
        for s in data["steps"]:
            action = dict(s["action"])
            action["tool_calls"] = [ToolCall(**c) for c in action["tool_calls"]]
            steps.append(
                Step(**{**s, "action": Action(**action), "tool_results": [ToolResult(**r) for r in s["tool_results"]]})
            )
        stage_end = {int(k): v for k, v in data["stage_end"].items()}
        return Trajectory(**{**data, "steps": steps, "stage_end": stage_end})

    def tool_results(self, stage: int | None = None) -> list[ToolResult]:
        """Every executed tool call, in order, optionally of one stage only."""
        return [r for s in self.steps if stage is None or s.stage == stage for r in s.tool_results]

    def answer_context(self) -> list[dict[str, Any]]:
        """The context messages the model saw when it answered (the final context when it did not answer)."""
        return self.stm_final[: self.answer_context_len]
