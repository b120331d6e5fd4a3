"""Mem-α's tools (SPEC.md §6): the official schemas, each tool's semantics and error results, a never-raises fuzz."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agemem.memory import mem_alpha as memory_module
from agemem.memory.embedding import HashingEmbedder
from agemem.memory.mem_alpha import CORE_MEMORY, EPISODIC_MEMORY, SEMANTIC_MEMORY, MemAlphaMemory
from agemem.records import Action, ToolCall
from agemem.tools.mem_alpha import (
    ERRORS,
    MEM_ALPHA_TOOL_SCHEMAS,
    MEMORY_DELETE,
    MEMORY_UPDATE,
    NEW_MEMORY_INSERT,
    SEARCH_MEMORY,
    WRITE_TOOLS,
    execute_mem_alpha_action,
    execute_mem_alpha_call,
    write_memory_type,
)


def _run(memory, name, allow_search=False, **arguments):
    return execute_mem_alpha_call(ToolCall(name, arguments), memory, allow_search=allow_search)


def _error_kind(result) -> str:
    assert not result.ok and result.message.startswith("[tool error]\n")
    return result.data["error"]


# ---- schemas -----------------------------------------------------------------------------------------------------
def test_schemas_have_the_official_names_parameters_and_enums():
    functions = {s["function"]["name"]: s["function"] for s in MEM_ALPHA_TOOL_SCHEMAS}
    assert list(functions) == [NEW_MEMORY_INSERT, MEMORY_UPDATE, MEMORY_DELETE, SEARCH_MEMORY]
    assert WRITE_TOOLS == (NEW_MEMORY_INSERT, MEMORY_UPDATE, MEMORY_DELETE)
    shapes = {
        name: (list(f["parameters"]["properties"]), f["parameters"]["required"]) for name, f in functions.items()
    }
    assert shapes == {
        NEW_MEMORY_INSERT: (["memory_type", "content"], ["memory_type", "content"]),
        MEMORY_UPDATE: (["memory_type", "new_content", "memory_id"], ["memory_type", "new_content"]),
        MEMORY_DELETE: (["memory_type", "memory_id"], ["memory_type"]),
        SEARCH_MEMORY: (["memory_type", "query", "search_method"], ["memory_type", "query"]),
    }

    def enum(name: str, param: str) -> list[str]:
        return functions[name]["parameters"]["properties"][param]["enum"]

    assert enum(NEW_MEMORY_INSERT, "memory_type") == [SEMANTIC_MEMORY, EPISODIC_MEMORY]
    assert enum(MEMORY_UPDATE, "memory_type") == [CORE_MEMORY, SEMANTIC_MEMORY, EPISODIC_MEMORY]
    assert enum(MEMORY_DELETE, "memory_type") == [CORE_MEMORY, SEMANTIC_MEMORY, EPISODIC_MEMORY]
    assert enum(SEARCH_MEMORY, "memory_type") == [SEMANTIC_MEMORY, EPISODIC_MEMORY]
    assert enum(SEARCH_MEMORY, "search_method") == ["bm25", "text-embedding"]
    assert "Core memory cannot be inserted" in functions[NEW_MEMORY_INSERT]["description"]
    assert all(p["type"] == "string" for f in functions.values() for p in f["parameters"]["properties"].values())
    json.dumps(MEM_ALPHA_TOOL_SCHEMAS)


# ---- new_memory_insert ---------------------------------------------------------------------------------------------
def test_insert_stores_an_item_and_reports_its_id():
    memory = MemAlphaMemory()
    result = _run(memory, NEW_MEMORY_INSERT, memory_type=SEMANTIC_MEMORY, content="Paris is in France.")
    item = memory.semantic[0]
    assert result.ok and result.name == NEW_MEMORY_INSERT
    assert result.data == {"memory_type": SEMANTIC_MEMORY, "memory_id": item.id, "status": "inserted"}
    assert f"inserted [{item.id}] into semantic_memory" in result.message
    assert result.arguments == {"memory_type": SEMANTIC_MEMORY, "content": "Paris is in France."}


def test_a_duplicate_insert_is_skipped_not_an_error():
    memory = MemAlphaMemory()
    first = _run(memory, NEW_MEMORY_INSERT, memory_type=EPISODIC_MEMORY, content="At 9am, Ann ran.")
    again = _run(memory, NEW_MEMORY_INSERT, memory_type=EPISODIC_MEMORY, content="At 9am, Ann ran.")
    assert again.ok and again.data["status"] == "skipped" and again.data["memory_id"] == first.data["memory_id"]
    assert "skipped: this content is already in episodic_memory" in again.message and len(memory) == 1


@pytest.mark.parametrize(
    "arguments, problem",
    [
        ({"memory_type": CORE_MEMORY, "content": "x"}, "memory_type must be one of semantic_memory, episodic_memory"),
        ({"memory_type": "semantic", "content": "x"}, "semantic_memory, episodic_memory, got 'semantic'"),
        ({"content": "x"}, "missing required argument(s) memory_type"),
        ({"memory_type": SEMANTIC_MEMORY, "content": None}, "missing required argument(s) content"),
        ({"memory_type": SEMANTIC_MEMORY, "content": ["x"]}, "argument content must be a string"),
        ({"memory_type": SEMANTIC_MEMORY, "content": "  "}, "argument content is empty"),
    ],
)
def test_insert_argument_errors(arguments, problem):
    memory = MemAlphaMemory()
    result = _run(memory, NEW_MEMORY_INSERT, **arguments)
    assert _error_kind(result) == "bad_arguments"
    assert result.message.startswith("[tool error]\nnew_memory_insert: ") and problem in result.message
    assert len(memory) == 0


def test_arguments_that_are_not_an_object_are_an_error():
    result = execute_mem_alpha_call(ToolCall(NEW_MEMORY_INSERT, ["x"]), MemAlphaMemory())  # type: ignore[arg-type]
    assert _error_kind(result) == "bad_arguments" and "arguments must be a JSON object, got list" in result.message


# ---- memory_update / memory_delete ---------------------------------------------------------------------------------
def test_update_core_needs_no_id_and_reports_truncation():
    memory = MemAlphaMemory(core_max_tokens=20)
    result = _run(memory, MEMORY_UPDATE, memory_type=CORE_MEMORY, new_content="Ann is a nurse.")
    assert result.ok and memory.core == "Ann is a nurse." and result.data["truncated"] is False
    long = _run(memory, MEMORY_UPDATE, memory_type=CORE_MEMORY, new_content="word " * 100)
    assert long.ok and long.data["truncated"] is True and "(over 20 tokens: truncated)" in long.message


def test_update_and_delete_an_item_by_id():
    memory = MemAlphaMemory()
    memory_id = _run(memory, NEW_MEMORY_INSERT, memory_type=SEMANTIC_MEMORY, content="old").data["memory_id"]
    result = _run(memory, MEMORY_UPDATE, memory_type=SEMANTIC_MEMORY, new_content="new", memory_id=f" {memory_id} ")
    assert result.ok and result.data["memory_id"] == memory_id and memory.semantic[0].content == "new"
    deleted = _run(memory, MEMORY_DELETE, memory_type=SEMANTIC_MEMORY, memory_id=memory_id)
    assert deleted.ok and f"semantic_memory [{memory_id}] deleted" in deleted.message and len(memory) == 0


def test_an_integer_memory_id_is_read_as_a_string():
    memory = MemAlphaMemory()
    memory.insert(SEMANTIC_MEMORY, "x")
    memory.semantic[0].id = "1234"
    assert _run(memory, MEMORY_DELETE, memory_type=SEMANTIC_MEMORY, memory_id=1234).ok


def test_delete_core_clears_it():
    memory = MemAlphaMemory()
    memory.update(CORE_MEMORY, "text")
    result = _run(memory, MEMORY_DELETE, memory_type=CORE_MEMORY)
    assert result.ok and memory.core == "" and "core_memory cleared" in result.message


@pytest.mark.parametrize("tool", [MEMORY_UPDATE, MEMORY_DELETE])
def test_unknown_and_missing_ids(tool):
    memory = MemAlphaMemory()
    episodic_id = memory.insert(EPISODIC_MEMORY, "At 1pm, x")[0].id
    content = {"new_content": "y"} if tool == MEMORY_UPDATE else {}
    unknown = _run(memory, tool, memory_type=SEMANTIC_MEMORY, memory_id=episodic_id, **content)
    assert _error_kind(unknown) == "unknown_memory_id"
    assert f"{tool}: no semantic_memory item has id '{episodic_id}'" in unknown.message
    missing = _run(memory, tool, memory_type=EPISODIC_MEMORY, **content)
    assert _error_kind(missing) == "bad_arguments" and "needs a memory_id" in missing.message
    assert memory.episodic[0].content == "At 1pm, x"


# ---- search_memory -------------------------------------------------------------------------------------------------
def test_search_is_refused_in_the_write_phase():
    memory = MemAlphaMemory()
    memory.insert(SEMANTIC_MEMORY, "Paris is in France.")
    result = _run(memory, SEARCH_MEMORY, memory_type=SEMANTIC_MEMORY, query="Paris")
    assert _error_kind(result) == "search_not_allowed" and result.message.startswith("[tool error]\nsearch_memory: ")


def test_search_returns_the_bm25_top_20_in_score_order():
    memory = MemAlphaMemory()
    memory.insert(SEMANTIC_MEMORY, "Bob likes tea.")
    for i in range(24):
        memory.insert(SEMANTIC_MEMORY, f"fact {i}: apples are red")
    memory.insert(SEMANTIC_MEMORY, "apples apples apples")
    result = _run(memory, SEARCH_MEMORY, allow_search=True, memory_type=SEMANTIC_MEMORY, query="apples")
    retrieved = result.data["retrieved"]
    assert result.ok and result.data["search_method"] == "bm25" and len(retrieved) == 20
    assert retrieved[0]["content"] == "apples apples apples"
    assert "Bob likes tea." not in [r["content"] for r in retrieved]
    assert result.message.splitlines()[1:3] == [
        "20 semantic_memory item(s) found by bm25",
        f"[{retrieved[0]['id']}] apples apples apples",
    ]


def test_search_with_text_embedding_and_its_errors(monkeypatch):
    memory = MemAlphaMemory(embedder=HashingEmbedder())
    memory.insert(EPISODIC_MEMORY, "At noon, Ann visited Paris")
    ok = _run(memory, SEARCH_MEMORY, True, memory_type=EPISODIC_MEMORY, query="Paris", search_method="text-embedding")
    assert ok.ok and ok.data["retrieved"][0]["content"] == "At noon, Ann visited Paris"
    core = _run(memory, SEARCH_MEMORY, True, memory_type=CORE_MEMORY, query="Paris")
    assert _error_kind(core) == "bad_arguments" and "memory_type must be one of" in core.message
    bad = _run(memory, SEARCH_MEMORY, True, memory_type=EPISODIC_MEMORY, query="Paris", search_method="tfidf")
    assert _error_kind(bad) == "bad_arguments" and "search_method must be one of bm25, text-embedding" in bad.message

    def unavailable():
        raise OSError("no model files")

    monkeypatch.setattr(memory_module, "load_minilm", unavailable)
    plain = MemAlphaMemory()
    plain.insert(EPISODIC_MEMORY, "At noon, x")
    result = _run(plain, SEARCH_MEMORY, True, memory_type=EPISODIC_MEMORY, query="x", search_method="text-embedding")
    assert _error_kind(result) == "search_unavailable" and "'text-embedding' is unavailable" in result.message


def test_search_of_an_empty_memory_finds_nothing():
    result = _run(MemAlphaMemory(), SEARCH_MEMORY, True, memory_type=SEMANTIC_MEMORY, query="x")
    assert result.ok and result.data["retrieved"] == [] and "(none)" in result.message


# ---- unknown tools, actions, write_memory_type ---------------------------------------------------------------------
def test_unknown_tools_name_the_valid_ones_with_a_hint():
    result = _run(MemAlphaMemory(), "Memory_Update", memory_type=CORE_MEMORY, new_content="x")
    assert _error_kind(result) == "unknown_tool" and "(did you mean memory_update?)" in result.message
    assert "valid tools: new_memory_insert, memory_update, memory_delete, search_memory" in result.message
    assert _error_kind(_run(MemAlphaMemory(), "Add_memory", content="x")) == "unknown_tool"


def test_an_action_runs_its_calls_in_order():
    memory = MemAlphaMemory()
    calls = [
        ToolCall(MEMORY_UPDATE, {"memory_type": CORE_MEMORY, "new_content": "Ann is a nurse."}),
        ToolCall(NEW_MEMORY_INSERT, {"memory_type": SEMANTIC_MEMORY, "content": "Nurses work shifts."}),
        ToolCall(NEW_MEMORY_INSERT, {"memory_type": SEMANTIC_MEMORY, "content": "Nurses work shifts."}),
        ToolCall(SEARCH_MEMORY, {"memory_type": SEMANTIC_MEMORY, "query": "shifts"}),
    ]
    results = execute_mem_alpha_action(Action("tool_calls", tool_calls=calls), memory)
    assert [r.ok for r in results] == [True, True, True, False]
    assert results[2].data["status"] == "skipped" and memory.core == "Ann is a nurse." and len(memory) == 1
    assert execute_mem_alpha_action(Action("answer", answer="x"), memory) == []
    searched = execute_mem_alpha_action(Action("tool_calls", tool_calls=calls[3:]), memory, allow_search=True)
    assert searched[0].ok


def test_write_memory_type():
    assert write_memory_type(ToolCall(NEW_MEMORY_INSERT, {"memory_type": EPISODIC_MEMORY})) == EPISODIC_MEMORY
    assert write_memory_type(ToolCall(MEMORY_UPDATE, {"memory_type": CORE_MEMORY})) == CORE_MEMORY
    assert write_memory_type(ToolCall(MEMORY_DELETE, {"memory_type": SEMANTIC_MEMORY})) == SEMANTIC_MEMORY
    assert write_memory_type(ToolCall(NEW_MEMORY_INSERT, {"memory_type": CORE_MEMORY})) is None
    assert write_memory_type(ToolCall(SEARCH_MEMORY, {"memory_type": SEMANTIC_MEMORY})) is None
    assert write_memory_type(ToolCall("unknown", {"memory_type": SEMANTIC_MEMORY})) is None
    assert write_memory_type(ToolCall(MEMORY_UPDATE, {})) is None


# ---- fuzz ----------------------------------------------------------------------------------------------------------
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=6)
    | st.sampled_from([CORE_MEMORY, SEMANTIC_MEMORY, EPISODIC_MEMORY, "bm25", "text-embedding"]),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=4), inner, max_size=2),
    max_leaves=5,
)
KEYS = st.sampled_from(["memory_type", "content", "new_content", "memory_id", "query", "search_method", "x"])


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(
    calls=st.lists(
        st.tuples(
            st.sampled_from([NEW_MEMORY_INSERT, MEMORY_UPDATE, MEMORY_DELETE, SEARCH_MEMORY, "bogus", ""]),
            st.dictionaries(KEYS, JSON_VALUES, max_size=4),
        ),
        max_size=6,
    ),
    allow_search=st.booleans(),
)
def test_fuzz_calls_never_raise(calls, allow_search):
    memory = MemAlphaMemory(embedder=HashingEmbedder())
    for name, arguments in calls:
        result = execute_mem_alpha_call(ToolCall(name, arguments), memory, allow_search=allow_search)
        assert result.ok or result.data["error"] in ERRORS
        assert result.message and isinstance(result.data, dict)
    json.dumps(memory.to_dict())
