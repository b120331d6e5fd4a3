"""bench/rl_update.py on tiny sizes, in its own process (it starts a DeepSpeed process group)."""

import json
import os
import subprocess
import sys

from agemem import PROJECT_ROOT


def test_update_and_raw_passes_run_on_the_same_samples(tmp_path):
    out = tmp_path / "bench.json"
    env = {**os.environ, "DS_ACCELERATOR": "cpu", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT"):
        env.pop(key, None)
    proc = subprocess.run([sys.executable, "bench/rl_update.py", "--episodes", "1", "--group-size", "1",
                           "--repeats", "1", "--out", str(out)], cwd=PROJECT_ROOT, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())["rl_update"]
    assert result["command"] == f"python bench/rl_update.py --episodes 1 --group-size 1 --repeats 1 --out {out}"
    assert result["zero_stage"] == 2
    assert 0 < result["samples"] <= result["model_calls"]
    assert result["micro_batches"] >= 1 and result["tokens"] > result["response_tokens"] > 0
    assert set(result["tokens_per_s"]) == {"update", "update_recompute", "raw"}
    assert all(result[k] > 0 for k in ("ratio_wall", "ratio_cpu", "ratio_recompute_wall", "ratio_recompute_cpu"))
    padding = result["update_padding"]
    assert padding["real_positions"] == result["tokens"] and 0 <= padding["waste"] < 1
