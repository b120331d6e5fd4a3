"""Checkpoints that a crash cannot corrupt, and exact resume (DESIGN.md).

Layout under `<out>/checkpoints/`:
    step_000010/ds/…            DeepSpeed engine checkpoint (model, optimizer, scheduler)
    step_000010/trainer_state.json   global step, epoch, data cursor, logger run id, resume-critical config
    step_000010/rng/rank_<r>.pt      python / numpy / torch RNG states of every rank
    step_000010/manifest.json        every file's size, written after all of the above (a barrier first)
    latest                           the name of the newest complete checkpoint, replaced atomically, last

A checkpoint is loaded only if its manifest exists and every listed file has its recorded size, so a save that
was killed half-way (or a file truncated later) is never loaded: resume falls back to the previous complete one
with a warning.
"""

import json
import logging
import os
import random
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

log = logging.getLogger("agemem")
MANIFEST = "manifest.json"
STATE = "trainer_state.json"

if TYPE_CHECKING:  # deepspeed is imported where it runs only (a slow import)
    from deepspeed import DeepSpeedEngine


def step_dir(root: Path, step: int) -> Path:
    return root / f"step_{step:06d}"


def rng_state() -> dict[str, Any]:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def write_manifest(folder: Path) -> None:
    """Record every file's size; written last inside the folder (after all ranks finished writing)."""
    sizes = {str(p.relative_to(folder)): p.stat().st_size for p in sorted(folder.rglob("*")) if p.is_file()}
    tmp = folder / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(sizes, indent=1))
    os.replace(tmp, folder / MANIFEST)


def is_complete(folder: Path) -> tuple[bool, str]:
    """Whether a checkpoint folder is whole; the reason when it is not."""
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return False, f"{folder}: no {MANIFEST} (the save did not finish)"
    try:
        sizes = json.loads(manifest.read_text())
    except json.JSONDecodeError:
        return False, f"{manifest}: unreadable"
    for name, size in sizes.items():
        path = folder / name
        if not path.is_file():
            return False, f"{path}: missing"
        if path.stat().st_size != size:
            return False, f"{path}: {path.stat().st_size} bytes, expected {size} (truncated?)"
    return True, ""


def point_latest(root: Path, folder: Path) -> None:
    """Replace `latest` atomically: readers see the old name or the new one, never a partial file."""
    tmp = root / f"latest.tmp{os.getpid()}"
    tmp.write_text(folder.name)
    os.replace(tmp, root / "latest")


def prune(root: Path, keep_last: int) -> None:
    """Delete all but the newest `keep_last` complete checkpoints (and any incomplete older folders)."""
    folders = sorted(p for p in root.glob("step_*") if p.is_dir())
    complete = [p for p in folders if is_complete(p)[0]]
    keep = set(complete[-keep_last:]) if keep_last > 0 else set(complete)
    newest = complete[-1] if complete else None
    for folder in folders:
        if folder not in keep and (newest is None or folder.name < newest.name):
            shutil.rmtree(folder, ignore_errors=True)


def find_resume_folder(root: Path) -> Path | None:
    """The checkpoint to resume from: `latest` if complete, else the newest complete one. Every newer folder
    passed over is named in a warning (a save that was killed, or a file damaged since)."""
    if not root.is_dir():
        return None
    folders = sorted((p for p in root.glob("step_*") if p.is_dir()), reverse=True)
    latest_file = root / "latest"
    named = root / latest_file.read_text().strip() if latest_file.is_file() else None
    candidates = ([named] if named is not None else []) + [p for p in folders if p != named]
    chosen = next((folder for folder in candidates if is_complete(folder)[0]), None)
    for folder in folders:
        if chosen is None or folder.name > chosen.name:
            ok, reason = is_complete(folder)
            log.warning("skipping checkpoint %s: %s", folder.name,
                        f"`latest` names {chosen.name}" if ok and chosen is not None else reason)
    if named is not None and named != chosen and not named.is_dir():
        log.warning("skipping checkpoint %s: `latest` names it but it is absent", named.name)
    return chosen


def check_resumable(saved: dict[str, Any], current: dict[str, Any]) -> None:
    """Raise naming every resume-critical config field that changed since the checkpoint."""
    changed = [f"{k}: {saved.get(k)!r} → {current.get(k)!r}" for k in sorted(set(saved) | set(current))
               if saved.get(k) != current.get(k)]
    if changed:
        raise ValueError("cannot resume: these config fields differ from the checkpoint's (resume=never starts "
                         "afresh):\n  " + "\n  ".join(changed))


def save_trainer_files(folder: Path, rank: int, state: dict[str, Any]) -> None:
    """Per-rank RNG state, and (rank 0) the trainer state JSON."""
    (folder / "rng").mkdir(parents=True, exist_ok=True)
    torch.save(rng_state(), folder / "rng" / f"rank_{rank}.pt")
    if rank == 0:
        (folder / STATE).write_text(json.dumps(state, indent=2, sort_keys=True))


def read_trainer_state(folder: Path) -> dict[str, Any]:
    """The trainer state JSON of a checkpoint (read before loading anything, to check the config first)."""
    return json.loads((folder / STATE).read_text())


def restore_rng(folder: Path, rank: int) -> None:
    """Restore this rank's python / numpy / torch RNG states."""
    path = folder / "rng" / f"rank_{rank}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no RNG state for rank {rank} (saved with fewer ranks?)")
    set_rng_state(torch.load(path, weights_only=False))


def load_trainer_files(folder: Path, rank: int) -> dict[str, Any]:
    """Restore this rank's RNG state; return the trainer state."""
    restore_rng(folder, rank)
    return read_trainer_state(folder)


def save_checkpoint(actor: "DeepSpeedEngine", root: Path, step: int, rank: int, run_id: str | None, run_config: dict[str, Any],
                    tasks_per_step: int, keep_last: int, n_train: int | None = None) -> None:
    """DeepSpeed state + trainer state + RNG, then (after every rank wrote) the manifest, then `latest`.

    `run_config`: the flattened config a resume must match (world size added here); `n_train`: training tasks
    per epoch (for the recorded epoch; None records none)."""
    import torch.distributed as dist

    folder = step_dir(root, step)
    if rank == 0 and folder.exists():  # a leftover of a killed save: start the folder afresh
        shutil.rmtree(folder)
    dist.barrier()
    actor.save_checkpoint(str(folder), tag="ds")  # collective: every rank writes its shards
    world = dist.get_world_size()
    state = {"global_step": step, "epoch": step * tasks_per_step // n_train if n_train else None,
             "data_cursor": step * tasks_per_step, "logger_run_id": run_id,
             "config": {**run_config, "world_size": world}}
    save_trainer_files(folder, rank, state)
    dist.barrier()
    if rank == 0:
        write_manifest(folder)
        point_latest(root, folder)
        prune(root, keep_last)
    dist.barrier()


def resume(actor: "DeepSpeedEngine", resume_from: str, root: Path, run_config: dict[str, Any], rank: int,
           world: int) -> tuple[int, str | None]:
    """Load the checkpoint `resume` selects into `actor` and this rank's RNG: `auto` the latest complete one under
    `root` (none: a fresh start), `never` none, or a folder. Returns (the step to continue from, the logger's
    run id). The saved config must equal `run_config` (and the world size), or the resumed run would differ."""
    if resume_from == "never":
        return 0, None
    folder = find_resume_folder(root if resume_from == "auto" else Path(resume_from))
    if folder is None:
        if resume_from == "auto":
            return 0, None
        raise FileNotFoundError(f"resume={resume_from!r}: no complete checkpoint there")
    state = read_trainer_state(folder)
    check_resumable(state["config"], {**run_config, "world_size": world})
    actor.load_checkpoint(str(folder), tag="ds")
    restore_rng(folder, rank)
    log.info("resumed from %s at step %d", folder, state["global_step"])
    return state["global_step"], state["logger_run_id"]
