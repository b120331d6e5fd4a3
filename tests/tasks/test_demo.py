"""The CPU demo's orchestration and report: phases, summary shape, table, plot; and a shortened demo end to end."""

import json
import os
import subprocess
import sys

import pytest

from agemem import PROJECT_ROOT
from agemem.tasks.config import Config
from agemem.tasks.demo import Phase, mean_curve, plan_phases, plot_curves, summarize, summary_table
from agemem.tasks.demo_config import DemoConfig
from agemem.train.config import TrainerConfig


def _phases() -> list[Phase]:
    sft = Phase("sft", [], None, 0.0, 100.0, [{"step": s, "eval/success": v, "timing_s/elapsed": 20.0 * s / 20}
                                              for s, v in ((20, 0.1), (40, 0.5))])
    sft.records.append({"step": 40, "eval/heldout_success": 0.4, "timing_s/elapsed": 45.0})  # after the last step

    def rl(name, seed, start, values):
        return Phase(name, [], seed, start, start + 60.0,
                     [{"step": s, "eval/heldout_success": v, "timing_s/elapsed": 2.0 * s + 1}
                      for s, v in zip((10, 20), values)])
    return [sft, rl("rl_seed1", 1, 100.0, (0.5, 0.6)), rl("rl_seed2", 2, 160.0, (0.45, 0.55)),
            rl("control_seed1", 1, 220.0, (0.3, 0.2))]


def test_the_summary_has_the_specified_shape():
    summary = summarize(_phases(), heldout_episodes=200, wall_s=300.0)
    assert summary == {
        "sft_heldout_success": 0.4,
        "rl": [{"seed": 1, "heldout_success": 0.6, "curve": [[0, 0.4], [10, 0.5], [20, 0.6]]},
               {"seed": 2, "heldout_success": 0.55, "curve": [[0, 0.4], [10, 0.45], [20, 0.55]]}],
        "control": {"heldout_success": 0.2},
        "heldout_episodes": 200,
        "heldout_temperature": 0.0,
        "wall_s": 300.0,
    }
    json.dumps(summary)  # JSON-ready
    without_control = summarize(_phases()[:-1], 200, 1.0)
    assert without_control["control"] is None


def test_a_reused_sft_phase_is_placed_before_the_demo_started(tmp_path):
    sft = _phases()[0]
    assert [t for _, t, _ in sft.curve("eval/success")] == [20.0, 40.0]  # run by this demo: from its start
    sft.reuse = True  # read from an earlier demo's folder: its validation ends where this demo begins
    assert [t for _, t, _ in sft.curve("eval/success")] == [-25.0, -5.0]
    phases = [sft, *_phases()[1:]]
    plot_curves(phases, summarize(phases, 200, 300.0), tmp_path / "reused.png")
    assert (tmp_path / "reused.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_table_and_the_plot(tmp_path):
    phases = _phases()
    summary = summarize(phases, 200, 300.0)
    table = summary_table(summary, phases)
    assert "rl_seed1" in table and "+20.0 pt" in table and "control_seed1 (shuffled)" in table
    assert "-20.0 pt" in table and "200 held-out episodes (greedy)" in table
    assert "(sampled at temperature 0.6)" in summary_table(summarize(phases, 200, 300.0, 0.6), phases)
    plot_curves(phases, summary, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for phase in phases[1:]:  # a Mem-α demo's batches: r1–r4 and Mem-α's tools in the lower panels
        phase.records += [{"step": 1, "reward/r1/mean": 0.3, "tool_calls/new_memory_insert/mean": 3.5}]
    plot_curves(phases, summary, tmp_path / "mem_alpha.png", "mem_alpha")
    assert (tmp_path / "mem_alpha.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_batch_curves_are_averaged_over_phases_at_steps_every_phase_logged():
    a = Phase("rl_seed1", [], 1, records=[{"step": 1, "reward/task/mean": 0.2}, {"step": 2, "reward/task/mean": 0.4},
                                          {"step": 3, "reward/task/mean": 0.9}])
    b = Phase("rl_seed2", [], 2, records=[{"step": 1, "reward/task/mean": 0.6}, {"step": 2, "reward/task/mean": 0.0}])
    assert mean_curve([a, b], "reward/task/mean") == ([1, 2], [pytest.approx(0.4), pytest.approx(0.2)])
    assert mean_curve([a], "tool_calls/Add_memory/mean") == ([], [])


def test_missing_held_out_evaluations_are_errors_naming_the_phase():
    phases = _phases()
    phases[0].records = phases[0].records[:-1]
    with pytest.raises(RuntimeError, match="phase sft logged no eval/heldout_success"):
        summarize(phases, 200, 1.0)
    phases = _phases()
    phases[2].records = []
    with pytest.raises(RuntimeError, match="phase rl_seed2 logged no"):
        summarize(phases, 200, 1.0)


def test_phases_follow_the_seeds_and_the_control_switch(tmp_path):
    cfg = Config(trainer=TrainerConfig(heldout_tasks=10, eval_every=5), demo=DemoConfig(rl_seeds=[4, 5]))
    names = [p.name for p in plan_phases(cfg, tmp_path)]
    assert names == ["sft", "rl_seed4", "rl_seed5", "control_seed4"]
    control = plan_phases(cfg, tmp_path)[-1].overrides
    assert "algorithm.shuffle_rewards=true" in control and f"model.path={tmp_path}/sft/hf_model" in control
    assert not any("reserved_ids" in o for p in plan_phases(cfg, tmp_path) for o in p.overrides)
    # demo.reuse_sft (the default) reuses only an SFT phase that finished: a fresh one is drawn as run now.
    assert cfg.demo.reuse_sft and not plan_phases(cfg, tmp_path)[0].reuse
    (tmp_path / "sft" / "hf_model").mkdir(parents=True)
    (tmp_path / "sft" / "hf_model" / "config.json").write_text("{}")
    assert plan_phases(cfg, tmp_path)[0].reuse
    # A reused SFT model measured at another held-out temperature than this demo's is refused, naming both.
    (tmp_path / "sft" / "metrics.jsonl").write_text('{"step": 9, "eval/heldout_success": 0.4}\n')
    assert plan_phases(cfg, tmp_path)[0].reuse  # greedy, as this demo
    cfg.trainer.heldout_temperature = 0.6
    with pytest.raises(ValueError, match="heldout_temperature=0.0, this demo at 0.6"):
        plan_phases(cfg, tmp_path)
    (tmp_path / "sft" / "metrics.jsonl").write_text(
        '{"step": 9, "eval/heldout_success": 0.4, "eval/heldout_temperature": 0.6}\n')
    assert plan_phases(cfg, tmp_path)[0].reuse
    cfg.demo.reuse_sft = False
    assert not plan_phases(cfg, tmp_path)[0].reuse
    cfg.data.reserved_id_fraction = 0.1  # RL phases (the control too) train on ids the SFT phase never saw
    sft, *rl = plan_phases(cfg, tmp_path)
    assert "data.reserved_ids=true" not in sft.overrides and all("data.reserved_ids=true" in p.overrides for p in rl)
    cfg.demo.shuffle_rewards = False
    assert [p.name for p in plan_phases(cfg, tmp_path)] == ["sft", "rl_seed4", "rl_seed5"]
    cfg.demo.rl_seeds = []
    with pytest.raises(ValueError, match="demo.rl_seeds"):
        plan_phases(cfg, tmp_path)
    with pytest.raises(ValueError, match="trainer.heldout_tasks"):
        plan_phases(Config(), tmp_path)
    cfg.demo.rl_seeds, cfg.demo.parallel_runs = [1], 0
    with pytest.raises(ValueError, match="demo.parallel_runs=0"):
        plan_phases(cfg, tmp_path)


@pytest.mark.slow
def test_a_shortened_demo_runs_every_phase_and_writes_its_report(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DS_ACCELERATOR": "cpu"}
    cmd = [sys.executable, "run.py", "experiment=cpu_demo", f"out={tmp_path}", f"hydra.run.dir={tmp_path}/hydra",
           "demo.rl_seeds=[1]", "data.size=40", "sft.demo_tasks=8", "sft.batch_size=8", "sft.max_steps=2",
           "sft.eval_every=2", "sft.eval_tasks=2", "trainer.total_steps=2", "trainer.tasks_per_step=2",
           "trainer.eval_every=2", "trainer.heldout_tasks=4", "rollout.group_size=2", "rollout.max_new_tokens=8",
           "demo.parallel_runs=2"]  # the seed's run and the control run side by side
    result = subprocess.run(cmd, check=False, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    summary = json.loads((tmp_path / "demo_summary.json").read_text())
    assert [entry["seed"] for entry in summary["rl"]] == [1]
    assert [step for step, _ in summary["rl"][0]["curve"]] == [0, 2]
    assert summary["control"] is not None and summary["heldout_episodes"] == 4 and summary["wall_s"] > 0
    assert (tmp_path / "demo_curves.png").is_file()
    assert {p.name for p in tmp_path.iterdir()} >= {"sft", "rl_seed1", "control_seed1"}
    assert "outputs:" in (tmp_path / "control_seed1" / "run.log").read_text()  # parallel phases log to files
    assert "held-out start" in result.stdout and "outputs:" in result.stdout
