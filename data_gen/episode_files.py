"""Writing and loading validated `episodes.jsonl`: one episode per line; every error names the file, the 1-based
line and the field, and a lenient load records the rows it rejects instead of raising."""

import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from agemem.records import Episode, episode_problems
from data_gen.errors import DataError, Rejection
from data_gen.rows import Record, read_rows

log = logging.getLogger("agemem")


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
