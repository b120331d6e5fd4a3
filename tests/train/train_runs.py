"""Launch tiny `task=train` runs in subprocesses (DeepSpeed initialises torch.distributed once per process).

Every run uses the same tiny setting: 4 synthetic training episodes (no validation/test split), 2 tasks per step
× 2 rollouts, one round per message, 16 new tokens per call. An epoch is therefore exactly 2 steps.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from agemem import PROJECT_ROOT

TINY = [
    "data.size=4", "data.val_fraction=0", "data.test_fraction=0", "data.difficulty=0",
    "curriculum.num_distractors=1", "curriculum.max_rounds=1",
    "rollout.max_new_tokens=16", "rollout.group_size=2",
    "trainer.tasks_per_step=2", "trainer.lr=5e-5", "trainer.micro_batch_tokens=1024",
]
TRAIN_SIZE = 4  # data.size with no validation/test split
TASKS_PER_STEP = 2
SUCCESS = "outputs: "  # rank 0 prints this line last
# The shared uninterrupted run (tests/train/conftest.py): two epochs, a checkpoint every step, 3 kept, W&B.
REFERENCE_STEPS = 4
REFERENCE = ["trainer.total_steps=4", "trainer.save_every=1", "trainer.keep_last=3", "logger=wandb", "resume=never"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_env(home: Path) -> dict[str, str]:
    """CPU-safe settings (ENV.md); W&B with no mode and no key (the logger must pick offline itself)."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", DS_ACCELERATOR="cpu", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1", MASTER_ADDR="127.0.0.1",
               MASTER_PORT=str(free_port()), WANDB_CACHE_DIR=str(home / "cache"),
               WANDB_CONFIG_DIR=str(home / "config"), WANDB_DATA_DIR=str(home / "data"), WANDB_SILENT="true")
    for key in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_DIR", "RANK", "WORLD_SIZE", "LOCAL_RANK"):
        env.pop(key, None)
    return env


def train_command(out: Path, overrides: list[str], nproc: int = 1) -> list[str]:
    args = ["run.py", "task=train", f"out={out}", f"hydra.run.dir={out}/hydra", *TINY, *overrides]
    if nproc == 1:
        return [sys.executable, *args]
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc),
            "--master_port", str(free_port()), *args]


def run_train(out: Path, *overrides: str, nproc: int = 1, expect_ok: bool = True,
              timeout: float = 300) -> subprocess.CompletedProcess:
    """Run to the end; with `expect_ok`, fail with the output's tail unless the job succeeded."""
    proc = subprocess.run(train_command(out, list(overrides), nproc), cwd=PROJECT_ROOT, env=train_env(out / "home"),
                          capture_output=True, text=True, timeout=timeout, check=False)
    if expect_ok:
        output = proc.stdout + proc.stderr
        # ENV.md: a rare abort at exit on one rank after the job finished; the job's own marker decides.
        ok = proc.returncode == 0 or (SUCCESS in proc.stdout and "without an active exception" in output)
        assert ok, f"train run failed (rc {proc.returncode}):\n{output[-6000:]}"
    return proc


def run_until_then_kill(out: Path, checkpoint: str, *overrides: str, timeout: float = 300) -> str:
    """Start a run, SIGKILL its whole process group once `latest` names `checkpoint`; return its output."""
    log_path = out / "killed_run.log"
    out.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        proc = subprocess.Popen(train_command(out, list(overrides)), cwd=PROJECT_ROOT, env=train_env(out / "home"),
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        latest = out / "checkpoints" / "latest"
        deadline = time.monotonic() + timeout
        try:
            while not (latest.is_file() and latest.read_text() == checkpoint):
                assert proc.poll() is None, f"run ended before {checkpoint}:\n{log_path.read_text()[-4000:]}"
                assert time.monotonic() < deadline, f"no {checkpoint} after {timeout}s"
                time.sleep(0.02)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return log_path.read_text()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def trainer_state(out: Path, step: int) -> dict[str, Any]:
    return json.loads((out / "checkpoints" / f"step_{step:06d}" / "trainer_state.json").read_text())


def exported_weights(out: Path) -> dict[str, torch.Tensor]:
    """The final HF export's tensors."""
    from safetensors.torch import load_file

    return load_file(out / "hf_model" / "model.safetensors")


def checkpoint_weights(out: Path, step: int) -> dict[str, torch.Tensor]:
    """The module weights in a 1-rank ZeRO-1/2 DeepSpeed checkpoint (fp32: the trained values themselves)."""
    path = out / "checkpoints" / f"step_{step:06d}" / "ds" / "mp_rank_00_model_states.pt"
    return torch.load(path, map_location="cpu", weights_only=False)["module"]


def max_abs_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """Largest element-wise difference over the tensors of `a` (every one must be in `b`)."""
    missing = sorted(set(a) - set(b))
    assert not missing, f"missing tensors: {missing}"
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)
