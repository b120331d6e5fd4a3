"""Running a per-row converter over a source file: strict or lenient, with a progress bar on large inputs.

A converter takes one `Record` and returns what the row became: episodes, deliberate rejections (a well-formed
row that cannot make an episode, e.g. a HotpotQA item whose supporting paragraphs are all absent), or
`DataError`s for malformed parts it could isolate (one bad LoCoMo question in an otherwise good conversation).
It raises `DataError` when the whole row is malformed. Malformed input raises in strict mode and becomes a
rejection in lenient mode; deliberate rejections never raise. Either way every rejection is reported.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from tqdm import tqdm

from agemem.records import Episode, episode_problems
from data_gen.errors import DataError, Rejection
from data_gen.rows import Record, read_rows

log = logging.getLogger("agemem")
# Inputs with at least this many rows get a progress bar (stderr).
PROGRESS_MIN_ROWS = 200

Outcome = Episode | Rejection | DataError
Converter = Callable[[Record], list[Outcome]]


@dataclass
class ConversionResult:
    """Episodes made from a source, the rows rejected, and how many rows were read."""

    episodes: list[Episode]  # valid episodes, in input order
    rejections: list[Rejection] = field(default_factory=list)  # every row (or part) that made no episode
    rows: int = 0  # source rows read


def progress(items: list, desc: str) -> list | tqdm:
    """`items` wrapped in a tqdm bar when there are many of them, else unchanged."""
    if len(items) < PROGRESS_MIN_ROWS:
        return items
    return tqdm(items, desc=desc, unit="row", dynamic_ncols=True)


def _checked(episode: Episode, record: Record, seen: dict[str, int]) -> Episode | DataError:
    """The episode if it validates and its id is new, else a `DataError` at the source row's line."""
    problems = episode_problems(episode.to_dict())
    if problems:
        name, reason = problems[0]
        return record.error(name, f"{reason} (in the episode made from this row)")
    if episode.id in seen:
        return record.error("id", f"duplicate id {episode.id!r} (first on line {seen[episode.id]})")
    seen[episode.id] = record.line
    return episode


def _item_id(record: Record | DataError, id_key: str) -> str:
    value = record.data.get(id_key) if isinstance(record, Record) and isinstance(record.data, dict) else None
    return value if isinstance(value, str) else ""


def convert_file(path: str, convert: Converter, strict: bool, source: str, id_key: str) -> ConversionResult:
    """Read `path` and convert every row; see the module docstring for strict vs lenient.

    `id_key` is the source's own id field (for naming rejected rows). Raises `DataError` for an unreadable
    file, in strict mode for the first malformed row, and when no row at all made an episode.
    """
    rows = read_rows(path)
    result = ConversionResult(episodes=[], rows=len(rows))
    seen: dict[str, int] = {}  # episode id → line of the row that made it
    for record in progress(rows, desc=source):
        try:
            outcomes = [record] if isinstance(record, DataError) else convert(record)
        except DataError as err:
            outcomes = [err]
        for outcome in outcomes:
            if isinstance(outcome, Episode):
                outcome = _checked(outcome, record, seen)
            if isinstance(outcome, DataError):
                if strict:
                    raise outcome
                outcome = Rejection.from_error(outcome, _item_id(record, id_key))
            (result.episodes if isinstance(outcome, Episode) else result.rejections).append(outcome)
    _report(path, result)
    return result


def _report(path: str, result: ConversionResult) -> None:
    """Log the counts; a warning listing the first rejections when there are any. Empty output is an error."""
    report = log.warning if result.rejections else log.info
    report("%s: %d rows read, %d episodes made, %d rejected%s", path, result.rows, len(result.episodes),
           len(result.rejections), "".join(f"\n  {r.describe()}" for r in result.rejections[:10]))
    if not result.episodes:
        first = result.rejections[0].describe() if result.rejections else "no rows"
        raise DataError(path, result.rejections[0].line if result.rejections else 1, "(file)",
                        f"no row made an episode ({len(result.rejections)} rejected; first: {first})")
