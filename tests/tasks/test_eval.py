"""`python run.py task=eval` end to end in subprocesses on the tiny model: a killed eval resumes to the summary of an
uninterrupted one without duplicate rows, 2 ranks under torchrun give the summary of 1 rank, and mistakes fail
naming the setting. Every run: 8 synthetic episodes, agent=agemem, 2 sampled rollouts each (per-episode seeds),
one episode per batch (so that every engine call batches the same prompts however the episodes are shared out)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from agemem import PROJECT_ROOT
from agemem.eval.config import AgentConfig, BenchmarkConfig, EvalConfig
from agemem.eval.results import ROWS, SUMMARY, read_rows
from agemem.tasks.config import Config, check_choices, register_configs
from agemem.tasks.eval import run_eval

EPISODES = 8
TINY = ["task=eval", "benchmark=synthetic", "agent=agemem", f"eval.num_episodes={EPISODES}", "eval.samples=2",
        "eval.episodes_per_batch=1", "data.difficulty=0", "data.num_distractors=1", "curriculum.max_rounds=1",
        "rollout.max_new_tokens=12", "rollout.temperature=1.0", "eval.stage2=true"]
register_configs()


def _env(out: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", DS_ACCELERATOR="cpu", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT"):
        env.pop(key, None)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _command(out: Path, *overrides: str, nproc: int = 1) -> list[str]:
    args = ["run.py", *TINY, f"out={out}", f"hydra.run.dir={out}/hydra", *overrides]
    if nproc == 1:
        return [sys.executable, *args]
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_port", str(_free_port()),
            *args]


def _run(out: Path, *overrides: str, nproc: int = 1, ok: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(_command(out, *overrides, nproc=nproc), cwd=PROJECT_ROOT, env=_env(out), text=True,
                          capture_output=True, timeout=300, check=False)
    if ok:
        assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
        assert f"outputs: {out.resolve()}" in done.stdout
    return done


def _summary(out: Path) -> dict:
    return json.loads((out / SUMMARY).read_text())


def _rows(out: Path) -> list[str]:
    rows = read_rows(out / ROWS)
    assert len({r["id"] for r in rows}) == len(rows) == EPISODES  # one row per episode, none twice
    return sorted(json.dumps(r, sort_keys=True) for r in rows)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The uninterrupted 1-rank eval."""
    out = tmp_path_factory.mktemp("reference")
    done = _run(out)
    for name in ("em", "judge", "memory_quality", "joint", "prompt_tokens_per_call", "tool_calls/Add_memory"):
        assert name in done.stdout
    summary = _summary(out)
    assert summary["episodes"] == EPISODES and summary["agent"] == "agemem" and summary["samples"] == 2
    assert summary["aggregates"]["overall"]["judge"]["n"] == EPISODES
    return out


def test_a_killed_eval_resumes_to_the_same_summary(reference, tmp_path):
    with (tmp_path / "killed.log").open("w") as log:
        proc = subprocess.Popen(_command(tmp_path), cwd=PROJECT_ROOT, env=_env(tmp_path), stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 240
        try:
            while len(read_rows(tmp_path / ROWS)) < 3:
                assert proc.poll() is None, (tmp_path / "killed.log").read_text()[-3000:]
                assert time.monotonic() < deadline
                time.sleep(0.02)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    written = len(read_rows(tmp_path / ROWS))
    assert 3 <= written < EPISODES, "the eval ended before it was killed"
    done = _run(tmp_path)
    assert f"{written} of {EPISODES} episodes already have a row" in done.stderr + done.stdout
    assert _summary(tmp_path) == _summary(reference)
    assert _rows(tmp_path) == _rows(reference)
    _run(tmp_path)  # resuming a finished eval runs nothing and ends with the same summary
    assert _summary(tmp_path) == _summary(reference) and _rows(tmp_path) == _rows(reference)


@pytest.mark.distributed
def test_two_ranks_give_the_summary_of_one_rank(reference, tmp_path):
    _run(tmp_path, nproc=2)
    assert _summary(tmp_path) == _summary(reference)
    assert _rows(tmp_path) == _rows(reference)


def test_resuming_with_other_settings_fails_naming_the_setting(reference, tmp_path):
    (tmp_path / ROWS).write_text((reference / ROWS).read_text())
    (tmp_path / "eval_config.json").write_text((reference / "eval_config.json").read_text())
    cfg = _compose(*TINY, "agent=no_memory", f"out={tmp_path}")
    with pytest.raises(ValueError, match="agent.name='no_memory', but the rows"):
        run_eval(cfg)
    run_eval(replace(cfg, eval=replace(cfg.eval, num_episodes=2), resume="never"))  # a fresh start is allowed
    assert [r["id"] for r in read_rows(tmp_path / ROWS)] == [r["id"] for r in read_rows(reference / ROWS)][:2]


def _compose(*overrides: str) -> Config:
    with initialize_config_dir(config_dir=str(PROJECT_ROOT / "conf"), version_base=None):
        return OmegaConf.to_object(compose(config_name="config", overrides=list(overrides)))


def test_eval_settings_compose_and_mistakes_name_the_key():
    cfg = _compose("task=eval", "benchmark=hotpotqa", "agent=no_memory", "eval.samples=3")
    assert (cfg.benchmark.name, cfg.agent.name, cfg.eval.samples, cfg.eval.stage2) == ("hotpotqa", "no_memory", 3,
                                                                                       False)
    assert cfg.benchmark.path.endswith("hotpot_dev_distractor_100.jsonl")
    with pytest.raises(Exception, match="num_epsiodes"):
        _compose("task=eval", "eval.num_epsiodes=3")
    with pytest.raises(Exception, match="agent/ragg"):
        _compose("task=eval", "agent=ragg")
    for override, key in (("agent.name=ragg", "agent.name"), ("benchmark.name=hotpot", "benchmark.name"),
                          ("benchmark.split=dev", "benchmark.split")):
        with pytest.raises(ValueError, match=rf"{key}=.*must be one of"):
            check_choices(_compose("task=eval", override))


def test_eval_sections_are_in_the_schema_the_comment_test_walks():
    from test_config import _config_dataclasses  # tests/tasks/test_config.py: every field has a comment

    assert {BenchmarkConfig, AgentConfig, EvalConfig} <= _config_dataclasses(Config)


def test_eval_refuses_a_resume_path(tmp_path):
    with pytest.raises(ValueError, match=r"resume='/some/checkpoints': task=eval takes one of \['auto', 'never'\]"):
        run_eval(_compose("task=eval", f"out={tmp_path}", "resume=/some/checkpoints"))
