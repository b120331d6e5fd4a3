"""Reading source files row by row with their line numbers, and writing/loading validated `episodes.jsonl`.

Every error names the file, the 1-based line and the field. Source files come as a JSON list (pretty-printed or
not) or as JSON lines; a JSON list is decoded element by element so that each row knows the line it starts on.
"""

import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agemem.records import Episode, episode_problems
from data_gen.errors import DataError, Rejection

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


def write_episodes(path: str | Path, episodes: Iterable[Episode]) -> int:
    """Validate and write one episode per line; raises `DataError` naming the line and field.

    Ids must be unique within the file. Lines are streamed to a temporary file that replaces `path` only once
    every episode has been written, so an invalid episode or a crash never leaves a half-written file.
    Returns the number written.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    seen: dict[str, int] = {}
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            for number, episode in enumerate(episodes, start=1):
                data = episode.to_dict()
                problems = episode_problems(data)
                if problems:
                    name, reason = problems[0]
                    raise DataError(str(path), number, name, f"{reason} (episode {data.get('id')!r})")
                if episode.id in seen:
                    raise DataError(str(path), number, "id",
                                    f"duplicate id {episode.id!r} (first on line {seen[episode.id]})")
                seen[episode.id] = number
                handle.write(json.dumps(data, ensure_ascii=False, allow_nan=False) + "\n")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    return len(seen)


@dataclass
class LoadResult:
    """What a load produced: the valid episodes and, in lenient mode, the rows it rejected."""

    episodes: list[Episode]  # the valid rows, in file order
    rejections: list[Rejection] = field(default_factory=list)  # the invalid rows, each with file:line and field
    rows: int = 0  # rows read (= len(episodes) + len(rejections))


def _episode_or_rejection(row: Record | DataError, seen: dict[str, int]) -> Episode | Rejection:
    if isinstance(row, DataError):
        return Rejection.from_error(row)
    problems = episode_problems(row.data)
    item_id = str(row.data.get("id", "")) if isinstance(row.data, dict) else ""
    if not problems and item_id in seen:
        problems = [("id", f"duplicate id {item_id!r} (first on line {seen[item_id]})")]
    if problems:
        name, reason = problems[0]
        more = f" (+{len(problems) - 1} more problems)" if len(problems) > 1 else ""
        return Rejection(row.file, row.line, name, reason + more, item_id)
    seen[item_id] = row.line
    return Episode(**row.data)


def load_episodes(path: str | Path, strict: bool = True) -> LoadResult:
    """Load and validate `episodes.jsonl`.

    strict: the first invalid row raises `DataError` (file:line, field). Lenient: invalid rows (a line that is
    not JSON included) are returned as rejections and the counts are logged, as a warning when any row was
    rejected; no row is dropped silently. A missing or empty file always raises.
    """
    result = LoadResult(episodes=[])
    seen: dict[str, int] = {}
    for row in read_rows(path, objects=False):
        outcome = _episode_or_rejection(row, seen)
        if isinstance(outcome, Episode):
            result.episodes.append(outcome)
            continue
        if strict:
            raise DataError(outcome.file, outcome.line, outcome.field, outcome.reason)
        result.rejections.append(outcome)
    result.rows = len(result.episodes) + len(result.rejections)
    report = log.warning if result.rejections else log.info
    report("%s: loaded %d episodes, rejected %d rows%s", path, len(result.episodes), len(result.rejections),
           "".join(f"\n  {r.describe()}" for r in result.rejections[:10]))
    return result
