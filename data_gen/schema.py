"""The `Episode` record: everything one three-stage rollout consumes (DESIGN.md)."""

from dataclasses import asdict, dataclass, field
from typing import Any


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
