"""Mem-α's four memory tools (SPEC.md §6): their schemas, and the executor that applies calls to a `MemAlphaMemory`.

The schemas' names, parameters, enums and descriptions are the official ones (Mem-alpha `functions.py`), since a
trained policy expects exactly that interface. Three tools write (one per chunk step); `search_memory` belongs to
question time and is refused unless the caller passes `allow_search=True`.

Model mistakes never raise here: an unknown tool, a refused search, a missing or mistyped argument, a memory type
outside the tool's enum, an empty content, or an unknown id each become a `ToolResult(ok=False)` whose message
names the tool and the problem, with `data["error"]` one of `ERRORS`. A duplicate insert is not an error: it is
skipped and reported with `data["status"] == "skipped"` (the official r2 does not count such a call as a success;
the reward reads that status). Accepted coercions, as in the AgeMem executor: an integer for a string
(`"memory_id": 1234`); surrounding whitespace of a memory id is ignored. Arguments not in the schema are ignored.
"""

from typing import Any

from agemem.memory.mem_alpha import (
    CORE_MEMORY,
    EPISODIC_MEMORY,
    SEARCH_METHODS,
    SEMANTIC_MEMORY,
    MemAlphaMemory,
    SearchUnavailable,
    UnknownItemId,
)
from agemem.records import Action, ToolCall, ToolResult
from agemem.tools.executor import ToolCallError, error_result, unknown_tool_problem

NEW_MEMORY_INSERT = "new_memory_insert"
MEMORY_UPDATE = "memory_update"
MEMORY_DELETE = "memory_delete"
SEARCH_MEMORY = "search_memory"
WRITE_TOOLS = (NEW_MEMORY_INSERT, MEMORY_UPDATE, MEMORY_DELETE)
TOOL_NAMES = (*WRITE_TOOLS, SEARCH_MEMORY)
ERRORS = ("unknown_tool", "search_not_allowed", "bad_arguments", "unknown_memory_id", "search_unavailable")
SEARCH_TOP_K = 20  # the official Memory.TOPK

_ALL_TYPES = [CORE_MEMORY, SEMANTIC_MEMORY, EPISODIC_MEMORY]
_LIST_TYPES = [SEMANTIC_MEMORY, EPISODIC_MEMORY]


def _schema(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    parameters = {"type": "object", "properties": properties, "required": required}
    return {"type": "function", "function": {"name": name, "description": description, "parameters": parameters}}


def _param(description: str, enum: list[str] | None = None) -> dict[str, Any]:
    return {"type": "string", "description": description, **({"enum": enum} if enum else {})}


MEM_ALPHA_TOOL_SCHEMAS: list[dict[str, Any]] = [
    _schema(
        NEW_MEMORY_INSERT,
        "Infer a new memory and append it to a memory store. Creates a new memory item with a unique ID. "
        "Note: Core memory cannot be inserted, only updated.",
        {
            "memory_type": _param(
                "Type of memory to insert: 'semantic' (general knowledge) or 'episodic' (specific experiences). "
                "Core memory cannot be inserted.",
                _LIST_TYPES,
            ),
            "content": _param("Content of the memory to insert. Creates a new memory item with a unique ID."),
        },
        ["memory_type", "content"],
    ),
    _schema(
        MEMORY_UPDATE,
        "Update an existing memory. For core memory, replaces the entire paragraph content. If core memory is "
        "empty, then directly write into the core memory. For semantic/episodic memories, updates the specific "
        "memory item by ID.",
        {
            "memory_type": _param(
                "Type of memory to update: 'core' (simple paragraph), 'semantic' (general knowledge), or "
                "'episodic' (specific experiences)",
                _ALL_TYPES,
            ),
            "new_content": _param(
                "New **combined** content for the memory. For core memory, this replaces the entire paragraph. "
                "For semantic/episodic, this replaces the content of the specified memory ID."
            ),
            "memory_id": _param(
                "ID of the memory to update. Required for semantic/episodic memories, ignored for core memory."
            ),
        },
        ["memory_type", "new_content"],
    ),
    _schema(
        MEMORY_DELETE,
        "Delete a memory. For core memory, clears the entire paragraph content. For semantic/episodic memories, "
        "deletes the specific memory item by ID.",
        {
            "memory_type": _param(
                "Type of memory to delete: 'core' (simple paragraph), 'semantic' (general knowledge), or "
                "'episodic' (specific experiences)",
                _ALL_TYPES,
            ),
            "memory_id": _param(
                "ID of the memory to delete. Required for semantic/episodic memories, ignored for core memory."
            ),
        },
        ["memory_type"],
    ),
    _schema(
        SEARCH_MEMORY,
        "Search for memories using BM25 or text embedding similarity. Note that core memory is always in the "
        "system prompt, so you don't need to search it.",
        {
            "memory_type": _param("Type of memory to search", _LIST_TYPES),
            "query": _param("Query string to search for in memory content"),
            "search_method": _param(
                "Search method to use: 'bm25' for keyword-based search or 'text-embedding' for semantic "
                "similarity search",
                list(SEARCH_METHODS),
            ),
        },
        ["memory_type", "query"],
    ),
]
_PARAMETERS = {s["function"]["name"]: s["function"]["parameters"] for s in MEM_ALPHA_TOOL_SCHEMAS}


def _arguments(tool: str, arguments: Any) -> dict[str, str]:
    """The call's schema arguments as strings (JSON null counts as absent); `ToolCallError` when they are bad."""
    if not isinstance(arguments, dict):
        raise ToolCallError("bad_arguments", f"arguments must be a JSON object, got {type(arguments).__name__}")
    parameters = _PARAMETERS[tool]
    given = {k: v for k, v in arguments.items() if v is not None}
    missing = [name for name in parameters["required"] if name not in given]
    if missing:
        raise ToolCallError("bad_arguments", f"missing required argument(s) {', '.join(missing)}")
    clean: dict[str, str] = {}
    for name, spec in parameters["properties"].items():
        if name not in given:
            continue
        value = given[name]
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise ToolCallError("bad_arguments", f"argument {name} must be a string, got {given[name]!r}")
        if "enum" in spec and value not in spec["enum"]:
            raise ToolCallError("bad_arguments", f"{name} must be one of {', '.join(spec['enum'])}, got {value!r}")
        clean[name] = value.strip() if name == "memory_id" else value
    for name in ("content", "new_content"):
        if name in clean and not clean[name].strip():
            raise ToolCallError("bad_arguments", f"argument {name} is empty")
    return clean


def _run(tool: str, args: dict[str, str], memory: MemAlphaMemory) -> tuple[str, dict[str, Any]]:
    """Apply one validated call; returns (message, data)."""
    memory_type, memory_id = args["memory_type"], args.get("memory_id")
    data: dict[str, Any] = {"memory_type": memory_type}
    if tool == NEW_MEMORY_INSERT:
        item, inserted = memory.insert(memory_type, args["content"])
        data |= {"memory_id": item.id, "status": "inserted" if inserted else "skipped"}
        if not inserted:
            return f"skipped: this content is already in {memory_type} as [{item.id}]", data
        return f"inserted [{item.id}] into {memory_type}", data
    if tool == MEMORY_UPDATE:
        stored = memory.update(memory_type, args["new_content"], memory_id)
        if memory_type == CORE_MEMORY:
            truncated = stored != args["new_content"]
            data["truncated"] = truncated
            cut = f" (over {memory.core_max_tokens} tokens: truncated)" if truncated else ""
            return f"core_memory replaced{cut}", data
        return f"{memory_type} [{memory_id}] updated", data | {"memory_id": memory_id}
    if tool == MEMORY_DELETE:
        memory.delete(memory_type, memory_id)
        if memory_type == CORE_MEMORY:
            return "core_memory cleared", data
        return f"{memory_type} [{memory_id}] deleted", data | {"memory_id": memory_id}
    method = args.get("search_method", "bm25")
    hits = memory.search(memory_type, args["query"], SEARCH_TOP_K, method)
    lines = "\n".join(f"[{item.id}] {item.content}" for item in hits) or "(none)"
    data |= {"search_method": method, "retrieved": [{"id": i.id, "content": i.content} for i in hits]}
    return f"{len(hits)} {memory_type} item(s) found by {method}\n{lines}", data


def execute_mem_alpha_call(call: ToolCall, memory: MemAlphaMemory, *, allow_search: bool = False) -> ToolResult:
    """Apply one call to `memory`; a model mistake becomes an error result (see the module docstring).

    Checks in order: tool name, search permission (`allow_search`), arguments, then the memory operation itself.
    """
    arguments = dict(call.arguments) if isinstance(call.arguments, dict) else {}
    if not isinstance(call.name, str) or call.name not in TOOL_NAMES:
        return error_result(call, arguments, "unknown_tool", unknown_tool_problem(call.name, TOOL_NAMES))
    if call.name == SEARCH_MEMORY and not allow_search:
        problem = f"{SEARCH_MEMORY}: searching is only possible when answering questions; now store memories"
        return error_result(call, arguments, "search_not_allowed", problem)
    try:
        message, data = _run(call.name, _arguments(call.name, call.arguments), memory)
    except ToolCallError as mistake:
        return error_result(call, arguments, mistake.kind, f"{call.name}: {mistake.problem}")
    except UnknownItemId as unknown:
        return error_result(call, arguments, "unknown_memory_id", f"{call.name}: {unknown}")
    except SearchUnavailable as unavailable:
        return error_result(call, arguments, "search_unavailable", f"{call.name}: {unavailable}")
    except ValueError as bad:
        return error_result(call, arguments, "bad_arguments", f"{call.name}: {bad}")
    return ToolResult(call.name, arguments, True, f"[memory tool result]\n{message}", data)


def execute_mem_alpha_action(action: Action, memory: MemAlphaMemory, allow_search: bool = False) -> list[ToolResult]:
    """Apply an action's calls in order (each sees the memory the previous ones left); [] for a non-call action."""
    if action.kind != "tool_calls":
        return []
    return [execute_mem_alpha_call(call, memory, allow_search=allow_search) for call in action.tool_calls]


def write_memory_type(call: ToolCall) -> str | None:
    """The memory type a write call targets (one of its schema's enum), else None (a search, an unknown tool, a
    missing or invalid memory_type): what r4's per-type validity check judges the written content against."""
    if call.name not in WRITE_TOOLS or not isinstance(call.arguments, dict):
        return None
    memory_type = call.arguments.get("memory_type")
    allowed = _PARAMETERS[call.name]["properties"]["memory_type"]["enum"]
    return memory_type if isinstance(memory_type, str) and memory_type in allowed else None
