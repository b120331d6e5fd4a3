"""Apply parsed tool calls to the agent's memories (SPEC.md §2): tool call → state change + result message.

Model mistakes never raise here: an unknown tool, a missing or mistyped argument, an unknown memory id, a delete
without `confirmation: true`, or a bad span each become a `ToolResult(ok=False)` whose message names the tool and
the problem, with `data["error"]` one of `ERRORS`. The executor does not touch the context with the results: the
caller appends one `{"role": "tool", "content": result.message}` per result.

Argument checking follows the schemas in `agemem.tools.schemas`: required arguments must be present (a JSON
`null` counts as absent), and each given argument must have its declared type. Three unambiguous coercions are
accepted because small models write them often and their meaning is clear: a string of digits for an integer
(`"top_k": "3"`), the strings "true"/"false" (any case) for a boolean, and an integer for a string
(`"span": 3`). Arguments not in the schema are ignored. Checks happen in this order: tool name, arguments,
memory id, confirmation (so deleting an unknown id reports the id even when confirmation is false).
"""

import re
from collections.abc import Callable
from typing import Any

from agemem.memory.ltm import UnknownMemoryId
from agemem.memory.state import AgentState
from agemem.memory.stm import BadSpan
from agemem.records import Action, ToolCall, ToolResult
from agemem.tools.schemas import (
    ADD_MEMORY,
    DELETE_MEMORY,
    FILTER_CONTEXT,
    RETRIEVE_MEMORY,
    SUMMARY_CONTEXT,
    TOOL_NAMES,
    TOOL_SCHEMAS,
    UPDATE_MEMORY,
)

__all__ = ["ERRORS", "AgentState", "Summarizer", "execute", "execute_call", "validate_arguments"]

Summarizer = Callable[[list[dict[str, Any]]], str]
ERRORS = ("unknown_tool", "bad_arguments", "unknown_memory_id", "not_confirmed", "bad_span")
_PARAMETERS: dict[str, dict[str, Any]] = {s["function"]["name"]: s["function"]["parameters"] for s in TOOL_SCHEMAS}


class ToolCallError(Exception):
    """A model mistake found inside a tool handler (AgeMem's or Mem-α's): its `data["error"]` kind and the text the
    agent reads."""

    def __init__(self, kind: str, problem: str):
        super().__init__(problem)
        self.kind = kind
        self.problem = problem


def _coerce(value: Any, kind: str) -> tuple[Any, bool]:
    """(value converted to the JSON-schema type `kind`, whether that was possible); see the module docstring."""
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if kind == "string":
        return (str(value), True) if is_int else (value, isinstance(value, str))
    if kind == "integer":
        if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
            return int(value), True
        return value, is_int
    if kind == "boolean":
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true", True
        return value, isinstance(value, bool)
    if kind == "object":
        return value, isinstance(value, dict)
    raise ValueError(f"schema type {kind!r} is not handled by the executor")


def validate_arguments(tool: str, arguments: Any) -> tuple[dict[str, Any], str | None]:
    """(the schema's arguments, coerced; None) or ({}, why they are bad) for a known tool's call."""
    if not isinstance(arguments, dict):
        return {}, f"arguments must be a JSON object, got {type(arguments).__name__}"
    parameters = _PARAMETERS[tool]
    given = {k: v for k, v in arguments.items() if v is not None}
    missing = [name for name in parameters["required"] if name not in given]
    if missing:
        return {}, f"missing required argument(s) {', '.join(missing)}"
    clean = {}
    for name, spec in parameters["properties"].items():
        if name in given:
            value, ok = _coerce(given[name], spec["type"])
            if not ok:
                return {}, f"argument {name} must be of type {spec['type']}, got {given[name]!r}"
            clean[name] = value
    return clean, None


def _nonempty(args: dict[str, Any], name: str) -> str:
    if not args[name].strip():
        raise ToolCallError("bad_arguments", f"argument {name} is empty")
    return args[name]


def _add(args: dict[str, Any], state: AgentState, summarizer: Summarizer) -> tuple[str, dict[str, Any]]:
    memory_id = state.ltm.add(_nonempty(args, "content"), args.get("metadata"), args.get("memory_type"))
    return f"[memory tool result]\nmemory_added:{memory_id}", {"memory_id": memory_id}


def _update(args: dict[str, Any], state: AgentState, summarizer: Summarizer) -> tuple[str, dict[str, Any]]:
    content = _nonempty(args, "content")
    state.ltm.update(args["memory_id"], content, args.get("metadata"))
    return f"[memory tool result]\nmemory_updated:{args['memory_id']}", {"memory_id": args["memory_id"]}


def _delete(args: dict[str, Any], state: AgentState, summarizer: Summarizer) -> tuple[str, dict[str, Any]]:
    memory_id = args["memory_id"]
    state.ltm.get(memory_id)  # an unknown id is reported before a missing confirmation
    if args["confirmation"] is not True:
        raise ToolCallError("not_confirmed", f"{memory_id} was not deleted: confirmation must be true")
    state.ltm.delete(memory_id)
    return f"[memory tool result]\nmemory_deleted:{memory_id}", {"memory_id": memory_id, "deleted": True}


def _retrieve(args: dict[str, Any], state: AgentState, summarizer: Summarizer) -> tuple[str, dict[str, Any]]:
    top_k = args.get("top_k", state.retrieve_top_k)
    if top_k < 1:
        raise ToolCallError("bad_arguments", f"top_k must be at least 1, got {top_k}")
    hits = state.ltm.search(_nonempty(args, "query"), top_k, args.get("metadata_filter"))
    lines = [f"- {entry.content} (Memory ID: {entry.id})" for entry, _ in hits] or ["(none)"]
    retrieved = [{"id": e.id, "content": e.content, "score": score} for e, score in hits]
    return "[retrieved memories]\n" + "\n".join(lines), {"retrieved": retrieved}


def _summary(args: dict[str, Any], state: AgentState, summarizer: Summarizer) -> tuple[str, dict[str, Any]]:
    written: list[str] = []

    def keep_text(messages: list[dict[str, Any]]) -> str:
        written.append(str(summarizer(messages)))
        return written[-1]

    replaced = state.stm.summarize(args["span"], keep_text)
    return f"[context tool result]\nsummarized {replaced} messages", {"replaced": replaced, "summary": written[0]}


def _filter(args: dict[str, Any], state: AgentState, summarizer: Summarizer) -> tuple[str, dict[str, Any]]:
    criteria = _nonempty(args, "criteria")
    removed = state.stm.filter(criteria, state.filter_threshold, similarity=state.similarity)
    return f"[context tool result]\nremoved {removed} messages", {"removed": removed}


_HANDLERS: dict[str, Callable[[dict[str, Any], AgentState, Summarizer], tuple[str, dict[str, Any]]]] = {
    ADD_MEMORY: _add,
    UPDATE_MEMORY: _update,
    DELETE_MEMORY: _delete,
    RETRIEVE_MEMORY: _retrieve,
    SUMMARY_CONTEXT: _summary,
    FILTER_CONTEXT: _filter,
}


def error_result(call: ToolCall, arguments: dict[str, Any], kind: str, problem: str) -> ToolResult:
    """A failed call's result: the model reads `problem`; `kind` goes to the event log (also used by Mem-α's tools)."""
    return ToolResult(str(call.name), arguments, False, f"[tool error]\n{problem}", {"error": kind})


def unknown_tool_problem(name: object, valid: tuple[str, ...]) -> str:
    """The message for a call to a tool not in `valid`, with a hint when only the letter case is wrong."""
    close = [n for n in valid if n.lower() == str(name).strip().lower()]
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"unknown tool {name!r}{hint}; valid tools: {', '.join(valid)}"


def execute_call(call: ToolCall, state: AgentState, summarizer: Summarizer) -> ToolResult:
    """Apply one call to `state`; a model mistake becomes an error result (see the module docstring)."""
    arguments = dict(call.arguments) if isinstance(call.arguments, dict) else {}
    if not isinstance(call.name, str) or call.name not in _HANDLERS:
        return error_result(call, arguments, "unknown_tool", unknown_tool_problem(call.name, TOOL_NAMES))
    args, problem = validate_arguments(call.name, call.arguments)
    if problem is not None:
        return error_result(call, arguments, "bad_arguments", f"{call.name}: {problem}")
    try:
        message, data = _HANDLERS[call.name](args, state, summarizer)
    except ToolCallError as mistake:
        return error_result(call, arguments, mistake.kind, f"{call.name}: {mistake.problem}")
    except UnknownMemoryId as unknown:
        return error_result(call, arguments, "unknown_memory_id", f"{call.name}: {unknown}")
    except BadSpan as bad:
        return error_result(call, arguments, "bad_span", f"{call.name}: {bad}")
    return ToolResult(call.name, arguments, True, message, data)


def execute(action: Action, state: AgentState, summarizer: Summarizer) -> list[ToolResult]:
    """Apply an action's calls in order (each sees the state the previous ones left); [] for a non-call action."""
    if action.kind != "tool_calls":
        return []
    return [execute_call(call, state, summarizer) for call in action.tool_calls]
