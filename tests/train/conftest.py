"""The reference run shared by the trainer tests: one uninterrupted tiny run, launched once per session."""

from pathlib import Path

import pytest
from train_runs import REFERENCE, run_train


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory) -> Path:
    """1 rank, ZeRO-2, 4 steps, a checkpoint every step (3 kept), W&B with no key; returns its output folder."""
    out = tmp_path_factory.mktemp("reference")
    proc = run_train(out, *REFERENCE)
    (out / "run.log").write_text(proc.stdout + proc.stderr)
    return out


@pytest.fixture(autouse=True)
def one_thread():
    """In-process model work on one thread: on a busy 2-core machine, 2 threads per process oversubscribe."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
