"""Reading source files row by row, each row with the line it starts on (episodes.jsonl itself: episode_files.py).

Every error names the file, the 1-based line and the field. Source files come as a JSON list (pretty-printed or
not) or as JSON lines; a JSON list is decoded element by element so that each row knows the line it starts on.
"""

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data_gen.errors import DataError

log = logging.getLogger("agemem")
_WHITESPACE = " \t\n\r"


@dataclass(frozen=True)
class Record:
    """One row of a source file."""

    file: str  # the file it came from
    line: int  # 1-based line where the row starts
    index: int  # 0-based position of the row in the file
    data: Any  # the decoded JSON value

    def error(self, field_name: str, reason: str) -> DataError:
        """A `DataError` at this row's line."""
        return DataError(self.file, self.line, field_name, reason)

    def need(self, obj: Any, key: str | int, kind: type | tuple[type, ...], name: str) -> Any:
        """`obj[key]`, checked to be a `kind`; a `DataError` naming `name` (the field's full path) otherwise."""
        if isinstance(key, str) and (not isinstance(obj, dict) or key not in obj):
            raise self.error(name, "missing required field")
        value = obj[key]
        # bool is an int in Python, but a flag where a number belongs is a schema error.
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
            raise self.error(name, f"expected {_kind_name(kind)}, got {type(value).__name__}")
        return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", list: "a list", dict: "an object", bool: "a bool"}
    return " or ".join(names.get(k, k.__name__) for k in _as_tuple(kind))


def _skip_ws(text: str, index: int) -> int:
    while index < len(text) and text[index] in _WHITESPACE:
        index += 1
    return index


def _json_list_records(text: str, file: str) -> list[Record]:
    """Decode a top-level JSON list one element at a time, remembering the line each element starts on."""
    decoder = json.JSONDecoder()
    records: list[Record] = []
    index, line, counted_to = _skip_ws(text, text.index("[") + 1), 1, 0
    while True:
        line += text.count("\n", counted_to, index)
        counted_to = index
        if index >= len(text):
            raise DataError(file, line, f"[{len(records)}]", "truncated JSON: the file ends inside the top-level list")
        if text[index] == "]" and not records:
            return records
        try:
            value, end = decoder.raw_decode(text, index)
        except json.JSONDecodeError as err:
            raise DataError(file, err.lineno, f"[{len(records)}]",
                            f"truncated or invalid JSON: {err.msg} (column {err.colno})") from err
        records.append(Record(file, line, len(records), value))
        index = _skip_ws(text, end)
        if index < len(text) and text[index] == ",":
            index = _skip_ws(text, index + 1)
        elif index < len(text) and text[index] == "]":
            return records
        else:
            at = text.count("\n", 0, index) + 1
            raise DataError(file, at, f"[{len(records)}]", "truncated or invalid JSON: expected ',' or ']'")


def _json_lines_records(text: str, file: str) -> list[Record | DataError]:
    """One JSON value per non-blank line; a line that does not parse is a `DataError` in its place."""
    rows: list[Record | DataError] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            rows.append(Record(file, number, len(rows), json.loads(raw)))
        except json.JSONDecodeError as err:
            rows.append(DataError(file, number, f"[{len(rows)}]",
                                  f"truncated or invalid JSON: {err.msg} (column {err.colno})"))
    return rows


def read_rows(path: str | Path, objects: bool = True) -> list[Record | DataError]:
    """The rows of a JSON-list or JSON-lines file, in order, each with its line.

    A JSON-lines row that does not parse (or, with `objects`, is not a JSON object) is a `DataError` in its
    place, so that a lenient reader can reject it and go on. Raises `DataError` for a missing or empty file and
    for a JSON list that does not parse (truncated), since then no later row can be trusted.
    """
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise DataError(file, 0, "(file)", "no such file") from err
    start = _skip_ws(text, 0)
    if start == len(text):
        raise DataError(file, 1, "(file)", "empty file: expected a JSON list or JSON lines")
    is_list = text[start] == "["
    rows: list[Record | DataError] = _json_list_records(text, file) if is_list else _json_lines_records(text, file)
    if not rows:
        raise DataError(file, 1, "(file)", "no rows: the top-level JSON list is empty")
    if objects:
        rows = [row.error(f"[{row.index}]", f"expected a JSON object, got {type(row.data).__name__}")
                if isinstance(row, Record) and not isinstance(row.data, dict) else row for row in rows]
    return rows


def read_records(path: str | Path, objects: bool = True) -> list[Record]:
    """Like `read_rows`, but the first malformed row raises its `DataError` (file:line, field)."""
    rows = read_rows(path, objects)
    for row in rows:
        if isinstance(row, DataError):
            raise row
    return rows
