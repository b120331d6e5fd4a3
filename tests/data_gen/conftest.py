"""Fixtures of the data_gen tests: the small files the project ships, and a builder of valid episodes."""

from collections.abc import Callable
from pathlib import Path

import pytest

from agemem import PROJECT_ROOT
from data_gen.schema import Episode


@pytest.fixture()
def fixtures() -> Path:
    """The folder of hand-written source files in each official format (tests/fixtures/data_gen)."""
    return PROJECT_ROOT / "tests" / "fixtures" / "data_gen"


def _make_episode(episode_id: str = "e1", **overrides) -> Episode:
    fields = {"id": episode_id, "source": "test", "contexts": ["Alice lives in Paris."],
              "distractors": ["Bob likes tea."], "question": "Where does Alice live?", "answers": ["Paris"],
              "supporting_facts": ["Alice lives in Paris."], "category": "single_hop",
              "metadata": {"item_id": episode_id}}
    return Episode(**(fields | overrides))


@pytest.fixture()
def make_episode() -> Callable[..., Episode]:
    """`make_episode(id, **field_overrides)`: a small valid episode."""
    return _make_episode
