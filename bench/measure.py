"""What the CPU benchmarks of `make bench` share: the command line, interleaved timing, bench.json sections.

Every figure the benchmarks report is a ratio of two things measured in the same process run: the 2-core machines
drift ~2x from hour to hour and are shared with other jobs, so absolute speeds are recorded but only ratios count.
Each timed pair runs in alternating order over the repeats and the median of the per-repeat ratios is reported,
with both wall and process CPU time (CPU time is far less inflated by other jobs on a shared machine).
"""

import json
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from typing_extensions import Self

# Before torch/transformers/deepspeed are imported by a benchmark: CPU-safe, offline, one thread unless told.
for _key, _value in (("DS_ACCELERATOR", "cpu"), ("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"),
                     ("TOKENIZERS_PARALLELISM", "false"), ("OMP_NUM_THREADS", "1")):
    os.environ.setdefault(_key, _value)

STARTED = time.monotonic()  # this benchmark process's start (its whole run time goes into its section)
ROOT = Path(__file__).resolve().parents[1]
BENCH_JSON = ROOT / "bench" / "results" / "bench.json"


def command(script: str, argv: Sequence[str] | None = None) -> str:
    """The command line that reproduces this run, from the repository root."""
    return shlex.join(["python", f"bench/{script}", *(sys.argv[1:] if argv is None else argv)])


def environment(threads: int) -> dict[str, Any]:
    """Where and when the figures were measured (the 1-minute load average says how shared the machine was)."""
    import torch
    import transformers

    return {"date": datetime.now(UTC).isoformat(timespec="seconds"), "python": platform.python_version(),
            "torch": torch.__version__, "transformers": transformers.__version__, "threads": threads,
            "cpus": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 2)}


def set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


class Timed:
    """Wall and process CPU seconds of a block: `with Timed() as t: ...; t.wall, t.cpu`."""

    def __enter__(self) -> Self:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def interleaved(passes: dict[str, Callable[[], Any]], repeats: int) -> tuple[dict[str, dict[str, list[float]]], dict]:
    """Run every pass `repeats` times, the order rotating each repeat; (seconds per pass, last output per pass).

    Returns {"wall": {name: [s, ...]}, "cpu": {name: [s, ...]}} and {name: the pass's last return value}.
    """
    names = list(passes)
    seconds: dict[str, dict[str, list[float]]] = {"wall": {n: [] for n in names}, "cpu": {n: [] for n in names}}
    outputs = {}
    for repeat in range(repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            with Timed() as t:
                outputs[name] = passes[name]()
            seconds["wall"][name].append(t.wall)
            seconds["cpu"][name].append(t.cpu)
            print(f"  repeat {repeat + 1}/{repeats}: {name} {t.wall:.2f} s wall, {t.cpu:.2f} s cpu",
                  file=sys.stderr, flush=True)
    return seconds, outputs


def median_ratio(numerator: list[float], denominator: list[float]) -> float:
    """Median over repeats of numerator[i] / denominator[i] (each repeat's two passes ran back to back)."""
    return statistics.median(n / d for n, d in zip(numerator, denominator))


def rounded(values: list[float], digits: int = 4) -> list[float]:
    return [round(v, digits) for v in values]


def padding_waste(batches: Sequence[Sequence[int]]) -> dict[str, float]:
    """Padded positions of batches given as lists of sequence lengths: each costs rows x its longest length."""
    real = sum(sum(b) for b in batches)
    padded = sum(len(b) * max(b) for b in batches if b)
    return {"batches": len(batches), "real_positions": real, "padded_positions": padded,
            "waste": round(1 - real / padded, 4) if padded else 0.0}


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> dict[str, float]:
    """Least-squares y = slope * x + intercept and its R^2 (1 for a perfect line)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    intercept = my - slope * mx
    total = sum((y - my) ** 2 for y in ys)
    residual = sum((y - slope * x - intercept) ** 2 for x, y in zip(xs, ys))
    return {"slope": round(slope, 5), "intercept": round(intercept, 5),
            "r2": round(1 - residual / total, 4) if total else 1.0}


def compose_config(*overrides: str):
    """The project's root Config as `python run.py <overrides>` would see it (conf/config.yaml, the CPU default)."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from agemem.tasks.config import register_configs

    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        return OmegaConf.to_object(compose(config_name="config", overrides=list(overrides)))


def write_section(path: Path, name: str, result: dict[str, Any]) -> None:
    """Store `result` as section `name` of the JSON at `path`, keeping its other sections; adds `script_s`, the
    benchmark process's run time so far."""
    data = json.loads(path.read_text()) if path.is_file() else {}
    data[name] = {**result, "script_s": round(time.monotonic() - STARTED, 1)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote section {name!r} of {path}", file=sys.stderr)
