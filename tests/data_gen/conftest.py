"""Fixtures of the data_gen tests: the small files the project ships."""

from pathlib import Path

import pytest

from agemem import PROJECT_ROOT


@pytest.fixture()
def fixtures() -> Path:
    """The folder of hand-written source files in each official format (tests/fixtures/data_gen)."""
    return PROJECT_ROOT / "tests" / "fixtures" / "data_gen"
