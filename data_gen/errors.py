"""Errors of reading source data: a `DataError` names the file, line and field; a `Rejection` records a row that
produced no episode, and why (the load summary and stats.json list them)."""


from dataclasses import dataclass


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
