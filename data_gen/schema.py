"""The `Episode` record: everything one three-stage rollout consumes (DESIGN.md), and its validation.

Validation returns every problem as `(field, reason)`, so that a reader can turn the first one into an error that
names the file and line, and a lenient reader can record all of them as a rejection.
"""

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

# The canonical answer of a question the material cannot answer (LoCoMo adversarial items, deleted facts).
ABSTAIN_ANSWER = "not mentioned"


@dataclass
class Episode:
    """One task: stage-1 material, stage-2 distractors, the stage-3 question and its reference answers."""

    id: str  # unique within a file; splits hash it
    source: str  # "hotpotqa", "locomo", "longmemeval", "synthetic", …
    contexts: list[str]  # stage 1: the contextual information I_q, one message each, in order
    distractors: list[str]  # stage 2: related but irrelevant or misleading messages, one per step
    question: str  # stage 3: the query q (never shown in stage 1)
    answers: list[str]  # gold answers A_q; the first is canonical
    supporting_facts: list[str] = field(default_factory=list)  # reference for memory quality
    category: str = ""  # source-specific question type (LoCoMo category, HotpotQA type, …)
    metadata: dict[str, Any] = field(default_factory=dict)  # anything else the source carries

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "Episode":
        """Build from a JSON object; raises `ValueError` naming the first invalid field (see `episode_problems`)."""
        problems = episode_problems(data)
        if problems:
            name, reason = problems[0]
            raise ValueError(f"field {name!r}: {reason}")
        return Episode(**data)


REQUIRED = ("id", "source", "contexts", "distractors", "question", "answers")
FIELD_NAMES = tuple(f.name for f in fields(Episode))


class DataError(ValueError):
    """Malformed input: names the file, the 1-based line and the field, and says what is wrong."""

    def __init__(self, file: str, line: int, field_name: str, reason: str):
        self.file, self.line, self.field, self.reason = str(file), line, field_name, reason
        super().__init__(f"{self.file}:{line}: field {field_name!r}: {reason}")


@dataclass(frozen=True)
class Rejection:
    """A source row that produced no episode, and why. Reported in the load summary and stats.json."""

    file: str  # the input file
    line: int  # 1-based line where the row (or the offending part of it) starts
    field: str  # the field at fault, e.g. "qa[12].answer"
    reason: str  # what is wrong, in words
    item_id: str = ""  # the row's own id when it could be read

    @staticmethod
    def from_error(error: DataError, item_id: str = "") -> "Rejection":
        return Rejection(error.file, error.line, error.field, error.reason, item_id)

    def describe(self) -> str:
        """`file:line: field 'f': reason` — the same words a strict load raises with."""
        return f"{self.file}:{self.line}: field {self.field!r}: {self.reason}"


def _text_problem(value: Any) -> str | None:
    """Why `value` is not a non-empty string, or None when it is one."""
    if not isinstance(value, str):
        return f"expected a string, got {type(value).__name__}"
    if not value.strip():
        return "empty string"
    return None


def _list_problems(name: str, value: Any, non_empty: bool) -> list[tuple[str, str]]:
    """Problems of a list-of-non-empty-strings field; `non_empty` also requires at least one element."""
    if not isinstance(value, list):
        return [(name, f"expected a list of strings, got {type(value).__name__}")]
    if non_empty and not value:
        return [(name, "empty list: at least one element is required")]
    return [(f"{name}[{i}]", p) for i, item in enumerate(value) if (p := _text_problem(item))]


def _metadata_problems(value: Any) -> list[tuple[str, str]]:
    if not isinstance(value, dict):
        return [("metadata", f"expected an object, got {type(value).__name__}")]
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as err:
        return [("metadata", f"not JSON-serialisable: {err}")]
    return []


def episode_problems(data: Any) -> list[tuple[str, str]]:
    """Every reason `data` (a decoded JSON object) is not a valid Episode, as (field, reason); [] when valid.

    Rules: the six required fields are present; id, source and question are non-empty strings; contexts and
    answers are non-empty lists of non-empty strings; distractors and supporting_facts are lists of non-empty
    strings; category is a string; metadata a JSON-serialisable object; no unknown fields.
    """
    if not isinstance(data, dict):
        return [("(row)", f"expected a JSON object, got {type(data).__name__}")]
    problems = [(name, "unknown field") for name in data if name not in FIELD_NAMES]
    problems += [(name, "missing required field") for name in REQUIRED if name not in data]
    checks = {
        "id": lambda v: [("id", p)] if (p := _text_problem(v)) else [],
        "source": lambda v: [("source", p)] if (p := _text_problem(v)) else [],
        "question": lambda v: [("question", p)] if (p := _text_problem(v)) else [],
        "contexts": lambda v: _list_problems("contexts", v, non_empty=True),
        "answers": lambda v: _list_problems("answers", v, non_empty=True),
        "distractors": lambda v: _list_problems("distractors", v, non_empty=False),
        "supporting_facts": lambda v: _list_problems("supporting_facts", v, non_empty=False),
        "category": lambda v: [] if isinstance(v, str) else [("category", f"expected a string, got {type(v).__name__}")],
        "metadata": _metadata_problems,
    }
    for name, check in checks.items():
        if name in data:
            problems += check(data[name])
    return problems
