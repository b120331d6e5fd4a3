"""`task=eval` on the interactive benchmarks (agemem/eval/env_eval.py), in process on small slices: the oracle
reaches success on every task of each environment (every ALFWorld game of a given folder accounted for), the tiny
model runs as each agent, mistakes name the config key; and `task=report`'s Table-2 layout computed by hand."""

import json
import shutil
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from agemem import PROJECT_ROOT
from agemem.eval.env_eval import env_rows, task_family
from agemem.eval.report import find_runs, interactive_table
from agemem.eval.results import ROWS, SUMMARY, append_rows, read_rows, summarize
from agemem.records import EnvResult, Trajectory
from agemem.tasks.config import Config, register_configs
from agemem.tasks.eval import run_eval

register_configs()
OWN_PDDL = PROJECT_ROOT / "tests" / "envs" / "data" / "pddl"


def _compose(*overrides: str) -> Config:
    with initialize_config_dir(config_dir=str(PROJECT_ROOT / "conf"), version_base=None):
        return OmegaConf.to_object(compose(config_name="config", overrides=["task=eval", *overrides]))


def _eval(out: Path, *overrides: str) -> dict:
    run_eval(_compose(*overrides, f"out={out}", "resume=never"))
    return json.loads((out / SUMMARY).read_text())


def _alfworld_folder(tmp_path: Path, games: int) -> Path:
    """A folder holding copies of the first `games` shared ALFWorld games, laid out differently from the shared
    one. The first three are three trials of one task in one room: the same first observation, other walkthroughs."""
    pytest.importorskip("alfworld", reason="alfworld is not installed (the `envs` extra)")
    from agemem.envs.alfworld import DEFAULT_PATH

    folder = tmp_path / "games"
    for i, game in enumerate(sorted(DEFAULT_PATH.rglob("game.tw-pddl"))[:games]):
        shutil.copytree(game.parent, folder / f"set{i % 2}" / game.parent.parent.name / game.parent.name)
    return folder


ORACLE_RUNS = {
    "babyai": (["benchmark=babyai", "benchmark.tasks=[GoToLocal,OpenDoor,PutNextLocal]", "benchmark.seeds=[0,1]"],
               6, "minigrid"),
    "pddl": (["benchmark=pddl", f"benchmark.path={OWN_PDDL}"], 3, "pddlgym"),
    "pddl_domain": (["benchmark=pddl", f"benchmark.path={OWN_PDDL}", "benchmark.tasks=[blocks]"], 2, "pddlgym"),
    "scienceworld": (["benchmark=scienceworld", "benchmark.tasks=[lifespan-longest-lived,find-plant]",
                      "benchmark.variations=1", "benchmark.live_envs=1"], 2, "scienceworld"),
}


@pytest.mark.parametrize("env", list(ORACLE_RUNS))
def test_the_oracle_succeeds_on_every_task(env, tmp_path):
    overrides, tasks, package = ORACLE_RUNS[env]
    pytest.importorskip(package, reason=f"{package} is not installed (the `envs` extra)")
    summary = _eval(tmp_path, "agent=oracle", *overrides)
    overall = summary["aggregates"]["overall"]
    assert summary["episodes"] == tasks
    assert overall["success"]["mean"] == 1.0 and overall["progress"]["mean"] == 1.0
    assert overall["format_error_rate"]["mean"] == 0.0 and overall["no_action_rate"]["mean"] == 0.0
    if env == "scienceworld":
        assert overall["score"]["mean"] == 100.0
    rows = read_rows(tmp_path / ROWS)
    assert all(r["ends"] == ["success"] and r["actions"][0] for r in rows)


def test_the_oracle_accounts_for_every_game_of_an_alfworld_folder(tmp_path):
    folder = _alfworld_folder(tmp_path, 3)
    summary = _eval(tmp_path / "out", "benchmark=alfworld", "agent=oracle", f"benchmark.path={folder}",
                    "benchmark.live_envs=2")  # two batches
    games = sorted(p.parent.relative_to(folder).as_posix() for p in folder.rglob("game.tw-pddl"))
    assert summary["episodes"] == summary["items_read"] == len(games) == 3
    assert sorted(r["id"] for r in read_rows(tmp_path / "out" / ROWS)) == games
    assert summary["aggregates"]["overall"]["success"]["mean"] == 1.0


@pytest.mark.parametrize("agent, env", [("agemem", "babyai"), ("no_memory", "pddl"), ("rag", "babyai"),
                                        ("mem0", "pddl")])
def test_the_tiny_model_runs_as_each_agent(agent, env, tmp_path):
    pytest.importorskip("minigrid" if env == "babyai" else "pddlgym")
    slice_ = ["benchmark.tasks=[GoToLocal]", "benchmark.seeds=[0]"] if env == "babyai" else [
        f"benchmark.path={OWN_PDDL}", "eval.num_episodes=1"]
    summary = _eval(tmp_path, f"benchmark={env}", f"agent={agent}", "benchmark.step_limit=2",
                    "rollout.max_new_tokens=8", *slice_)
    overall = summary["aggregates"]["overall"]
    assert summary["episodes"] == 1 and 1 <= overall["steps"]["mean"] <= 2
    assert {"success", "progress", "model_calls", "prompt_tokens", "format_error_rate"} <= set(overall)


@pytest.mark.parametrize("overrides, key", [
    (["benchmark=babyai", "agent=amem"], "agent.name='amem'"),
    (["benchmark=babyai", "benchmark.split=test"], "benchmark.split='test'"),
    (["benchmark=babyai", "benchmark.tasks=[JuggleBalls]"], "benchmark.tasks"),
    (["benchmark=pddl", "benchmark.path=/no/such/folder"], "benchmark.path='/no/such/folder'"),
    (["benchmark=babyai", "benchmark.step_limit=0"], "benchmark.step_limit=0"),
    (["benchmark=pddl", "benchmark.seeds=[1]"], "benchmark.seeds"),
    (["benchmark=pddl", f"benchmark.path={OWN_PDDL}", "benchmark.tasks=[gripper]"], "benchmark.tasks"),
])
def test_mistakes_name_the_key(overrides, key, tmp_path):
    pytest.importorskip("minigrid")
    pytest.importorskip("pddlgym")
    with pytest.raises((ValueError, FileNotFoundError), match=key.replace("[", r"\[").replace(".", r"\.")):
        _eval(tmp_path, *overrides)


def test_task_families():
    assert task_family("alfworld", "valid_unseen/pick_and_place_simple-Mug-None-Desk-308/trial_T1") == \
        "pick_and_place_simple"
    assert task_family("pddl", "gripper/prob01") == "gripper" and task_family("babyai", "GoToLocal/3") == "GoToLocal"


def _run(root: Path, name: str, benchmark: str, agent: str, results: list[tuple[bool, float]]) -> None:
    """An eval folder with one row per (success, progress), made by env_rows from hand-built trajectories."""
    folder = root / name
    folder.mkdir()
    trajectories = [Trajectory(f"t{i}", 0, env_result=EnvResult(benchmark, f"t{i}", 30, success=s, progress=p,
                                                                  steps=5, end="success" if s else "step_limit"))
                    for i, (s, p) in enumerate(results)]
    from agemem.records import Episode

    episodes = [Episode(t.episode_id, benchmark, ["x"], [], "q", ["success"], category="c") for t in trajectories]
    rows = env_rows(episodes, trajectories, 1)
    append_rows(folder / ROWS, rows)
    summary = summarize(rows, [e.id for e in episodes], {"benchmark": benchmark, "agent": agent})
    (folder / SUMMARY).write_text(json.dumps(summary))


def test_the_table_2_layout_by_hand(tmp_path):
    _run(tmp_path, "a_alf", "alfworld", "agemem", [(True, 1.0), (False, 0.0)])  # SR 0.5
    _run(tmp_path, "a_baby", "babyai", "agemem", [(True, 1.0)] * 3 + [(False, 0.2)])  # SR 0.75
    _run(tmp_path, "a_pddl", "pddl", "agemem", [(False, 0.5), (True, 1.0)])  # SR 0.5, progress 0.75
    _run(tmp_path, "b_baby", "babyai", "rag", [(False, 0.0), (True, 1.0)])  # SR 0.5
    evals, _ = find_runs([str(tmp_path)])
    header, _, agemem, rag = interactive_table(evals)
    assert header == ("| agent | ALFWorld SR | SciWorld SR | BabyAI SR | PDDL SR | PDDL progress | average "
                      "(ALFWorld SR, SciWorld SR, BabyAI SR, PDDL progress) |")
    cells = [c.strip() for c in agemem.strip("|").split("|")]
    assert cells[0] == "agemem" and cells[2] == "–"
    assert [c.split(" ±")[0] for c in (cells[1], cells[3], cells[4], cells[5])] == ["0.500", "0.750", "0.500",
                                                                                     "0.750"]
    # The average of ALFWorld 0.5, BabyAI 0.75 and PDDL progress 0.75 (ScienceWorld missing): 2/3, n = 8 episodes.
    assert cells[6].startswith("0.667 ± ") and cells[6].endswith("(n=8) (3 of 4)")
    rag_cells = [c.strip() for c in rag.strip("|").split("|")]
    assert rag_cells[3].startswith("0.500") and rag_cells[6].startswith("0.500 ± ") and "(1 of 4)" in rag_cells[6]
