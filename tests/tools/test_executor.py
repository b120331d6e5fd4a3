"""The executor: every tool's semantics on a scripted sequence, every error result, and a never-raises fuzz."""

import json
from dataclasses import asdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agemem.memory import LexicalSimilarity, LongTermMemory, MemoryConfig, ShortTermMemory, build_state
from agemem.records import Action, ToolCall
from agemem.tools import AgentState, execute, execute_call
from agemem.tools.executor import _HANDLERS, ERRORS
from agemem.tools.schemas import TOOL_NAMES

SYSTEM = "system prompt"


def _state() -> AgentState:
    return AgentState(LongTermMemory(), ShortTermMemory(SYSTEM, lambda m: len(m["content"])), LexicalSimilarity())


def _never(messages):
    raise AssertionError("the summarizer must not be called")


def _run(state, name, **arguments):
    return execute_call(ToolCall(name, arguments), state, _never)


def test_every_schema_has_a_handler():
    assert set(_HANDLERS) == set(TOOL_NAMES)


def test_scripted_memory_sequence_gives_the_spec_state():
    state = _state()
    results = [
        _run(state, "Add_memory", content="Alice lives in Paris", memory_type="fact"),
        _run(state, "Add_memory", content="Bob likes green tea", metadata={"tags": ["drinks"]}),
        _run(state, "Add_memory", content="The meeting is on Monday"),
        _run(state, "Update_memory", memory_id="mem_3", content="The meeting moved to Friday"),
        _run(state, "Delete_memory", memory_id="mem_2", confirmation=True),
        _run(state, "Retrieve_memory", query="When is the meeting?"),
        _run(state, "Add_memory", content="Carol lives in Paris too"),
        _run(state, "Retrieve_memory", query="who lives in Paris", top_k=1),
        _run(state, "Retrieve_memory", query="green tea"),
    ]
    assert [r.message for r in results] == [
        "[memory tool result]\nmemory_added:mem_1",
        "[memory tool result]\nmemory_added:mem_2",
        "[memory tool result]\nmemory_added:mem_3",
        "[memory tool result]\nmemory_updated:mem_3",
        "[memory tool result]\nmemory_deleted:mem_2",
        "[retrieved memories]\n- The meeting moved to Friday (Memory ID: mem_3)",
        "[memory tool result]\nmemory_added:mem_4",
        "[retrieved memories]\n- Alice lives in Paris (Memory ID: mem_1)",
        "[retrieved memories]\n(none)",
    ]
    assert all(r.ok for r in results)
    assert [r.data for r in results[:5]] == [{"memory_id": "mem_1"}, {"memory_id": "mem_2"}, {"memory_id": "mem_3"},
                                             {"memory_id": "mem_3"}, {"memory_id": "mem_2", "deleted": True}]
    assert [(d["id"], d["content"]) for d in results[5].data["retrieved"]] == [("mem_3", "The meeting moved to Friday")]
    assert results[5].data["retrieved"][0]["score"] > 0 and results[8].data == {"retrieved": []}
    assert [(e.id, e.content, e.metadata["memory_type"]) for e in state.ltm.entries()] == [
        ("mem_1", "Alice lives in Paris", "fact"),
        ("mem_3", "The meeting moved to Friday", None),
        ("mem_4", "Carol lives in Paris too", None),
    ]
    assert state.stm.messages == [{"role": "system", "content": SYSTEM}]  # results are the caller's to append
    json.dumps([asdict(r) for r in results])  # records are JSON-serialisable


def test_retrieve_uses_the_state_default_top_k_and_the_metadata_filter():
    state = _state()
    state.retrieve_top_k = 2
    for i in range(4):
        _run(state, "Add_memory", content=f"note {i} about rivers", memory_type="even" if i % 2 == 0 else "odd")
    assert len(_run(state, "Retrieve_memory", query="rivers").data["retrieved"]) == 2
    hits = _run(state, "Retrieve_memory", query="rivers", top_k=5, metadata_filter={"memory_type": "odd"})
    assert [d["id"] for d in hits.data["retrieved"]] == ["mem_2", "mem_4"]


def test_summary_context_calls_the_given_summarizer_on_the_span():
    state = _state()
    for role, content in [("user", "u1"), ("assistant", "a1"), ("user", "u2"), ("assistant", "a2")]:
        state.stm.append({"role": role, "content": content})
    seen = []

    def summarizer(messages):
        seen.append([m["content"] for m in messages])
        return "short version"

    result = execute_call(ToolCall("Summary_context", {"span": "1-3"}), state, summarizer)
    assert (result.ok, result.message) == (True, "[context tool result]\nsummarized 3 messages")
    assert result.data == {"replaced": 3, "summary": "short version"} and seen == [["u1", "a1", "u2"]]
    assert state.stm.messages[1:] == [{"role": "user", "content": "[summary of 3 messages]\nshort version"},
                                      {"role": "assistant", "content": "a2"}]
    by_int = execute_call(ToolCall("Summary_context", {"span": 1}), state, summarizer)  # an int span is accepted
    assert by_int.ok and by_int.data["replaced"] == 2


def test_filter_context_uses_the_state_similarity_and_threshold():
    state = _state()
    for content in ["The weather in Paris is sunny.", "Alice studies physics.", "Paris museums are big."]:
        state.stm.append({"role": "user", "content": content})
    result = _run(state, "Filter_context", criteria="weather in Paris")
    assert (result.ok, result.message, result.data) == (True, "[context tool result]\nremoved 1 messages",
                                                        {"removed": 1})
    state.filter_threshold = 0.5
    assert _run(state, "Filter_context", criteria="weather in Paris").data == {"removed": 1}
    assert [m["content"] for m in state.stm.messages] == [SYSTEM, "Alice studies physics."]


@pytest.mark.parametrize(
    "name,arguments,error,text",
    [
        ("Forget_memory", {}, "unknown_tool", "unknown tool 'Forget_memory'; valid tools: Add_memory, Update_memory"),
        ("add_memory", {"content": "x"}, "unknown_tool", "(did you mean Add_memory?)"),
        (None, {}, "unknown_tool", "unknown tool None"),
        ("Add_memory", {}, "bad_arguments", "Add_memory: missing required argument(s) content"),
        ("Add_memory", {"content": None}, "bad_arguments", "missing required argument(s) content"),
        ("Add_memory", {"content": "   "}, "bad_arguments", "Add_memory: argument content is empty"),
        ("Add_memory", {"content": ["x"]}, "bad_arguments", "argument content must be of type string, got ['x']"),
        ("Add_memory", {"content": "x", "metadata": "tags"}, "bad_arguments", "metadata must be of type object"),
        ("Add_memory", "content=x", "bad_arguments", "arguments must be a JSON object, got str"),
        ("Update_memory", {"memory_id": "mem_1"}, "bad_arguments", "missing required argument(s) content"),
        ("Update_memory", {"memory_id": "mem_9", "content": "x"}, "unknown_memory_id",
         "Update_memory: unknown memory id 'mem_9'"),
        ("Delete_memory", {"memory_id": "mem_1"}, "bad_arguments", "missing required argument(s) confirmation"),
        ("Delete_memory", {"memory_id": "mem_1", "confirmation": False}, "not_confirmed",
         "Delete_memory: mem_1 was not deleted: confirmation must be true"),
        ("Delete_memory", {"memory_id": "mem_1", "confirmation": "false"}, "not_confirmed", "confirmation must be"),
        ("Delete_memory", {"memory_id": "mem_1", "confirmation": "yes"}, "bad_arguments", "of type boolean"),
        ("Delete_memory", {"memory_id": "mem_1", "confirmation": 1}, "bad_arguments", "of type boolean"),
        ("Delete_memory", {"memory_id": "mem_9", "confirmation": False}, "unknown_memory_id", "'mem_9'"),
        ("Retrieve_memory", {"query": "x", "top_k": "three"}, "bad_arguments", "top_k must be of type integer"),
        ("Retrieve_memory", {"query": "x", "top_k": True}, "bad_arguments", "top_k must be of type integer"),
        ("Retrieve_memory", {"query": "x", "top_k": 0}, "bad_arguments", "top_k must be at least 1, got 0"),
        ("Retrieve_memory", {"query": ""}, "bad_arguments", "argument query is empty"),
        ("Summary_context", {"span": "last two"}, "bad_span", "Summary_context: malformed span 'last two'"),
        ("Summary_context", {"span": "7"}, "bad_span", "asks for 7 rounds but the context holds 1"),
        ("Summary_context", {}, "bad_arguments", "missing required argument(s) span"),
        ("Filter_context", {"criteria": ""}, "bad_arguments", "argument criteria is empty"),
    ],
)
def test_every_model_mistake_is_an_error_result(name, arguments, error, text):
    state = _state()
    state.ltm.add("Alice lives in Paris")
    state.stm.append({"role": "user", "content": "hello"})
    before = (state.ltm.snapshot(), state.stm.snapshot())
    result = execute_call(ToolCall(name, arguments), state, _never)
    assert (result.ok, result.data) == (False, {"error": error})
    assert result.message.startswith("[tool error]\n") and text in result.message
    assert (state.ltm.snapshot(), state.stm.snapshot()) == before  # an error changes nothing


def test_documented_coercions():
    state = _state()
    _run(state, "Add_memory", content="tea notes")
    _run(state, "Add_memory", content="more tea notes")
    assert len(_run(state, "Retrieve_memory", query="tea", top_k=" 1 ").data["retrieved"]) == 1
    assert _run(state, "Delete_memory", memory_id="mem_1", confirmation="TRUE").ok
    assert [e.id for e in state.ltm.entries()] == ["mem_2"]
    ok = _run(state, "Add_memory", content="x", unexpected="ignored")
    assert ok.ok and ok.arguments == {"content": "x", "unexpected": "ignored"}  # recorded as the model wrote it


def test_execute_applies_calls_in_order_and_ignores_non_call_actions():
    state = _state()
    action = Action("tool_calls", [ToolCall("Add_memory", {"content": "Alice lives in Paris"}),
                                   ToolCall("Nope", {}),
                                   ToolCall("Retrieve_memory", {"query": "Alice"})])
    results = execute(action, state, _never)
    assert [r.ok for r in results] == [True, False, True]
    assert results[2].data["retrieved"][0]["id"] == "mem_1"  # the retrieve sees the add before it
    assert execute(Action("answer", answer="Paris"), state, _never) == []
    assert execute(Action("format_error", error="bad"), state, _never) == []


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 5) | st.text(max_size=8) | st.sampled_from(["mem_1", "all", "1-2"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
argument_names = st.sampled_from(["content", "memory_id", "confirmation", "query", "top_k", "metadata",
                                  "metadata_filter", "memory_type", "span", "criteria", "other"])
calls = st.builds(
    ToolCall,
    st.sampled_from([*TOOL_NAMES, "add_memory", "", "Retrieve"]) | st.text(max_size=6),
    st.dictionaries(argument_names, json_values, max_size=4) | json_values,
)


@settings(derandomize=True, deadline=None, max_examples=300)
@given(sequence=st.lists(calls, max_size=8))
def test_fuzzed_calls_never_raise(sequence):
    state = _state()
    state.stm.append({"role": "user", "content": "hello there"})
    for call in sequence:
        result = execute_call(call, state, lambda messages: "summary")
        assert isinstance(result.message, str) and result.message
        assert result.ok or result.data["error"] in ERRORS
        json.dumps(asdict(result))


def test_build_state_from_config():
    state = build_state(MemoryConfig(similarity="lexical", filter_threshold=0.7, retrieve_top_k=5), "sys", len)
    assert isinstance(state.similarity, LexicalSimilarity)
    assert (state.filter_threshold, state.retrieve_top_k, len(state.ltm)) == (0.7, 5, 0)
    assert state.stm.messages == [{"role": "system", "content": "sys"}]
    for key, bad, valid in [("index", "faiss", "['bm25', 'embedding']"),
                            ("similarity", "jaccard", "['embedding', 'lexical']"),
                            ("summarizer", "gpt", "['policy', 'extractive']")]:
        with pytest.raises(ValueError, match=f"memory.{key}='{bad}': valid values are {valid}".replace("[", r"\[")):
            build_state(MemoryConfig(**{key: bad}), "sys", len)
