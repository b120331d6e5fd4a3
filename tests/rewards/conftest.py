"""Builders for hand-made trajectories: each test states exactly the steps, tool results and context it scores."""

from typing import Any

import pytest

from agemem.records import Action, Episode, Step, ToolCall, ToolResult, Trajectory

QUESTION = "Which band has more members, Muse or The Raconteurs?"
FACTS = [
    "Muse is an English rock band formed in 1994 with three members.",
    "The Raconteurs are an American rock band with four members.",
]


def result(name: str, ok: bool = True, data: dict[str, Any] | None = None, **arguments: Any) -> ToolResult:
    """A tool result as the executor reports it."""
    return ToolResult(name=name, arguments=arguments, ok=ok, message=f"[memory tool result] {name}", data=data or {})


def step(stage: int, *results: ToolResult, context_tokens: int = 100, answer: str | None = None) -> Step:
    """One model call: tool calls (their results given) or, with `answer`, the final answer."""
    if answer is not None:
        action = Action(kind="answer", answer=answer)
    else:
        action = Action(kind="tool_calls", tool_calls=[ToolCall(r.name, r.arguments) for r in results])
    return Step(
        stage=stage, round=0, prompt_ids=[1] * 3, response_ids=[2], response_logprobs=[-0.1], response_text="…",
        finish_reason="stop", action=action, tool_results=list(results), context_tokens=context_tokens,
    )


def trajectory(*steps: Step, **fields: Any) -> Trajectory:
    """A trajectory of episode "e1" with the given steps; other fields (answer, budget, stm_final, …) by keyword."""
    fields.setdefault("context_budget", 2000)
    return Trajectory(episode_id=fields.pop("episode_id", "e1"), group_index=0, steps=list(steps), **fields)


def episode(**fields: Any) -> Episode:
    """The Muse / Raconteurs HotpotQA-style episode (fields overridable)."""
    values = {
        "id": "e1", "source": "synthetic", "contexts": FACTS, "distractors": ["Muse won a Grammy."],
        "question": QUESTION, "answers": ["The Raconteurs"], "supporting_facts": FACTS,
    }
    values.update(fields)
    return Episode(**values)


class Builders:
    """The builders, handed to tests as one fixture."""

    result = staticmethod(result)
    step = staticmethod(step)
    trajectory = staticmethod(trajectory)
    episode = staticmethod(episode)
    QUESTION = QUESTION
    FACTS = FACTS


@pytest.fixture
def b() -> type[Builders]:
    return Builders
