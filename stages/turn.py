"""One agent turn, shared by the three stages: ask the policy, parse its output, apply the tool calls.

Stages are generators (DESIGN.md): they `yield` a `Request` for every model call they need and receive a
`Completion`; the collector batches the requests of many trajectories into one engine call. Stage code therefore
reads as straight-line code for ONE trajectory.
"""

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from agemem.records import (
    END_BUDGET,
    END_DONE,
    END_ROUND_LIMIT,
    Action,
    Generation,
    Step,
    ToolResult,
    Trajectory,
)
from agemem.tools.executor import AgentState, execute_call
from agemem.tools.parser import parse_action
from agemem.tools.schemas import SUMMARY_CONTEXT
from stages.config import CurriculumConfig

POLICY = "policy"  # a decision of the agent: recorded as a Step, trained on
SUMMARY = "summary"  # the policy writing a Summary_context summary: not a decision, not trained on

SUMMARY_SYSTEM = "Summarize the conversation below in a few sentences. Keep names, numbers, dates and places."


@dataclass
class Request:
    """A model call a stage needs: the chat messages to complete and what it is for."""

    messages: list[dict[str, Any]]
    purpose: str = POLICY


@dataclass
class Completion:
    """The collector's answer to a `Request`: the exact prompt ids, the generation, and its decoded text."""

    prompt_ids: list[int]
    generation: Generation
    text: str


@dataclass
class TurnSettings:
    """What a turn reads: the curriculum (rounds, budget and auto-stop, tool syntax, prompt style: one home for
    each of them) and how this run measures and summarises the context."""

    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)
    summarizer: str = "policy"  # memory.summarizer: policy | extractive
    extractive: Callable[[list[dict[str, Any]]], str] | None = None  # the offline summariser
    # Tokens of the prompt that context messages render to (the collector passes its renderer's exact count, tool
    # schemas and generation prompt included); None counts the context's messages only (`stm.token_count()`).
    count_context: Callable[[list[dict[str, Any]]], int] | None = None

    @property
    def auto_stop_tokens(self) -> int:
        """Context tokens past which the rounds on an input stop (curriculum.early_stop_fraction × budget)."""
        return int(self.curriculum.early_stop_fraction * self.curriculum.context_budget)


TurnGen = Generator[Request, Completion, Action]

PROMPT_STYLES = ("full", "compact")


def input_text(template: str, style: str, **fields: str) -> str:
    """A stage's input message from its template. Templates end with an instruction line; the `compact` style
    drops it (a model trained on demonstrations does not need it, and it is most of a tiny model's prompt)."""
    if style not in PROMPT_STYLES:
        raise ValueError(f"curriculum.prompt_style={style!r}: must be one of {list(PROMPT_STYLES)}")
    if style == "compact":
        template = template.rsplit("\n", 1)[0]
    return template.format(**fields)


def agent_turn(state: AgentState, traj: Trajectory, stage: int, round_: int, settings: TurnSettings) -> TurnGen:
    """One model call: complete the context, record the Step, apply the action. Returns the parsed action.

    Tool results enter the context as `tool` messages; a format error is reported the same way, so the agent
    sees it and the reward sees it (never an exception).
    """
    completion = yield Request(list(state.stm.messages))
    action = parse_action(completion.text, settings.curriculum.tool_format)
    state.stm.append({"role": "assistant", "content": completion.text})
    results: list[ToolResult] = []
    if action.kind == "format_error":
        state.stm.append({"role": "tool", "content": f"[format error]\n{action.error}"})
    for call in action.tool_calls:
        summarizer = settings.extractive
        if call.name == SUMMARY_CONTEXT and settings.summarizer == "policy":
            summarizer = yield from _policy_summarizer(state, call.arguments.get("span"))
        result = execute_call(call, state, summarizer)
        results.append(result)
        state.stm.append({"role": "tool", "content": result.message})
    gen = completion.generation
    traj.steps.append(
        Step(
            stage=stage,
            round=round_,
            prompt_ids=completion.prompt_ids,
            response_ids=gen.token_ids,
            response_logprobs=gen.logprobs,
            response_text=completion.text,
            finish_reason=gen.finish_reason,
            action=action,
            tool_results=results,
            context_tokens=len(completion.prompt_ids),
        )
    )
    return action


def _policy_summarizer(state: AgentState, span: Any) -> Generator[Request, Completion, Any]:
    """Ask the policy to summarise the span; returns a summarizer callable that yields that text.

    A malformed span is left to the executor, which reports it as an error result.
    """
    try:
        messages = state.stm.span_messages(str(span)) if span is not None else []
    except ValueError:
        return lambda _messages: ""
    if not messages:
        return lambda _messages: ""
    transcript = "\n".join(f"{m['role']}: {m['content']}" for m in messages)
    completion = yield Request(
        [{"role": "system", "content": SUMMARY_SYSTEM}, {"role": "user", "content": transcript}], purpose=SUMMARY
    )
    text = completion.text.strip()
    return lambda _messages: text


def context_tokens(state: AgentState, settings: TurnSettings) -> int:
    """Tokens of the prompt the current context renders to: what the next model call would see."""
    if settings.count_context is None:
        return state.stm.token_count()
    return settings.count_context(state.stm.messages)


def respond(
    state: AgentState, traj: Trajectory, stage: int, settings: TurnSettings
) -> Generator[Request, Completion, tuple[str, str | None]]:
    """Let the agent act on the latest input (SPEC.md §3 "When turns and stages end"). Returns (end, answer).

    A call whose output carries tool calls is followed by their results and another call (a round), up to
    `max_rounds`. A call without tool calls (an answer, plain text, a format error) ends the turn: END_DONE, with
    the answer if it gave one. The context is measured after each call: past the auto-stop threshold (0.8 ×
    budget) the turn ends (END_BUDGET); past the budget itself the trajectory records a context overflow
    (P_overflow). The first call is always made, so every input — the stage-3 question included — gets one.
    END_ROUND_LIMIT when every round carried tool calls.
    """
    for round_ in range(settings.curriculum.max_rounds):
        action = yield from agent_turn(state, traj, stage, round_, settings)
        used = max(traj.steps[-1].context_tokens, context_tokens(state, settings))
        traj.context_overflow |= used > settings.curriculum.context_budget
        if not action.tool_calls:
            return END_DONE, action.answer
        if used > settings.auto_stop_tokens:
            return END_BUDGET, None
    return END_ROUND_LIMIT, None


def record_end(traj: Trajectory, stage: int, ends: list[str]) -> None:
    """Record how a stage ended from the ends of its inputs: the auto-stop if any input hit it, else a round limit
    if any input used all its rounds, else done. (Penalty events are recorded where they happen: the overflow in
    `respond`, the stage-3 round limit in stage 3.)"""
    if END_BUDGET in ends:
        traj.stage_end[stage] = END_BUDGET
    elif END_ROUND_LIMIT in ends:
        traj.stage_end[stage] = END_ROUND_LIMIT
    else:
        traj.stage_end[stage] = END_DONE


def respond_to_inputs(
    state: AgentState, traj: Trajectory, stage: int, settings: TurnSettings, inputs: list[str],
    before_each: Callable[[int], None] | None = None, answer_ends_stage: bool = False,
) -> TurnGen:
    """Show each input as a user message and let the agent respond (stages 1 and 2). Every input arrives and gets
    at least one call, whatever the context size (the auto-stop ends only the current input's rounds).

    `before_each(i)` runs before input i is shown (stage 1's automatic retrieval). With `answer_ends_stage` an
    <answer> ends the stage: the remaining inputs are not shown (the paper's Alg 3 for stage 1). Records how the
    stage ended.
    """
    ends = []
    for i, message in enumerate(inputs):
        if before_each is not None:
            before_each(i)
        state.stm.append({"role": "user", "content": message})
        end, answer = yield from respond(state, traj, stage, settings)
        ends.append(end)
        if answer_ends_stage and answer is not None:
            break
    record_end(traj, stage, ends)
    return None
