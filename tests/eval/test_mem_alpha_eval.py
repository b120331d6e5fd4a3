"""`task=eval benchmark=mem_alpha_*` (Mem-α's Table 1 columns) end to end in subprocesses: the memory-less baselines
(long context, BM25 top-2 RAG over raw chunks) and the tiny policy writing its memory, read by the offline
extractive reader; and the row arithmetic of `mem_alpha_rows` on hand-built instances."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agemem import PROJECT_ROOT
from agemem.eval.mem_alpha import long_context, mem_alpha_rows
from agemem.eval.results import ROWS, SUMMARY, read_rows
from agemem.records import Episode, Trajectory
from agemem.rewards.mem_alpha_reader import Reader

SMALL = ["task=eval", "benchmark=mem_alpha_synthetic", "reward=mem_alpha", "eval.num_episodes=3",
         "data.chunks_per_instance=3", "data.chunk_min_tokens=12", "data.chunk_max_tokens=24",
         "data.questions_per_instance=2", "mem_alpha.prompt_style=compact", "mem_alpha.tools_in_prompt=false",
         "mem_alpha.tool_format=agemem", "rollout.max_new_tokens=8"]


def _eval(out: Path, *overrides: str) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DS_ACCELERATOR": "cpu", "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run([sys.executable, "run.py", *SMALL, f"out={out}", f"hydra.run.dir={out}/hydra",
                           *overrides], cwd=PROJECT_ROOT, env=env, text=True, capture_output=True, timeout=300,
                          check=False)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return json.loads((out / SUMMARY).read_text())


@pytest.mark.parametrize("agent", ["long_context", "rag", "agemem"])
def test_each_agent_reports_the_table_1_columns(agent, tmp_path):
    summary = _eval(tmp_path, f"agent={agent}")
    overall = summary["aggregates"]["overall"]
    assert summary["episodes"] == 3 and {"accuracy", "memory_tokens", "compression"} <= set(overall)
    rows = read_rows(tmp_path / ROWS)
    assert len(rows) == 3 and all(r["questions"] == 2 for r in rows)
    if agent == "long_context":  # the whole (short) input is read: the answer is always in it
        assert overall["accuracy"]["mean"] == 1.0 and overall["compression"]["mean"] == pytest.approx(1.0)
    if agent == "agemem":  # the untrained tiny model stores nothing it could be asked about
        assert overall["accuracy"]["mean"] == 0.0 and "format_error_rate" in overall


def test_a_memory_agent_is_refused_on_mem_alpha_benchmarks(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "run.py", *SMALL, "agent=mem0", f"out={tmp_path}",
                           f"hydra.run.dir={tmp_path}/hydra"], cwd=PROJECT_ROOT, env=env, text=True,
                          capture_output=True, timeout=300, check=False)
    assert done.returncode != 0 and "agent.name='mem0'" in done.stdout + done.stderr


def test_long_context_keeps_the_newest_tokens():
    chunks = ["a" * 40, "b" * 40, "c" * 40]  # 10 tokens each
    assert long_context(chunks, 20) == ["b" * 40, "c" * 40]
    assert long_context(chunks, 25) == ["a" * 20, "b" * 40, "c" * 40]
    assert long_context(chunks, 100) == chunks


def test_rows_by_hand():
    """Two questions, one answerable from the memory: accuracy 0.5; memory 4 tokens of a 20-token input."""
    episode = Episode(id="i", source="mem_alpha_synthetic", contexts=["x" * 40, "y" * 40], distractors=[],
                      question="What is E1's city?", answers=["Paris"],
                      questions=[{"question": "What is E1's city?", "answers": ["Paris"]},
                                 {"question": "What is E2's job?", "answers": ["nurse"]}])
    memory = {"core": "", "semantic": [{"id": "a", "content": "E1 city Paris"}], "episodic": [],
              "core_max_tokens": 512, "window": 20, "id_seed": 0, "ids_issued": 1}
    [row] = mem_alpha_rows("agemem", [episode], [Trajectory("i", 0, memory_final=memory)],
                           Reader("extractive", None, 5), None, 100)
    assert row["accuracy"] == 0.5 and row["memory_tokens"] == 4 and row["compression"] == pytest.approx(0.2)
    [rag] = mem_alpha_rows("rag", [episode], None, Reader("extractive", None, 5), None, 100)
    assert rag["memory_tokens"] == 20 and rag["compression"] == 1.0
