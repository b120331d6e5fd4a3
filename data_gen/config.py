"""Schema of the `data` config group: where episodes come from (data_gen owns the fields below)."""

from dataclasses import dataclass


@dataclass
class DataConfig:
    """Episode source and its options."""

    # Source converter: synthetic | hotpotqa | locomo | longmemeval.
    source: str = "synthetic"
    # Input file of the source (null for synthetic).
    path: str | None = None
