"""Tolerant parser of one model output into an `Action` (SPEC.md §1). It never raises on model output.

The policy writes `<think>…</think>` and then exactly one of `<tool_call>[{"name": …, "arguments": {…}}, …]
</tool_call>` (the `agemem` format: one JSON array, several calls allowed) or `<answer>…</answer>`. The `hermes`
format is Qwen's native one: one JSON object per `<tool_call>{…}</tool_call>` block, any number of blocks. The
`qwen_agent` format is Qwen-Agent's, which Mem-α's official code uses (SPEC.md §6): after the think, one or more
`✿FUNCTION✿: name` lines each followed by `✿ARGS✿: {json}`; a `✿RESULT✿` or `✿RETURN✿` marker ends the arguments
and what follows it up to the next `✿FUNCTION✿` (a result the model imagined) is ignored with a warning. Markers
inside a closed `<think>` are reasoning, not calls; an unclosed `<think>` ends at the first `✿FUNCTION✿`; a cut-off
last call is dropped when complete ones precede it. Qwen's native hermes blocks are read too, but not mixed with
`✿FUNCTION✿` calls in one output.

Tolerated, each recorded in `Action.warnings`: a missing closing tag, a truncated JSON array (the complete calls
before the cut are kept), duplicated identical calls (one is kept), a single object instead of an array (or an
array in a hermes block), several `<tool_call>` blocks (merged in order), trailing commas, single quotes and
Python literals in the JSON, `arguments` given as a JSON string, the key `parameters` instead of `arguments`,
arguments at the top level of the call, an OpenAI-style `{"function": {…}}` wrapper, a markdown code fence or
text inside the block around the JSON, text outside the tags. A trailing end-of-turn token is stripped silently.

Format errors (`Action.kind == "format_error"`, `Action.error` is shown to the agent as a tool message): empty
output, think only, no tags at all, both an answer and a tool call, several different answers, an empty answer
or block, unparsable JSON, a truncated array with no complete call, a call that is not an object, has no string
`name`, or whose arguments are not an object.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass

from agemem.records import Action, ToolCall
from agemem.tools.tolerant_json import (
    DECODER,
    INSIDE_RE,
    JSON_START_RE,
    SNIPPET,
    decode_payload,
    looks_truncated,
    normalize_json,
    strip_fence,
    to_tool_call,
)

log = logging.getLogger(__name__)
VALID_FORMATS: tuple[str, ...] = ("agemem", "hermes", "qwen_agent")
END_TOKENS: tuple[str, ...] = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end|>", "</s>")
_EXPECTED = {
    "agemem": 'Expected <think>…</think> then <tool_call>[{"name": …, "arguments": {…}}]</tool_call> '
    "or <answer>…</answer>.",
    "hermes": 'Expected <think>…</think> then <tool_call>{"name": …, "arguments": {…}}</tool_call> '
    "(one block per call) or <answer>…</answer>.",
    "qwen_agent": "Expected <think>…</think> then, for each call, a line ✿FUNCTION✿: name and a line "
    '✿ARGS✿: {"argument": …}, or <answer>…</answer>.',
}

_OPEN_RE = re.compile(r"<\s*(think|tool_call|answer)\s*>", re.IGNORECASE)
_CLOSE_RE = {
    kind: re.compile(rf"<\s*/\s*{kind}\s*>", re.IGNORECASE) for kind in ("think", "tool_call", "answer")
}
_OUTSIDE_RE = re.compile(r"[\"'<]")  # what matters outside a JSON string while looking for </tool_call>
_MARKER_RE = re.compile(r"✿\s*(FUNCTION|ARGS|RESULT|RETURN)\s*✿[ \t]*:?", re.IGNORECASE)  # Qwen-Agent's markers


@dataclass
class _Segment:
    """One piece of the output: free text outside the tags, or the body of a think/tool_call/answer block."""

    kind: str  # "text" | "think" | "tool_call" | "answer"
    body: str
    closed: bool = True


def parse_action(text: str, tool_format: str = "agemem") -> Action:
    """Parse one model output into tool calls, an answer or a format error; never raises on `text`.

    `tool_format` is `"agemem"` (a JSON array in one `<tool_call>` block), `"hermes"` (one JSON object per
    block) or `"qwen_agent"` (`✿FUNCTION✿`/`✿ARGS✿` lines). An unknown `tool_format` is a configuration error and
    raises `ValueError`.
    """
    if tool_format not in VALID_FORMATS:
        raise ValueError(f"unknown tool_format {tool_format!r}; valid formats: {', '.join(VALID_FORMATS)}")
    if not isinstance(text, str):
        return _error(f"the model output is not text ({type(text).__name__})", tool_format, None, [])
    try:
        action = _parse(text, tool_format)
    except Exception as exc:  # last resort: a parser bug still reaches the agent as an error
        log.exception("tool-call parser bug on %r (the agent gets a format error)", text[:200])
        return _error(f"could not parse the output ({type(exc).__name__})", tool_format, None, [])
    action.warnings = list(dict.fromkeys(action.warnings))  # the same warning once, in order
    return action


def _error(reason: str, tool_format: str, think: str | None, warnings: list[str]) -> Action:
    """A format-error action whose message tells the agent what was wrong and what is expected."""
    message = f"format error: {reason}. {_EXPECTED.get(tool_format, '')}".strip()
    return Action(kind="format_error", think=think, error=message, warnings=warnings)


def _parse(text: str, tool_format: str) -> Action:
    """Split the output into tagged segments and decide which single action they express."""
    text = _strip_end_tokens(text)
    if not text.strip():
        return _error("empty output", tool_format, None, [])
    segments = _split_segments(text)
    if tool_format == "qwen_agent":
        segments = _end_unclosed_think_at_function(segments)
    functions = [s.body for s in segments if s.kind == "text" and _has_function(s.body, tool_format)]
    warnings = _segment_warnings(segments, outside=not functions)
    thinks = [s.body.strip() for s in segments if s.kind == "think"]
    think = "\n".join(thinks) if thinks else None
    answers = [s for s in segments if s.kind == "answer"]
    blocks = [s for s in segments if s.kind == "tool_call"]
    if functions and blocks:
        return _error("both ✿FUNCTION✿ and <tool_call> found; use one of them", tool_format, think, warnings)
    if answers and functions:
        return _error("both ✿FUNCTION✿ and <answer> found; write exactly one of them", tool_format, think, warnings)
    if functions:
        return _qwen_agent_action(functions, think, warnings)
    if answers and blocks:
        return _error(
            "both <tool_call> and <answer> found; write exactly one of them", tool_format, think, warnings
        )
    if answers:
        return _answer_action(answers, tool_format, think, warnings)
    if blocks:
        return _tool_call_action(blocks, tool_format, think, warnings)
    call_tag = "✿FUNCTION✿" if tool_format == "qwen_agent" else "<tool_call>"
    if thinks:
        return _error(f"only <think> found, no {call_tag} or <answer>", tool_format, think, warnings)
    return _error(f"no {call_tag} or <answer> found", tool_format, think, warnings)


def _strip_end_tokens(text: str) -> str:
    """Remove trailing end-of-turn tokens (`<|im_end|>`, `<|endoftext|>`, …) and the whitespace around them."""
    stripped = text.rstrip()
    changed = True
    while changed:
        changed = False
        for token in END_TOKENS:
            if stripped.endswith(token):
                stripped = stripped[: -len(token)].rstrip()
                changed = True
    return stripped


class _Closers:
    """Finds closing tags with memoised searches, so that many unclosed blocks cost linear, not quadratic, time."""

    def __init__(self, text: str) -> None:
        """Index the closing tags of `text`."""
        self.text = text
        self._last: dict[str, tuple[int, re.Match[str] | None]] = {}

    def find(self, kind: str, start: int) -> re.Match[str] | None:
        """The first closing tag of `kind` at or after `start` (callers ask with non-decreasing `start`)."""
        searched_from, match = self._last.get(kind, (len(self.text) + 1, None))
        if searched_from <= start and (match is None or match.start() >= start):
            return match
        match = _CLOSE_RE[kind].search(self.text, start)
        self._last[kind] = (start, match)
        return match


def _split_segments(text: str) -> list[_Segment]:
    """Cut the output into text / think / tool_call / answer segments, tolerating missing closing tags."""
    segments: list[_Segment] = []
    pos = 0
    closers = _Closers(text)
    first_open = _OPEN_RE.search(text)
    lone_close = closers.find("think", 0)
    if lone_close and (first_open is None or lone_close.start() < first_open.start()):
        segments.append(_Segment("think", text[: lone_close.start()]))  # `<think>` was part of the prompt
        pos = lone_close.end()
    while pos < len(text):
        opener = _OPEN_RE.search(text, pos)
        if opener is None:
            segments.append(_Segment("text", text[pos:]))
            break
        if opener.start() > pos:
            segments.append(_Segment("text", text[pos : opener.start()]))
        kind = opener.group(1).lower()
        if kind == "tool_call":
            end, resume, closed = _find_tool_call_end(closers, opener.end())
        else:
            end, resume, closed = _find_plain_end(closers, opener.end(), kind)
        segments.append(_Segment(kind, text[opener.end() : end], closed))
        pos = resume
    return segments


def _find_plain_end(closers: _Closers, start: int, kind: str) -> tuple[int, int, bool]:
    """End of a think/answer body: its closing tag, else the next opening tag, else the end of the text.

    Returns (end of the body, where scanning resumes, whether the closing tag was found).
    """
    close = closers.find(kind, start)
    if close:
        return close.start(), close.end(), True
    opener = _OPEN_RE.search(closers.text, start)
    end = opener.start() if opener else len(closers.text)
    return end, end, False


def _find_tool_call_end(closers: _Closers, start: int) -> tuple[int, int, bool]:
    """End of a tool_call body, ignoring a `</tool_call>` that sits inside a JSON string value.

    Scans outside strings for the closing tag (or another opening tag, when the closing one is missing); if
    the text ends inside an unterminated string, falls back to the first literal closing tag.
    """
    text, pos, quote = closers.text, start, None
    while True:
        if quote is None:
            match = _OUTSIDE_RE.search(text, pos)
            if match is None:
                return len(text), len(text), False
            at = match.start()
            if match.group() != "<":
                quote, pos = match.group(), at + 1
                continue
            close = _CLOSE_RE["tool_call"].match(text, at)
            if close:
                return at, close.end(), True
            if _OPEN_RE.match(text, at):
                return at, at, False
            pos = at + 1
        else:
            match = INSIDE_RE[quote].search(text, pos)
            if match is None:
                break
            pos = match.end() + (1 if match.group() == "\\" else 0)
            quote = quote if match.group() == "\\" else None
    close = closers.find("tool_call", start)
    if close:
        return close.start(), close.end(), True
    return len(text), len(text), False


def _segment_warnings(segments: list[_Segment], outside: bool = True) -> list[str]:
    """Warnings for missing closing tags and (when `outside`) for non-blank text outside the tags."""
    warnings = [f"missing </{s.kind}> closing tag" for s in segments if not s.closed]
    text = " ".join(s.body.strip() for s in segments if s.kind == "text" and s.body.strip())
    if outside and text:
        warnings.append(f"ignored text outside the tags: {text[:SNIPPET]!r}")
    return warnings


def _answer_action(
    answers: list[_Segment], tool_format: str, think: str | None, warnings: list[str]
) -> Action:
    """An answer action from the answer blocks (identical repeats are tolerated, different ones are not)."""
    bodies = [s.body.strip() for s in answers]
    if len(set(bodies)) > 1:
        return _error(
            f"{len(bodies)} different <answer> blocks; give one answer", tool_format, think, warnings
        )
    if len(bodies) > 1:
        warnings.append(f"ignored {len(bodies) - 1} duplicated <answer> block(s)")
    if not bodies[0]:
        return _error("empty <answer>", tool_format, think, warnings)
    return Action(kind="answer", answer=bodies[0], think=think, warnings=warnings)


def _tool_call_action(
    blocks: list[_Segment], tool_format: str, think: str | None, warnings: list[str]
) -> Action:
    """A tool-calls action from every `<tool_call>` block, merged in order and deduplicated."""
    if tool_format == "agemem" and len(blocks) > 1:
        warnings.append(f"merged {len(blocks)} <tool_call> blocks (expected one JSON array)")
    calls: list[ToolCall] = []
    for block in blocks:
        # qwen_agent also reads Qwen's native blocks, shaped as in hermes (one object per block).
        items, error = decode_payload(block.body, "hermes" if tool_format == "qwen_agent" else tool_format, warnings)
        if error:
            return _error(error, tool_format, think, warnings)
        for item in items:
            call, error = to_tool_call(item, len(calls) + 1, warnings)
            if error or call is None:
                return _error(error or "invalid tool call", tool_format, think, warnings)
            calls.append(call)
    calls = _dedupe(calls, warnings)
    if not calls:
        return _error("the <tool_call> block holds no call", tool_format, think, warnings)
    return Action(kind="tool_calls", tool_calls=calls, think=think, warnings=warnings)


def _dedupe(calls: list[ToolCall], warnings: list[str]) -> list[ToolCall]:
    """Drop calls identical (name and arguments) to an earlier one, with a warning."""
    seen: set[str] = set()
    kept: list[ToolCall] = []
    for call in calls:
        key = json.dumps([call.name, call.arguments], sort_keys=True, ensure_ascii=False, default=repr)
        if key not in seen:
            seen.add(key)
            kept.append(call)
    if len(kept) < len(calls):
        warnings.append(f"dropped {len(calls) - len(kept)} duplicated tool call(s)")
    return kept


def _has_function(text: str, tool_format: str) -> bool:
    """Whether `text` holds a Qwen-Agent `✿FUNCTION✿` marker (only ever true in the qwen_agent format)."""
    if tool_format != "qwen_agent":
        return False
    return any(m.group(1).upper() == "FUNCTION" for m in _MARKER_RE.finditer(text))


def _end_unclosed_think_at_function(segments: list[_Segment]) -> list[_Segment]:
    """Split an unclosed think at its first `✿FUNCTION✿`: the calls after it were not meant as reasoning."""
    out: list[_Segment] = []
    for segment in segments:
        marker = next((m for m in _MARKER_RE.finditer(segment.body) if m.group(1).upper() == "FUNCTION"), None)
        if segment.kind != "think" or segment.closed or marker is None:
            out.append(segment)
            continue
        cut = marker.start()
        out += [_Segment("think", segment.body[:cut], False), _Segment("text", segment.body[cut:])]
    return out


def _qwen_agent_action(texts: list[str], think: str | None, warnings: list[str]) -> Action:
    """A tool-calls action from the `✿FUNCTION✿`/`✿ARGS✿` pairs of the text outside the tags, in order."""
    calls: list[ToolCall] = []
    for text in texts:
        error = _qwen_agent_calls(text, calls, warnings)
        if error:
            return _error(error, "qwen_agent", think, warnings)
    calls = _dedupe(calls, warnings)
    if not calls:
        return _error("no complete ✿FUNCTION✿ call", "qwen_agent", think, warnings)
    return Action(kind="tool_calls", tool_calls=calls, think=think, warnings=warnings)


def _qwen_agent_calls(text: str, calls: list[ToolCall], warnings: list[str]) -> str | None:
    """Append the calls of one text to `calls`; returns an error reason, or None.

    A call cut off by the end of the text (no `✿ARGS✿` yet, or its JSON unfinished) is dropped with a warning when
    a complete call precedes it, and is an error otherwise.
    """
    markers = list(_MARKER_RE.finditer(text))
    ends = [m.start() for m in markers[1:]] + [len(text)]
    bodies = [text[m.end() : end] for m, end in zip(markers, ends)]
    kinds = [m.group(1).upper() for m in markers]
    if text[: markers[0].start()].strip():
        warnings.append(f"ignored text before ✿FUNCTION✿: {text[: markers[0].start()].strip()[:SNIPPET]!r}")
    i = 0
    while i < len(markers):
        if kinds[i] in ("RESULT", "RETURN"):
            if bodies[i].strip():
                warnings.append(f"ignored text after ✿{kinds[i]}✿: {bodies[i].strip()[:SNIPPET]!r}")
            i += 1
            continue
        if kinds[i] == "ARGS":
            return "✿ARGS✿ without a ✿FUNCTION✿ line before it"
        index = len(calls) + 1
        name, _, extra = bodies[i].strip().partition("\n")
        if not name.strip():
            return f"tool call #{index} has no function name after ✿FUNCTION✿"
        if extra.strip():
            warnings.append(f"ignored text between ✿FUNCTION✿ and ✿ARGS✿: {extra.strip()[:SNIPPET]!r}")
        cut = i + 1 == len(markers)
        if not cut and kinds[i + 1] != "ARGS":
            return f"✿FUNCTION✿ {name.strip()} (tool call #{index}) is not followed by ✿ARGS✿"
        arguments, error, truncated = (None, "no ✿ARGS✿", True) if cut else _decode_args(bodies[i + 1], index, warnings)
        if truncated and i + 2 >= len(markers):
            if not calls:
                return f"truncated output: tool call #{index} ({name.strip()}) is incomplete and no call is complete"
            warnings.append(f"truncated output: kept {len(calls)} complete call(s), dropped the incomplete rest")
            return None
        if error or arguments is None:
            return error or f"the ✿ARGS✿ of tool call #{index} are invalid"
        calls.append(ToolCall(name=name.strip(), arguments=arguments))
        i += 2
    return None


def _decode_args(body: str, index: int, warnings: list[str]) -> tuple[dict | None, str | None, bool]:
    """Decode the JSON object after `✿ARGS✿`; returns (arguments, error reason, whether it looks cut off)."""
    text = strip_fence(body.strip(), warnings)
    if not text:
        return None, f"empty ✿ARGS✿ in tool call #{index}", True
    start = JSON_START_RE.search(text)
    if start is None:
        return None, f"no JSON object after ✿ARGS✿ in tool call #{index}: {text[:SNIPPET]!r}", False
    if start.start() > 0:
        warnings.append(f"ignored text before the JSON after ✿ARGS✿: {text[: start.start()][:SNIPPET]!r}")
    fixed = normalize_json(text[start.start() :])
    if fixed != text[start.start() :]:
        warnings.append("repaired non-standard JSON (single quotes, trailing commas or Python literals)")
    try:
        value, end = DECODER.raw_decode(fixed)
    except (ValueError, RecursionError):
        truncated = looks_truncated(fixed)
        what = "truncated" if truncated else "unparsable"
        return None, f"{what} JSON after ✿ARGS✿ in tool call #{index} near {fixed[:SNIPPET]!r}", truncated
    if fixed[end:].strip():
        warnings.append(f"ignored text after the JSON after ✿ARGS✿: {fixed[end:].strip()[:SNIPPET]!r}")
    if not isinstance(value, dict):
        return None, f"the ✿ARGS✿ of tool call #{index} are not a JSON object", False
    return value, None, False
