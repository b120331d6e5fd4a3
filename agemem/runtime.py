"""Run-wide set-up shared by every task: seeding and the output folder."""

import logging
import random
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger("agemem")


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def output_dir(out: str) -> Path:
    """The run's output folder: `out` if given, else Hydra's run folder (or ./outputs outside Hydra)."""
    if out:
        path = Path(out)
    else:
        from hydra.core.hydra_config import HydraConfig

        path = Path(HydraConfig.get().runtime.output_dir) if HydraConfig.initialized() else Path("outputs")
    path.mkdir(parents=True, exist_ok=True)
    return path
