"""The tolerant output parser (SPEC.md §1): a table of malformed and valid outputs, plus fuzzing that it never raises."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agemem.records import Action
from agemem.tools import parser
from agemem.tools.parser import VALID_FORMATS, parse_action

ADD = {"name": "Add_memory", "arguments": {"content": "Alice lives in Paris"}}
RETRIEVE = {"name": "Retrieve_memory", "arguments": {"query": "Alice", "top_k": 3}}
FILTER = {"name": "Filter_context", "arguments": {"criteria": "weather"}}
THINK = "<think>I should store this.</think>\n"
LONG = "x" * 100_000


def tc(*calls: dict[str, Any]) -> str:
    """An agemem-format tool-call block holding `calls` as a JSON array."""
    return f"<tool_call>{json.dumps(list(calls), ensure_ascii=False)}</tool_call>"


def hermes(*calls: dict[str, Any]) -> str:
    """One hermes block per call."""
    return "\n".join(f"<tool_call>\n{json.dumps(c, ensure_ascii=False)}\n</tool_call>" for c in calls)


def pairs(*calls: dict[str, Any]) -> tuple[tuple[str, dict[str, Any]], ...]:
    return tuple((c["name"], c["arguments"]) for c in calls)


@dataclass
class Case:
    id: str
    text: Any
    kind: str
    calls: tuple[tuple[str, dict[str, Any]], ...] = ()
    answer: str | None = None
    warn: bool = False
    fmt: str = "agemem"
    think: str | None = field(default="<unchecked>")


OK, ANS, ERR = "tool_calls", "answer", "format_error"
CJK = {
    "name": "Add_memory",
    "arguments": {"content": "爱丽丝住在巴黎。東京は晴れ", "metadata": {"tags": ["旅行"]}},
}
NESTED = {
    "name": "Add_memory",
    "arguments": {
        "content": "c",
        "metadata": {"source": {"doc": [1, {"deep": [True, None, 2.5]}]}, "tags": []},
    },
}
TAG_IN_STRING = {
    "name": "Add_memory",
    "arguments": {"content": 'he typed "</tool_call>" and <answer>x</answer>'},
}

CASES = [
    # --- valid outputs
    Case("single_call", THINK + tc(ADD), OK, pairs(ADD), think="I should store this."),
    Case("several_calls", THINK + tc(ADD, RETRIEVE, FILTER), OK, pairs(ADD, RETRIEVE, FILTER)),
    Case("answer", "<think>easy</think><answer>Paris</answer>", ANS, answer="Paris", think="easy"),
    Case(
        "answer_newlines",
        "<think>t</think><answer>\nline 1\nline 2\n\n- item\n</answer>",
        ANS,
        answer="line 1\nline 2\n\n- item",
    ),
    Case("im_end_stripped", THINK + tc(ADD) + "<|im_end|>", OK, pairs(ADD)),
    Case("endoftext_stripped", "<think>t</think><answer>42</answer>\n<|endoftext|>\n", ANS, answer="42"),
    Case(
        "no_think_opening",
        "reasoning here</think>\n<answer>Paris</answer>",
        ANS,
        answer="Paris",
        think="reasoning here",
    ),
    Case("mixed_case_tags", "<Think>t</Think><ANSWER>Rome</ANSWER>", ANS, answer="Rome"),
    Case(
        "tags_mentioned_in_think",
        "<think>maybe <tool_call> later, or <answer></think><answer>no</answer>",
        ANS,
        answer="no",
    ),
    Case("cjk_arguments", THINK + tc(CJK), OK, pairs(CJK)),
    Case(
        "emoji_accents_answer",
        "<think>t</think><answer>Café crème 🎉 – naïve façade</answer>",
        ANS,
        answer="Café crème 🎉 – naïve façade",
    ),
    Case("nested_json_arguments", THINK + tc(NESTED), OK, pairs(NESTED)),
    Case("closing_tag_inside_string", THINK + tc(TAG_IN_STRING, ADD), OK, pairs(TAG_IN_STRING, ADD)),
    Case(
        "arguments_null",
        '<tool_call>[{"name": "Summary_context", "arguments": null}]</tool_call>',
        OK,
        (("Summary_context", {}),),
    ),
    Case(
        "very_long_argument",
        THINK + tc({"name": "Add_memory", "arguments": {"content": LONG}}),
        OK,
        (("Add_memory", {"content": LONG}),),
    ),
    # --- tolerated, with a warning
    Case("missing_close_tool_call", THINK + tc(ADD)[: -len("</tool_call>")], OK, pairs(ADD), warn=True),
    Case("missing_close_answer", "<think>t</think><answer>Paris", ANS, answer="Paris", warn=True),
    Case("missing_close_think", "<think>hmm " + tc(ADD), OK, pairs(ADD), warn=True, think="hmm"),
    Case("truncated_array_keeps_complete", THINK + tc(ADD, RETRIEVE)[:-40], OK, pairs(ADD), warn=True),
    Case(
        "truncated_after_comma",
        THINK + '<tool_call>[{"name": "Add_memory", "arguments": {"content": "a"}},',
        OK,
        (("Add_memory", {"content": "a"}),),
        warn=True,
    ),
    Case(
        "single_object_not_array",
        THINK + f"<tool_call>{json.dumps(ADD)}</tool_call>",
        OK,
        pairs(ADD),
        warn=True,
    ),
    Case("duplicated_calls", THINK + tc(ADD, RETRIEVE, ADD), OK, pairs(ADD, RETRIEVE), warn=True),
    Case(
        "same_name_other_args_kept",
        tc(ADD, {"name": "Add_memory", "arguments": {"content": "Bob"}}),
        OK,
        pairs(ADD, {"name": "Add_memory", "arguments": {"content": "Bob"}}),
    ),
    Case("text_outside_tags", "Sure! " + THINK + tc(ADD) + " Done.", OK, pairs(ADD), warn=True),
    Case("text_after_answer", "<answer>Paris</answer> hope this helps", ANS, answer="Paris", warn=True),
    Case("several_blocks_merged", THINK + tc(ADD) + "\n" + tc(RETRIEVE), OK, pairs(ADD, RETRIEVE), warn=True),
    Case(
        "trailing_commas",
        '<tool_call>[{"name": "Filter_context", "arguments": {"criteria": "w",},},]</tool_call>',
        OK,
        (("Filter_context", {"criteria": "w"}),),
        warn=True,
    ),
    Case(
        "single_quotes_python_literals",
        "<tool_call>[{'name': 'Delete_memory', 'arguments': {'memory_id': 'm1', 'confirmation': True}}]"
        "</tool_call>",
        OK,
        (("Delete_memory", {"memory_id": "m1", "confirmation": True}),),
        warn=True,
    ),
    Case(
        "parameters_key",
        '<tool_call>[{"name": "Filter_context", "parameters": {"criteria": "weather"}}]</tool_call>',
        OK,
        pairs(FILTER),
        warn=True,
    ),
    Case(
        "stringified_arguments",
        '<tool_call>[{"name": "Filter_context", "arguments": '
        + json.dumps(json.dumps(FILTER["arguments"]))
        + "}]</tool_call>",
        OK,
        pairs(FILTER),
        warn=True,
    ),
    Case(
        "top_level_arguments",
        '<tool_call>[{"name": "Filter_context", "criteria": "weather"}]</tool_call>',
        OK,
        pairs(FILTER),
        warn=True,
    ),
    Case(
        "openai_function_wrapper",
        '<tool_call>[{"type": "function", "function": {"name": "Filter_context", '
        '"arguments": "{\\"criteria\\": \\"weather\\"}"}}]</tool_call>',
        OK,
        pairs(FILTER),
        warn=True,
    ),
    Case(
        "code_fence",
        "<tool_call>\n```json\n" + json.dumps([ADD]) + "\n```\n</tool_call>",
        OK,
        pairs(ADD),
        warn=True,
    ),
    Case(
        "duplicated_identical_answers",
        "<answer>Paris</answer><answer>Paris</answer>",
        ANS,
        answer="Paris",
        warn=True,
    ),
    # --- hermes format
    Case("hermes_single", THINK + hermes(ADD) + "<|im_end|>", OK, pairs(ADD), fmt="hermes"),
    Case(
        "hermes_multiple",
        THINK + hermes(ADD, RETRIEVE, FILTER),
        OK,
        pairs(ADD, RETRIEVE, FILTER),
        fmt="hermes",
    ),
    Case("hermes_duplicated", hermes(ADD, ADD), OK, pairs(ADD), warn=True, fmt="hermes"),
    Case("hermes_array_in_block", tc(ADD, RETRIEVE), OK, pairs(ADD, RETRIEVE), warn=True, fmt="hermes"),
    Case(
        "hermes_missing_close",
        hermes(ADD, RETRIEVE)[: -len("\n</tool_call>")],
        OK,
        pairs(ADD, RETRIEVE),
        warn=True,
        fmt="hermes",
    ),
    Case(
        "hermes_two_objects_one_block",
        "<tool_call>" + json.dumps(ADD) + "\n" + json.dumps(RETRIEVE) + "</tool_call>",
        OK,
        pairs(ADD, RETRIEVE),
        warn=True,
        fmt="hermes",
    ),
    Case("hermes_answer", "<think>t</think><answer>Paris</answer>", ANS, answer="Paris", fmt="hermes"),
    Case("hermes_truncated", THINK + hermes(ADD)[:-30], ERR, warn=True, fmt="hermes"),
    # --- format errors
    Case("empty", "", ERR),
    Case("whitespace_only", " \n\t \n", ERR),
    Case("end_token_only", "<|im_end|>", ERR),
    Case("think_only", "<think>let me think</think>", ERR, think="let me think"),
    Case("plain_text", "The answer is Paris.", ERR, warn=True),
    Case("json_without_tags", json.dumps([ADD]), ERR, warn=True),
    Case("answer_and_tool_call", THINK + tc(ADD) + "<answer>Paris</answer>", ERR),
    Case("unclosed_answer_then_tool_call", "<answer>Paris " + tc(ADD), ERR, warn=True),
    Case("different_answers", "<answer>Paris</answer><answer>Rome</answer>", ERR),
    Case("empty_answer", "<think>t</think><answer>  </answer>", ERR),
    Case("empty_array", "<tool_call>[]</tool_call>", ERR),
    Case("empty_block", "<tool_call>  </tool_call>", ERR),
    Case("truncated_nothing_complete", THINK + '<tool_call>[{"name": "Add_memory", "argum', ERR, warn=True),
    Case("unparsable_json", "<tool_call>[not json at all]</tool_call>", ERR),
    Case("garbage_inside_array", '<tool_call>[{"name": "A", "arguments": {}} garbage]</tool_call>', ERR),
    Case("no_name", '<tool_call>[{"arguments": {"content": "x"}}]</tool_call>', ERR),
    Case("name_not_string", '<tool_call>[{"name": 3, "arguments": {}}]</tool_call>', ERR),
    Case("arguments_list", '<tool_call>[{"name": "Add_memory", "arguments": ["x"]}]</tool_call>', ERR),
    Case(
        "arguments_string_not_object",
        '<tool_call>[{"name": "Add_memory", "arguments": "x"}]</tool_call>',
        ERR,
    ),
    Case("call_not_object", "<tool_call>[1, 2]</tool_call>", ERR),
    Case("garbage_bytes", "\x00\x01\xff\ufffd<tool_call>\x02\x7f\udc80]}{", ERR, warn=True),
    Case("very_long_garbage", "<think>" + "{[\"'" * 50_000 + "</think>" + "\\" * 10_000, ERR, warn=True),
    Case("deep_nesting", "<tool_call>" + "[" * 5000 + "]" * 5000 + "</tool_call>", ERR),
    Case("not_a_string", b"<answer>bytes</answer>", ERR),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_parse_table(case: Case) -> None:
    action = parse_action(case.text, case.fmt)
    assert action.kind == case.kind, action
    assert [(c.name, c.arguments) for c in action.tool_calls] == [tuple(p) for p in case.calls]
    assert action.answer == case.answer
    assert bool(action.warnings) == case.warn, action.warnings
    if case.kind == ERR:
        assert action.error and action.error.startswith("format error: ")
    else:
        assert action.error is None
    if case.think != "<unchecked>":
        assert action.think == case.think


def test_table_is_large_enough() -> None:
    assert len(CASES) >= 35


def test_unknown_format_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="agemem"):
        parse_action("<answer>x</answer>", "xml")


# ------------------------------------------------------------------------------------------------------ fuzz

FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
VALID_OUTPUTS = [c.text for c in CASES if c.kind != ERR and isinstance(c.text, str) and len(c.text) < 2000]
PIECES = [
    "<think>",
    "</think>",
    "<tool_call>",
    "</tool_call>",
    "<answer>",
    "</answer>",
    "<|im_end|>",
    "[",
    "]",
    "{",
    "}",
    '"',
    "'",
    ",",
    ":",
    "\\",
    '"name"',
    '"arguments"',
    '"parameters"',
    '"Add_memory"',
    "null",
    "True",
    "1",
    " ",
    "\n",
    "```",
    "é",
    "🎉",
    "东",
]


def check_invariants(action: Action) -> None:
    """What every parse result satisfies, whatever the input."""
    assert isinstance(action, Action)
    assert action.kind in ("tool_calls", "answer", "format_error")
    assert (action.kind == "format_error") == (action.error is not None)
    assert (action.kind == "tool_calls") == bool(action.tool_calls)
    assert (action.kind == "answer") == (action.answer is not None)
    assert all(
        isinstance(c.name, str) and c.name and isinstance(c.arguments, dict) for c in action.tool_calls
    )
    assert all(isinstance(w, str) for w in action.warnings)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A valid output with a few random truncations, deletions and insertions."""
    text = draw(st.sampled_from(VALID_OUTPUTS))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["truncate", "delete", "insert"]))
        at = draw(st.integers(0, len(text)))
        if op == "truncate":
            text = text[:at]
        elif op == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 5)) :]
        else:
            text = text[:at] + draw(st.text(max_size=5) | st.sampled_from(PIECES)) + text[at:]
    return text


FORMATS = st.sampled_from(VALID_FORMATS)


def parse_unguarded(text: str, fmt: str) -> Action:
    """`parse_action` without its last-resort guard, which turns a crash inside the parser into a format error:
    here a crash fails the test, and hypothesis shrinks the input that caused it."""
    return parser._parse(text, fmt)


@FUZZ
@given(text=st.text(max_size=300), fmt=FORMATS)
def test_fuzz_arbitrary_text_never_raises(text: str, fmt: str) -> None:
    check_invariants(parse_unguarded(text, fmt))


@FUZZ
@given(text=st.lists(st.sampled_from(PIECES) | st.text(max_size=3), max_size=40).map("".join), fmt=FORMATS)
def test_fuzz_tag_soup_never_raises(text: str, fmt: str) -> None:
    check_invariants(parse_unguarded(text, fmt))


@FUZZ
@given(text=mutated(), fmt=FORMATS)
def test_fuzz_mutated_valid_outputs_never_raise(text: str, fmt: str) -> None:
    check_invariants(parse_unguarded(text, fmt))


def test_a_parser_crash_reaches_the_agent_as_a_format_error_and_is_logged(monkeypatch, caplog) -> None:
    def crash(text: str, tool_format: str) -> Action:
        raise IndexError("a parser bug")

    monkeypatch.setattr(parser, "_parse", crash)
    action = parse_action("<answer>x</answer>", "agemem")
    assert action.kind == "format_error" and "could not parse the output (IndexError)" in action.error
    assert [r.levelname for r in caplog.records] == ["ERROR"] and "parser bug" in caplog.text
    assert "IndexError: a parser bug" in caplog.text  # with its traceback


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
CALLS = st.lists(
    st.fixed_dictionaries(
        {
            "name": st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,15}", fullmatch=True),
            "arguments": st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=4),
        }
    ),
    min_size=1,
    max_size=4,
    unique_by=lambda c: json.dumps(c, sort_keys=True),
)


@FUZZ
@given(calls=CALLS, fmt=FORMATS)
def test_fuzz_valid_calls_round_trip(calls: list[dict[str, Any]], fmt: str) -> None:
    text = THINK + (tc(*calls) if fmt == "agemem" else hermes(*calls)) + "<|im_end|>"
    action = parse_action(text, fmt)
    assert action.kind == "tool_calls" and not action.warnings, action
    assert [(c.name, c.arguments) for c in action.tool_calls] == [(c["name"], c["arguments"]) for c in calls]


@FUZZ
@given(answer=st.text(min_size=1).filter(lambda s: "<" not in s and s.strip()), fmt=FORMATS)
def test_fuzz_answers_round_trip(answer: str, fmt: str) -> None:
    action = parse_action(f"<think>t</think><answer>{answer}</answer>", fmt)
    assert action.kind == "answer" and action.answer == answer.strip() and not action.warnings
