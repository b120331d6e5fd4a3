"""What the trainer tests share: the reference run (one uninterrupted tiny run) and the update driver's
measurements (update_driver.py on real DeepSpeed engines), each launched once per session."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from train_runs import REFERENCE, run_train, train_env

from agemem import PROJECT_ROOT

DRIVER = Path(__file__).with_name("update_driver.py")


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory) -> Path:
    """1 rank, ZeRO-2, 4 steps, a checkpoint every step (3 kept), W&B with no key; returns its output folder."""
    out = tmp_path_factory.mktemp("reference")
    proc = run_train(out, *REFERENCE)
    (out / "run.log").write_text(proc.stdout + proc.stderr)
    return out


@pytest.fixture(scope="session")
def update_result(tmp_path_factory) -> dict:
    """update_driver.py's measurements (see its docstring); its checkpoint folder is beside result.json."""
    out = tmp_path_factory.mktemp("update")
    env = {**train_env(out), "PYTHONPATH": str(PROJECT_ROOT)}  # this checkout's code, whatever is installed
    proc = subprocess.run([sys.executable, str(DRIVER), str(out / "result.json")], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    return json.loads((out / "result.json").read_text())


@pytest.fixture(autouse=True)
def one_thread():
    """In-process model work on one thread: on a busy 2-core machine, 2 threads per process oversubscribe."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
