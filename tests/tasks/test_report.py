"""`task=report` on fixture run folders written here: the tables, the paired comparison and the PNGs."""

import json
import subprocess
import sys

import pytest

from agemem import PROJECT_ROOT
from agemem.eval.bootstrap import aggregate
from agemem.eval.report import find_runs, write_report
from agemem.eval.results import ROWS, SUMMARY
from agemem.tools.schemas import TOOL_NAMES


def _eval_run(folder, agent, scores, model_path=None, mq=True):
    folder.mkdir(parents=True)
    rows = []
    for i, score in enumerate(scores):
        row = {"id": f"q{i}", "category": "bridge", "judge": score, "em": score, "f1": score,
               "prompt_tokens": 100.0 + i, "prompt_tokens_per_call": 50.0, "model_calls": 2.0,
               **{f"tool_calls/{t}": float(i % 2) for t in TOOL_NAMES}, "tool_calls/total": 6.0 * (i % 2)}
        if mq:
            row |= {"memory_quality": 0.5, "joint": 0.5}
        rows.append(row)
    (folder / ROWS).write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = {"benchmark": "hotpotqa", "agent": agent, "model_path": model_path, "judge": "rule",
               "episodes": len(rows), "aggregates": aggregate(rows, "category").to_dict()}
    (folder / SUMMARY).write_text(json.dumps(summary))
    (folder / "eval_config.json").write_text("{}")


def _fixtures(tmp_path):
    _eval_run(tmp_path / "evals" / "norl", "agemem", [0, 1, 0, 0, 1, 0])
    _eval_run(tmp_path / "evals" / "trained", "agemem", [1, 1, 0, 1, 1, 1], model_path="runs/x/hf_model")
    _eval_run(tmp_path / "nomem", "no_memory", [0, 0, 0, 1, 0, 0], mq=False)
    train = tmp_path / "train"
    train.mkdir()
    (train / "metrics.jsonl").write_text("".join(json.dumps(
        {"step": s, "reward/total/mean": 0.1 * s, "reward/task/mean": 0.05 * s, "eval/heldout_success": 0.2 * s,
         "tool_calls/Add_memory": float(s)}) + "\n" for s in range(1, 4)))
    return [str(tmp_path / "evals"), str(tmp_path / "nomem"), str(train)]


def test_report_renders_tables_comparisons_and_pngs(tmp_path):
    inputs = _fixtures(tmp_path)
    evals, trains = find_runs(inputs)
    assert sorted(r.label for r in evals) == ["agemem [base]", "agemem [hf_model]", "no_memory"]
    assert len(trains) == 1
    path = write_report(inputs, tmp_path / "out")
    text = path.read_text()
    assert "| agemem [hf_model] | 0.833 ± " in text and "(n=6)" in text  # Table 2: mean ± CI, n
    assert "Table 3" in text and "| Add_memory |" in text.replace("| agent | benchmark | Add_memory", "| Add_memory")
    assert "agemem [base] − agemem [hf_model] | judge | -0.500" in text  # paired comparison on shared episodes
    for png in ("memory_quality.png", "prompt_tokens.png", "train_0_train.png"):
        assert (tmp_path / "out" / png).stat().st_size > 1000 and f"({png})" in text


def test_task_report_from_the_command_line(tmp_path):
    inputs = _fixtures(tmp_path)
    out = tmp_path / "cli"
    result = subprocess.run([sys.executable, "run.py", "task=report", f"report.inputs=[{','.join(inputs)}]",
                             f"out={out}"], check=False, cwd=PROJECT_ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (out / "report.md").is_file() and (out / "prompt_tokens.png").is_file()
    assert "Agents × benchmarks" in result.stdout


def test_report_without_runs_names_the_inputs(tmp_path):
    with pytest.raises(ValueError, match="no eval_summary.json or metrics.jsonl"):
        find_runs([str(tmp_path)])
