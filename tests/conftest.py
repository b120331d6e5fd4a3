"""Shared fixtures: CPU-safe environment, the tiny model built once per session into a temp cache."""

import os

os.environ.setdefault("DS_ACCELERATOR", "cpu")
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_MODE", "disabled")

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from agemem import PROJECT_ROOT
from agemem.models import ModelConfig, load_model, load_tokenizer
from agemem.records import Episode
from agemem.tasks.runtime import prepare_model

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
prepare_model(ModelConfig())  # the tiny model, as every task builds it first (reused when already built)
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def model_cfg() -> ModelConfig:
    """The default tiny model, cached in the project's .cache (built once, reused across sessions)."""
    return ModelConfig()


@pytest.fixture(scope="session")
def tokenizer(model_cfg):
    return load_tokenizer(model_cfg)


@pytest.fixture()
def model(model_cfg):
    """A fresh copy of the tiny model per test (tests may change its weights)."""
    torch.manual_seed(0)
    return load_model(model_cfg)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (it sits beside the project on dev machines and CI)")
    return SHARED_DATA


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
