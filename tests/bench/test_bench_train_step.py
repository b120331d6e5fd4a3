"""bench/train_step.py on tiny sizes: one real short training run read back, the expert's judge load, the fits."""

import importlib
import sys

import pytest

from agemem import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "bench"))
train_step = importlib.import_module("train_step")
measure = importlib.import_module("measure")


def rows(steps: list[tuple[float, float]]) -> list[dict]:
    """Metrics rows of (step seconds, gap after the step) with gen = update = step / 2."""
    out, elapsed = [], 0.0
    for step, gap in steps:
        elapsed += step
        row = {f"timing_s/{p}": 0.0 for p in train_step.PHASES}
        row.update({"timing_s/gen": step / 2, "timing_s/update": step / 2, "timing_s/step": step,
                    "timing_s/elapsed": elapsed})
        out.append(row)
        elapsed += gap
    return out


def test_breakdown_takes_the_checkpoint_from_the_gap_between_steps():
    result = train_step.breakdown({"rows": rows([(5.0, 9.0), (2.0, 1.0), (2.0, 1.0), (2.0, 0.0)]),
                                   "peak_rss_mib": 1.0, "wall_s": 1.0})
    assert result["steps_measured"] == 3 and result["step_s"] == 2.0
    assert result["seconds"]["checkpoint"] == pytest.approx(1.0)  # the warm-up step's gap is left out
    assert result["shares"]["gen"] == pytest.approx(1 / 3, abs=1e-3)
    assert result["shares"]["checkpoint"] == pytest.approx(1 / 3, abs=1e-3)
    assert result["seconds"]["other"] == pytest.approx(0.0)


def test_fit_line_is_exact_on_a_line():
    assert measure.fit_line([1, 2, 4], [3.0, 5.0, 9.0]) == {"slope": 2.0, "intercept": 1.0, "r2": 1.0}


def test_a_real_training_run_is_read_back(tmp_path):
    overrides = [*train_step.TINY, "rollout.group_size=2", "trainer.tasks_per_step=1", "trainer.total_steps=2"]
    run = train_step.train_run(tmp_path / "run", overrides, timeout=300)
    assert [r["step"] for r in run["rows"]] == [1, 2]
    assert run["peak_rss_mib"] > 0
    result = train_step.breakdown(run)
    assert result["steps_measured"] == 1 and result["step_s"] > 0
    assert result["seconds"]["checkpoint"] > 0 and sum(result["shares"].values()) == pytest.approx(1.0, abs=1e-3)


def test_the_expert_policy_loads_the_http_judge():
    result = train_step.expert_rewards(latency=0.01)
    assert result["answered"] == result["tasks"] * result["group_size"]
    assert result["judge_requests"] == result["server_requests"] > result["answered"]
    assert result["reward_s"]["llm_http"] > 0
