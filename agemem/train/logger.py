"""Metrics go to `metrics.jsonl` always and to W&B with `logger=wandb`; a resumed run continues the same W&B run."""

import json
import logging
import os
import secrets
from pathlib import Path
from typing import Any

from agemem.train.config import LoggerConfig

log = logging.getLogger("agemem")
BACKENDS = ("local", "wandb")
MODES = ("auto", "online", "offline", "disabled")


class MetricsLogger:
    """Append-only metrics: one JSON line per step; W&B mirrors it."""

    def __init__(self, cfg: LoggerConfig, out: Path, run_id: str | None, config: dict[str, Any], enabled: bool):
        if cfg.backend not in BACKENDS:
            raise ValueError(f"logger.backend={cfg.backend!r}: must be one of {list(BACKENDS)}")
        if cfg.mode not in MODES:
            raise ValueError(f"logger.mode={cfg.mode!r}: must be one of {list(MODES)}")
        self.enabled = enabled  # only rank 0 writes
        self.path = out / "metrics.jsonl"
        self.run_id = run_id or secrets.token_hex(4)
        self.wandb_run = None
        if enabled and cfg.backend == "wandb":
            self.wandb_run = self._start_wandb(cfg, out, config)

    def _start_wandb(self, cfg: LoggerConfig, out: Path, config: dict[str, Any]):
        import wandb

        mode = cfg.mode
        if mode == "auto":  # no key: write a syncable offline run instead of failing
            mode = "online" if os.environ.get("WANDB_API_KEY") else "offline"
        os.environ.setdefault("WANDB_DIR", str(out))
        return wandb.init(project=cfg.project, name=cfg.run_name or out.name, id=self.run_id, resume="allow",
                          mode=mode, config=config, dir=str(out))

    def log(self, step: int, metrics: dict[str, float]) -> None:
        if not self.enabled:
            return
        with self.path.open("a") as f:
            f.write(json.dumps({"step": step, **metrics}, sort_keys=True) + "\n")
        if self.wandb_run is not None:
            self.wandb_run.log(metrics, step=step)

    def finish(self) -> None:
        if self.wandb_run is not None:
            self.wandb_run.finish()


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The records of a metrics.jsonl, in order."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def truncate_after(path: Path, step: int) -> None:
    """Drop records after `step` (a resumed run re-logs the steps after its checkpoint exactly once)."""
    if path.is_file():
        kept = [r for r in read_metrics(path) if r["step"] <= step]
        path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in kept))
