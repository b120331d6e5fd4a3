"""The qwen_agent call format (Qwen-Agent's ✿FUNCTION✿/✿ARGS✿ lines, Mem-α's official format), and Mem-α's tool
calls in all three formats."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agemem.memory.mem_alpha import CORE_MEMORY, EPISODIC_MEMORY, SEMANTIC_MEMORY, MemAlphaMemory
from agemem.records import Action
from agemem.tools import parser
from agemem.tools.mem_alpha import execute_mem_alpha_action
from agemem.tools.parser import VALID_FORMATS, parse_action

INSERT = {"name": "new_memory_insert", "arguments": {"memory_type": SEMANTIC_MEMORY, "content": "Paris is in France."}}
EVENT = {"name": "new_memory_insert", "arguments": {"memory_type": EPISODIC_MEMORY, "content": "At 9am, Ann met Bob."}}
CORE = {"name": "memory_update", "arguments": {"memory_type": CORE_MEMORY, "new_content": "Ann is a nurse in Lyon."}}
THINK = "<think>Store the facts.</think>\n"


def qwen(*calls: dict[str, Any]) -> str:
    """One `✿FUNCTION✿: name` line and one `✿ARGS✿: {json}` line per call."""
    return "".join(f"✿FUNCTION✿: {c['name']}\n✿ARGS✿: {json.dumps(c['arguments'])}\n" for c in calls)


def pairs(action: Action) -> list[tuple[str, dict[str, Any]]]:
    return [(c.name, c.arguments) for c in action.tool_calls]


def expect(*calls: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(c["name"], c["arguments"]) for c in calls]


def parse(text: str) -> Action:
    return parse_action(text, "qwen_agent")


def test_qwen_agent_is_a_valid_format_and_others_still_raise():
    assert VALID_FORMATS == ("agemem", "hermes", "qwen_agent")
    with pytest.raises(ValueError, match="valid formats: agemem, hermes, qwen_agent"):
        parse_action("x", "openai")


# ---- well-formed ---------------------------------------------------------------------------------------------------
def test_one_call_after_a_think():
    action = parse(THINK + qwen(INSERT) + "<|im_end|>")
    assert action.kind == "tool_calls" and pairs(action) == expect(INSERT)
    assert action.think == "Store the facts." and action.warnings == []


def test_several_calls_in_one_output():
    action = parse(THINK + qwen(CORE, INSERT, EVENT))
    assert pairs(action) == expect(CORE, INSERT, EVENT) and action.warnings == []


def test_result_and_return_markers_end_the_arguments_and_what_follows_them_is_ignored():
    text = (
        THINK + qwen(INSERT).rstrip() + "\n✿RESULT✿: [tool executed successfully]\n"
        + qwen(EVENT).rstrip() + "✿RETURN✿: Done."
    )
    action = parse(text)
    assert pairs(action) == expect(INSERT, EVENT)
    assert action.warnings == [
        "ignored text after ✿RESULT✿: '[tool executed successfully]'",
        "ignored text after ✿RETURN✿: 'Done.'",
    ]


def test_name_and_args_on_one_line_and_a_missing_colon():
    action = parse('✿FUNCTION✿ memory_delete ✿ARGS✿ {"memory_type": "core_memory"}')
    assert pairs(action) == [("memory_delete", {"memory_type": CORE_MEMORY})]


def test_json_repairs_fences_and_surrounding_text_are_tolerated_with_warnings():
    text = (
        "Let me store it.\n✿FUNCTION✿: new_memory_insert\n✿ARGS✿: ```json\n"
        "{'memory_type': 'semantic_memory', 'content': 'Paris is in France.', 'extra': None,}\n```\n"
    )
    action = parse(text)
    assert pairs(action) == [("new_memory_insert", {**INSERT["arguments"], "extra": None})]
    assert action.warnings == [
        "ignored text before ✿FUNCTION✿: 'Let me store it.'",
        "removed a markdown code fence around the JSON",
        "repaired non-standard JSON (single quotes, trailing commas or Python literals)",
    ]


def test_text_after_the_json_is_ignored_and_duplicates_dropped():
    action = parse(qwen(INSERT).rstrip() + " (stored)\n" + qwen(INSERT))
    assert pairs(action) == expect(INSERT)
    assert "ignored text after the JSON after ✿ARGS✿: '(stored)'" in action.warnings
    assert "dropped 1 duplicated tool call(s)" in action.warnings


def test_markers_inside_a_closed_think_are_reasoning_not_calls():
    text = f"<think>Maybe {qwen(EVENT)} no.</think>\n" + qwen(INSERT)
    assert pairs(parse(text)) == expect(INSERT)


def test_an_unclosed_think_ends_at_the_first_function():
    action = parse("<think>I will store it.\n" + qwen(INSERT))
    assert pairs(action) == expect(INSERT) and action.think == "I will store it."
    assert action.warnings == ["missing </think> closing tag"]


def test_qwen_native_tool_call_blocks_are_read_too():
    action = parse(THINK + "\n".join(f"<tool_call>{json.dumps(c)}</tool_call>" for c in (INSERT, EVENT)))
    assert pairs(action) == expect(INSERT, EVENT) and action.warnings == []


def test_an_answer_is_still_recognised():
    action = parse("<think>Easy.</think><answer>Lyon</answer>")
    assert action.kind == "answer" and action.answer == "Lyon"


# ---- truncated -----------------------------------------------------------------------------------------------------
CUTS = [
    "✿FUNCTION✿: memory_upd",
    "✿FUNCTION✿: memory_update\n✿AR",
    "✿FUNCTION✿: memory_update\n✿ARGS✿:",
    '✿FUNCTION✿: memory_update\n✿ARGS✿: {"memory_type": "core_mem',
]


@pytest.mark.parametrize("cut", CUTS)
def test_a_cut_off_last_call_is_dropped_when_complete_calls_precede_it(cut):
    action = parse(qwen(INSERT, EVENT) + cut)
    assert pairs(action) == expect(INSERT, EVENT)
    assert "truncated output: kept 2 complete call(s), dropped the incomplete rest" in action.warnings


def test_a_cut_off_only_call_is_a_format_error():
    action = parse(THINK + '✿FUNCTION✿: new_memory_insert\n✿ARGS✿: {"memory_type": "semantic_memory", "content": "Par')
    assert action.kind == "format_error" and action.think == "Store the facts."
    assert "truncated output: tool call #1 (new_memory_insert) is incomplete and no call is complete" in action.error
    assert "✿FUNCTION✿: name" in action.error  # the expected format is spelled out


# ---- malformed -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "empty output"),
        ("<think>hmm</think>", "only <think> found, no ✿FUNCTION✿ or <answer>"),
        ("Done", "no ✿FUNCTION✿ or <answer> found"),
        ("✿✿ garbage ✿ARGS✿ {", "no ✿FUNCTION✿ or <answer> found"),
        (qwen(INSERT) + "<answer>x</answer>", "both ✿FUNCTION✿ and <answer> found"),
        (qwen(INSERT) + f"<tool_call>{json.dumps(EVENT)}</tool_call>", "both ✿FUNCTION✿ and <tool_call> found"),
        ('✿ARGS✿: {}\n✿FUNCTION✿: memory_delete\n✿ARGS✿: {}', "✿ARGS✿ without a ✿FUNCTION✿ line before it"),
        ("✿FUNCTION✿:\n✿ARGS✿: {}", "tool call #1 has no function name after ✿FUNCTION✿"),
        ("✿FUNCTION✿: a\n" + qwen(INSERT), "✿FUNCTION✿ a (tool call #1) is not followed by ✿ARGS✿"),
        ("✿FUNCTION✿: a\n✿ARGS✿: \n✿FUNCTION✿: b\n✿ARGS✿: {}", "empty ✿ARGS✿ in tool call #1"),
        ("✿FUNCTION✿: a\n✿ARGS✿: [1, 2]", "the ✿ARGS✿ of tool call #1 are not a JSON object"),
        ("✿FUNCTION✿: a\n✿ARGS✿: memory_type=core", "no JSON object after ✿ARGS✿ in tool call #1"),
        ('✿FUNCTION✿: a\n✿ARGS✿: {"x" 1}', "unparsable JSON after ✿ARGS✿ in tool call #1"),
        ('✿FUNCTION✿: a\n✿ARGS✿: {"x": "y\n✿RESULT✿: ok', "truncated JSON after ✿ARGS✿ in tool call #1"),
    ],
)
def test_malformed_outputs_are_format_errors(text, reason):
    action = parse(text)
    assert action.kind == "format_error" and action.tool_calls == []
    assert action.error.startswith("format error: ") and reason in action.error


def test_the_other_formats_are_unchanged_by_the_markers():
    text = qwen(INSERT)
    for tool_format in ("agemem", "hermes"):
        action = parse_action(text, tool_format)
        assert action.kind == "format_error" and "no <tool_call> or <answer> found" in action.error
        assert action.warnings == [f"ignored text outside the tags: {text.strip()[:40]!r}"]


# ---- Mem-α calls in all three formats -------------------------------------------------------------------------------
def test_mem_alpha_calls_parse_and_execute_alike_in_all_three_formats():
    calls = [CORE, INSERT, EVENT]
    texts = {
        "agemem": THINK + f"<tool_call>{json.dumps(calls)}</tool_call>",
        "hermes": THINK + "\n".join(f"<tool_call>\n{json.dumps(c)}\n</tool_call>" for c in calls),
        "qwen_agent": THINK + qwen(*calls),
    }
    states = []
    for tool_format, text in texts.items():
        action = parse_action(text, tool_format)
        assert action.kind == "tool_calls" and pairs(action) == expect(*calls) and action.warnings == []
        memory = MemAlphaMemory()
        assert all(r.ok for r in execute_mem_alpha_action(action, memory))
        states.append(memory.to_dict())
    assert states[0] == states[1] == states[2]
    assert states[0]["core"] == "Ann is a nurse in Lyon." and len(states[0]["semantic"]) == 1


# ---- fuzz ----------------------------------------------------------------------------------------------------------
PIECES = [
    "✿FUNCTION✿: ", "✿ARGS✿: ", "✿RESULT✿: ", "✿RETURN✿: ", "✿", "FUNCTION", "<think>", "</think>", "<answer>",
    "</answer>", "<tool_call>", "{", "}", "[", "]", '"', "'", ",", ":", "\n", "memory_update", '"memory_type"',
    '"core_memory"', "```", "<|im_end|>",
]


@settings(
    max_examples=400, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(text=st.lists(st.sampled_from(PIECES) | st.text(max_size=3), max_size=40).map("".join))
def test_fuzz_marker_soup_never_raises(text: str) -> None:
    action = parser._parse(text, "qwen_agent")  # unguarded: a crash fails the test
    assert (action.kind == "format_error") == (action.error is not None)
    assert (action.kind == "tool_calls") == bool(action.tool_calls)
    assert all(isinstance(c.name, str) and c.name and isinstance(c.arguments, dict) for c in action.tool_calls)
