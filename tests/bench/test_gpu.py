"""bench/gpu.py: its CPU dry-run drives the real DeepSpeed engine (ZeRO-2 and ZeRO-3) and the real HFEngine."""

import importlib.util
import json
import math
import os
import subprocess
import sys

import pytest

from agemem import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "bench" / "gpu.py"


def load_gpu_module():
    spec = importlib.util.spec_from_file_location("bench_gpu", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def positive(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_plan_jobs_reads_shapes_layers_and_checkpointing():
    gpu = load_gpu_module()
    jobs = gpu.plan_jobs(gpu.parse_args(["--out", "x.json"]))
    updates = [(j["model"], j["layers"], j["stage"], j["checkpointing"]) for j in jobs if j["kind"] == "update"]
    assert updates == [("1.5b", None, 2, False), ("1.5b", None, 3, False), ("7b", 14, 2, True), ("7b", 14, 3, True)]
    assert [j["model"] for j in jobs if j["kind"] == "generate"] == ["1.5b"]
    dry = gpu.parse_args(["--out", "x.json", "--dry-run", "--stages", "3"])
    assert (dry.models, dry.stages, dry.seq) == ("tiny", "3", 32)  # dry-run defaults, flags override them
    with pytest.raises(ValueError, match="unknown shape '13b'"):
        gpu.plan_jobs(gpu.parse_args(["--out", "x.json", "--models", "13b"]))


def test_dry_run_reports_every_figure(tmp_path):
    out = tmp_path / "gpu.json"
    env = {**os.environ, "DS_ACCELERATOR": "cpu", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, str(SCRIPT), "--dry-run", "--out", str(out)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    assert report["errors"] == []
    assert report["command"].startswith("python bench/gpu.py --dry-run")
    assert report["env"]["device"] == "cpu" and report["env"]["deepspeed"]
    assert sorted(u["engine_zero_stage"] for u in report["update"]) == [2, 3]
    for update in report["update"]:
        assert update["model"] == "tiny" and update["checkpointing"]
        assert len(update["step_s"]) == update["steps"] == 1
        for key in ("params", "tokens_per_step", "mean_step_s", "tokens_per_s", "achieved_tflops", "mfu",
                    "peak_memory_gib", "loss"):
            assert positive(update[key]), (key, update[key])
    # The same parameters and batches on both stages: the same loss.
    assert report["update"][0]["loss"] == pytest.approx(report["update"][1]["loss"], rel=1e-5)
    generation = report["generation"]
    assert generation["new_tokens"] == generation["batch"] * generation["new"] == 32  # no stop tokens
    for key in ("params", "seconds", "tokens_per_s", "peak_memory_gib"):
        assert positive(generation[key]), (key, generation[key])
    assert "| tiny, ckpt | 2 |" in proc.stdout and "| tiny, ckpt | 3 |" in proc.stdout
