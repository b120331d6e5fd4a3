"""Tolerant JSON decoding of tool-call payloads, for the output parser (agemem/tools/parser.py): JSON repairs
(trailing commas, single quotes, Python literals, markdown fences), truncated arrays, and turning decoded items
into `ToolCall`s. Every repair is recorded as a warning; nothing here raises on model output.
"""

from __future__ import annotations

import json
import re
from typing import Any

from agemem.records import ToolCall

INSIDE_RE = {'"': re.compile(r'[\\"]'), "'": re.compile(r"[\\']")}
_NORMALIZE_RE = re.compile(r"[\"']|,[\s,]*|\b(?:True|False|None)\b")  # a run of commas is one token
_STRUCT_RE = re.compile(r'["\[\]{}]')
JSON_START_RE = re.compile(r"[\[{]")
_SEPARATORS_RE = re.compile(r"[\s,]*")
_PY_LITERALS = {"True": "true", "False": "false", "None": "null"}
DECODER = json.JSONDecoder(strict=False)  # strict=False: raw newlines inside strings are accepted
SNIPPET = 40


def decode_payload(body: str, tool_format: str, warnings: list[str]) -> tuple[list[Any], str | None]:
    """Decode the JSON of one `<tool_call>` block into raw call items; returns (items, error reason)."""
    text = strip_fence(body.strip(), warnings)
    if not text:
        return [], "empty <tool_call> block"
    start = JSON_START_RE.search(text)
    if start is None:
        return [], f"no JSON array or object inside <tool_call>: {text[:SNIPPET]!r}"
    if start.start() > 0:
        warnings.append(f"ignored text before the JSON in <tool_call>: {text[: start.start()][:SNIPPET]!r}")
    fixed = normalize_json(text[start.start() :])
    if fixed != text[start.start() :]:
        warnings.append("repaired non-standard JSON (single quotes, trailing commas or Python literals)")
    is_array = fixed.startswith("[")
    values, pos = _decode_run(fixed, 1 if is_array else 0)
    rest = fixed[pos:].lstrip()
    if is_array and rest.startswith("]"):
        trailing = rest[1:]
    elif (is_array and not rest) or (rest and looks_truncated(rest)):
        if not values:
            return [], "truncated JSON in <tool_call>, no complete call"
        warnings.append(f"truncated JSON: kept {len(values)} complete call(s), dropped the incomplete rest")
        trailing = ""
    elif is_array or not values:
        return [], f"unparsable JSON in <tool_call> near {rest[:SNIPPET]!r}"
    else:
        trailing = rest
    if trailing.strip():
        warnings.append(f"ignored text after the JSON in <tool_call>: {trailing.strip()[:SNIPPET]!r}")
    _shape_warnings(is_array, len(values), tool_format, warnings)
    return values, None


def _shape_warnings(is_array: bool, count: int, tool_format: str, warnings: list[str]) -> None:
    """Warn when a block's JSON shape differs from what the format expects."""
    if tool_format == "agemem" and not is_array:
        warnings.append(
            "expected a JSON array of calls, got "
            + ("a single object" if count == 1 else f"{count} objects without an array")
        )
    elif tool_format == "hermes" and is_array:
        warnings.append("expected one JSON object per <tool_call> block, got an array")
    elif tool_format == "hermes" and count > 1:
        warnings.append(f"expected one JSON object per <tool_call> block, got {count}")


def strip_fence(text: str, warnings: list[str]) -> str:
    """Remove a markdown code fence (```json … ```) around the JSON, with a warning."""
    if not text.startswith("```"):
        return text
    warnings.append("removed a markdown code fence around the JSON")
    newline = text.find("\n")
    text = text[newline + 1 :] if newline >= 0 else text.lstrip("`")
    text = text.rstrip()
    return text[:-3].rstrip() if text.endswith("```") else text


def _decode_run(text: str, pos: int) -> tuple[list[Any], int]:
    """Decode consecutive JSON values from `pos` (separated by commas/whitespace) until `]` or a failure.

    Returns the decoded values and the position where decoding stopped.
    """
    values: list[Any] = []
    while True:
        pos = _SEPARATORS_RE.match(text, pos).end()  # type: ignore[union-attr]  # `*` always matches
        if pos >= len(text) or text[pos] == "]":
            return values, pos
        try:
            value, end = DECODER.raw_decode(text, pos)
        except (ValueError, RecursionError):
            return values, pos
        values.append(value)
        pos = end


def looks_truncated(text: str) -> bool:
    """Whether `text` reads as a cut-off JSON prefix: an unterminated string or unclosed brackets."""
    depth, pos = 0, 0
    while True:
        match = _STRUCT_RE.search(text, pos)
        if match is None:
            return depth > 0
        token = match.group()
        if token == '"':
            end = _string_end(text, match.start(), '"')
            if end < 0:
                return True
            pos = end
            continue
        depth += 1 if token in "[{" else -1
        if depth < 0:
            return False
        pos = match.end()


def _string_end(text: str, start: int, quote: str) -> int:
    """Index just past the string opened at `start` by `quote`, or -1 if it is never terminated."""
    pos = start + 1
    while True:
        match = INSIDE_RE[quote].search(text, pos)
        if match is None:
            return -1
        if match.group() == "\\":
            pos = match.end() + 1
        else:
            return match.end()


def normalize_json(text: str) -> str:
    """Rewrite lenient JSON to strict JSON: single-quoted strings, trailing commas, Python True/False/None.

    Strict JSON comes back unchanged (its double-quoted strings are copied verbatim).
    """
    out: list[str] = []
    pos = 0
    while pos < len(text):
        match = _NORMALIZE_RE.search(text, pos)
        if match is None:
            out.append(text[pos:])
            break
        out.append(text[pos : match.start()])
        token = match.group()
        if token == '"':
            end = _string_end(text, match.start(), '"')
            end = len(text) if end < 0 else end
            out.append(text[match.start() : end])
            pos = end
        elif token == "'":
            converted, pos = _single_to_double(text, match.start())
            out.append(converted)
        elif token.startswith(","):  # commas and the blanks after them; dropped when they close a container
            pos = match.end()
            out.append("" if pos < len(text) and text[pos] in "]}" else token)
        else:
            out.append(_PY_LITERALS[token])
            pos = match.end()
    return "".join(out)


def _single_to_double(text: str, start: int) -> tuple[str, int]:
    """Convert the single-quoted string at `start` to a double-quoted one; returns (string, position after)."""
    parts = ['"']
    pos = start + 1
    while pos < len(text):
        char = text[pos]
        if char == "\\" and pos + 1 < len(text):
            parts.append("'" if text[pos + 1] == "'" else text[pos : pos + 2])
            pos += 2
        elif char == "'":
            parts.append('"')
            return "".join(parts), pos + 1
        else:
            parts.append('\\"' if char == '"' else char)
            pos += 1
    return "".join(parts), len(text)


def to_tool_call(item: Any, index: int, warnings: list[str]) -> tuple[ToolCall | None, str | None]:
    """Validate one raw call item; returns (call, None) or (None, error reason)."""
    if isinstance(item, dict) and "name" not in item and isinstance(item.get("function"), dict):
        item = item["function"]
        warnings.append(f'unwrapped an OpenAI-style {{"function": …}} in tool call #{index}')
    if not isinstance(item, dict):
        return None, f"tool call #{index} is not a JSON object"
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        return None, f'tool call #{index} has no "name" string'
    arguments, error = _coerce_arguments(item, index, warnings)
    if error or arguments is None:
        return None, error or f"tool call #{index} has invalid arguments"
    return ToolCall(name=name.strip(), arguments=arguments), None


def _coerce_arguments(
    item: dict[str, Any], index: int, warnings: list[str]
) -> tuple[dict | None, str | None]:
    """The call's arguments as a dict (from `arguments`, `parameters`, a JSON string or top-level keys)."""
    if "arguments" in item:
        raw = item["arguments"]
    elif "parameters" in item:
        raw = item["parameters"]
        warnings.append(f'tool call #{index} used "parameters" instead of "arguments"')
    else:
        extra = {k: v for k, v in item.items() if k not in ("name", "type", "id")}
        if extra:
            warnings.append(f"tool call #{index} put its arguments at the top level")
        return extra, None
    if raw is None:
        return {}, None
    if isinstance(raw, str):
        decoded = _decode_string_arguments(raw)
        if decoded is None:
            return None, f"the arguments of tool call #{index} are a string, not a JSON object"
        warnings.append(f"tool call #{index} gave its arguments as a JSON string")
        raw = decoded
    if not isinstance(raw, dict):
        return None, f"the arguments of tool call #{index} are not a JSON object"
    return raw, None


def _decode_string_arguments(raw: str) -> dict[str, Any] | None:
    """Decode arguments given as a JSON-encoded string; `None` unless it holds exactly one object."""
    text = raw.strip()
    if not text:
        return {}
    fixed = normalize_json(text)
    try:
        value, end = DECODER.raw_decode(fixed)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) and not fixed[end:].strip() else None
