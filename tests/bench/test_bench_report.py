"""bench/report.py: every figure with its command and verdict; the CPU part of BENCHMARKS.md replaced in place."""

import importlib
import json
import sys

from agemem import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "bench"))
report = importlib.import_module("report")
GPU = "## GPU check\n\nGPU figures stay as they are.\n"


def bench() -> dict:
    env = {"date": "2026-12-01T00:00:00+00:00", "cpus": 2, "torch": "t", "transformers": "x",
           "load_average_1min": 1.0}
    sizes = [{"entries": n, "queries": 3, "build_s": {"project": 1.0, "rank_bm25": 0.5}, "store_build_s": 1.0,
              "query_s": {"project": 1e-5, "rank_bm25": 1e-3, "project_store": 2e-3, "rank_bm25_top_n": 1e-3},
              "build_ratio": 0.5, "query_ratio": 100.0, "query_ratio_cpu": 90.0, "store_query_ratio": 0.5}
             for n in (1000, 10_000)]
    return {"ltm_search": {"command": "python bench/ltm_search.py", "env": env, "sizes": sizes, "script_s": 60.0},
            "judge_http": {"command": "python bench/judge_http.py", "env": env, "latency_s": 0.2, "script_s": 6.0,
                           "levels": [{"concurrency": 1, "requests": 8, "requests_per_s": 4.9, "ideal_per_s": 5.0,
                                       "ratio_to_ideal": 0.98}],
                           "cache": {"requests": 8, "hits_per_s": 1000.0, "ratio_to_uncached": 204.1}}}


def test_figures_carry_their_command_and_verdict(tmp_path, monkeypatch):
    (tmp_path / "bench.json").write_text(json.dumps(bench()))
    markdown = tmp_path / "BENCHMARKS.md"
    markdown.write_text("# Benchmarks\n\n" + GPU)
    monkeypatch.setattr(sys, "argv", ["report.py", "--bench", str(tmp_path / "bench.json"), "--markdown",
                                      str(markdown), "--engines", str(tmp_path / "none.json"), "--prefix-reuse",
                                      str(tmp_path / "none.json")])
    report.main()
    summary = json.loads((tmp_path / "bench.json").read_text())["summary"]
    at_10k = [f for f in summary if "10,000" in f["figure"]]
    assert [(f["met"], f["command"]) for f in at_10k] == [(True, "python bench/ltm_search.py"),
                                                          (False, "python bench/ltm_search.py")]
    assert all(f["command"] for f in summary)
    text = markdown.read_text()
    assert text.startswith("# Benchmarks\n\n" + report.START) and text.endswith(GPU)
    assert "LTM search misses" in text and "1.1 min" in text
    report.main()  # a second run replaces the CPU part, keeping everything else
    assert markdown.read_text() == text
