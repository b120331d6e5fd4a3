"""The six AgeMem memory tools (SPEC.md §2) as OpenAI-style function schemas that chat templates render."""

from typing import Any

ADD_MEMORY = "Add_memory"
UPDATE_MEMORY = "Update_memory"
DELETE_MEMORY = "Delete_memory"
RETRIEVE_MEMORY = "Retrieve_memory"
SUMMARY_CONTEXT = "Summary_context"
FILTER_CONTEXT = "Filter_context"

LTM_TOOLS = (ADD_MEMORY, UPDATE_MEMORY, DELETE_MEMORY)
STM_TOOLS = (RETRIEVE_MEMORY, SUMMARY_CONTEXT, FILTER_CONTEXT)
TOOL_NAMES = LTM_TOOLS + STM_TOOLS


def _function(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required},
        },
    }


_METADATA = {"type": "object", "description": "Optional metadata such as source, tags or timestamp."}

TOOL_SCHEMAS: list[dict[str, Any]] = [
    _function(
        ADD_MEMORY,
        "Store a new entry in long-term memory. Returns its memory id.",
        {
            "content": {"type": "string", "description": "The information to remember."},
            "metadata": _METADATA,
            "memory_type": {"type": "string", "description": "Optional category of the memory."},
        },
        ["content"],
    ),
    _function(
        UPDATE_MEMORY,
        "Replace the content of an existing long-term memory entry.",
        {
            "memory_id": {"type": "string", "description": "Id of the entry to update."},
            "content": {"type": "string", "description": "The new content."},
            "metadata": _METADATA,
        },
        ["memory_id", "content"],
    ),
    _function(
        DELETE_MEMORY,
        "Delete a long-term memory entry; only happens when confirmation is true.",
        {
            "memory_id": {"type": "string", "description": "Id of the entry to delete."},
            "confirmation": {"type": "boolean", "description": "Must be true to delete."},
        },
        ["memory_id", "confirmation"],
    ),
    _function(
        RETRIEVE_MEMORY,
        "Retrieve the long-term memory entries most similar to a query into the context.",
        {
            "query": {"type": "string", "description": "What to look for."},
            "top_k": {"type": "integer", "description": "How many entries to return (default 3)."},
            "metadata_filter": {"type": "object", "description": "Only entries whose metadata match."},
        },
        ["query"],
    ),
    _function(
        SUMMARY_CONTEXT,
        "Replace part of the context by a summary.",
        {"span": {"type": "string", "description": "'all', 'N' (last N rounds) or 'a-b' (messages a to b)."}},
        ["span"],
    ),
    _function(
        FILTER_CONTEXT,
        "Remove every context message similar to the criteria.",
        {"criteria": {"type": "string", "description": "Description of the messages to remove."}},
        ["criteria"],
    ),
]
