"""What one model output means: tool calls, an answer, or a format error (SPEC.md §1)."""

from dataclasses import dataclass, field
from typing import Any, Literal

ActionKind = Literal["tool_calls", "answer", "format_error"]


@dataclass
class ToolCall:
    """One requested tool call, exactly as parsed (arguments are validated by the executor, not here)."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass
class Action:
    """The parsed meaning of one model output. Exactly one of `tool_calls`, `answer`, `error` is meaningful."""

    kind: ActionKind
    tool_calls: list[ToolCall] = field(default_factory=list)
    answer: str | None = None
    think: str | None = None  # the <think> text, if any
    error: str | None = None  # why the output is a format error (shown to the agent)
    warnings: list[str] = field(default_factory=list)  # tolerated problems (missing closing tag, duplicates, …)


@dataclass
class ToolResult:
    """What executing one tool call did: the message the agent sees plus structured data for the reward."""

    name: str
    arguments: dict[str, Any]
    ok: bool  # False for every error result (unknown tool, bad arguments, unknown id, no confirmation)
    message: str  # the text that enters the context as a `tool` message
    data: dict[str, Any] = field(default_factory=dict)  # e.g. {"memory_id": …}, {"retrieved": [{id, content, score}]}
