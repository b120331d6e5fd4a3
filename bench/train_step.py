"""Where a training step's time goes, its peak memory, and how it grows with K and with tasks per step.

    python bench/train_step.py [--steps 6] [--group-sizes 2,4,8] [--tasks 1,2,4] [--default-steps 3]
        [--judge-latency 0.2] [--out bench/results/bench.json]

Every run is a real `python run.py task=train` in its own process (DeepSpeed ZeRO-2 on gloo, one rank, 1 thread),
read back from its metrics.jsonl: the trainer times each phase of a step itself (`timing_s/gen`, `reward`,
`advantages`, `update`, `weight_sync`, `eval`, and the whole `step`), and `timing_s/elapsed` at the end of each step
gives the time between a step's end and the next one's start: logging plus the checkpoint (`trainer.save_every=1`:
every step saves). The first step of each run is a warm-up and left out; medians over the rest. Peak memory is the
run's peak resident set (`os.wait4`'s ru_maxrss).

- breakdown: the CPU default of `python run.py` (conf/config.yaml: 4 tasks x 4 rollouts, 48 new tokens per call,
  rule judge), `--default-steps` steps: each phase's share of the step (step + checkpoint);
- scaling: the fast tiny setting of the training tests (tests/train/train_runs.py TINY: one round per message, 16
  new tokens per call) for `--steps` steps, K in `--group-sizes` at 2 tasks per step, and tasks per step in
  `--tasks` at K=4: a least-squares line of the step time against K, and against tasks, with its R^2;
- rewards with a remote judge: the untrained tiny policy seldom answers or stores anything, so its steps send the
  judge almost nothing. The judge load of a policy that does (the scripted expert of agemem/rollout/expert.py:
  stores every fact, retrieves, answers) is measured on the CPU default's first step of tasks: its trajectories,
  collected in this process, are scored by `score_batch` (what step 2 runs) with the rule judge and with
  `judge.kind=llm_http` (default concurrency 16, reply cache off) against the loopback server of
  bench/judge_http.py, answering after `--judge-latency` seconds. The share of the step spent on rewards (target
  <= 10%) is that reward time over the CPU-default step with its reward time replaced by it: a projection joining
  two processes' figures (the judge's time is its server's latency, which the machine's load does not change).

Writes section `train_step` of bench/results/bench.json with the command.
"""

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import measure  # sets the CPU environment before torch is imported
from judge_http import LoopbackJudgeServer

# tests/train/train_runs.py TINY: 4 synthetic episodes, one round per message, 16 new tokens per call.
TINY = ["data.size=4", "data.val_fraction=0", "data.test_fraction=0", "data.difficulty=0",
        "curriculum.num_distractors=1", "curriculum.max_rounds=1", "rollout.max_new_tokens=16",
        "trainer.lr=5e-5", "trainer.micro_batch_tokens=1024"]
PHASES = ("gen", "reward", "advantages", "update", "weight_sync", "eval")
TIMEOUT_S = 900


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_run(out: Path, overrides: list[str], timeout: float = TIMEOUT_S) -> dict:
    """One `task=train` process; its metrics rows, peak RSS and wall time. Fails with the log's tail."""
    command = [sys.executable, "run.py", "task=train", f"out={out}", f"hydra.run.dir={out}/hydra",
               "trainer.save_every=1", "trainer.export_hf=false", "logger=local", *overrides]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DS_ACCELERATOR": "cpu", "PYTHONUNBUFFERED": "1",
           "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        env.pop(key, None)
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "train.log"
    start = time.perf_counter()
    with log_path.open("w") as log:
        proc = subprocess.Popen(command, cwd=measure.ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        timer = threading.Timer(timeout, os.killpg, (proc.pid, signal.SIGKILL))
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage: its peak RSS
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
    rows_path = out / "metrics.jsonl"
    if proc.returncode != 0 or not rows_path.is_file():
        raise RuntimeError(f"train run failed (rc {proc.returncode}): {' '.join(command)}\n"
                           f"{log_path.read_text()[-4000:]}")
    rows = [json.loads(line) for line in rows_path.read_text().splitlines() if line.strip()]
    return {"overrides": overrides, "rows": rows, "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
            "wall_s": round(time.perf_counter() - start, 2)}


def breakdown(run: dict, warmup: int = 1) -> dict:
    """Median seconds of each phase over the steps after `warmup`, the checkpoint (+ log) gap, and shares."""
    rows = run["rows"]
    measured = rows[warmup:] or rows
    phases = {p: statistics.median(r[f"timing_s/{p}"] for r in measured) for p in PHASES}
    step = statistics.median(r["timing_s/step"] for r in measured)
    # From the end of step i (its `elapsed`) to the start of step i+1: log + checkpoint of step i.
    gaps = [rows[i + 1]["timing_s/elapsed"] - rows[i + 1]["timing_s/step"] - rows[i]["timing_s/elapsed"]
            for i in range(len(rows) - 1)]
    checkpoint = statistics.median(gaps[warmup:] or gaps) if gaps else 0.0
    total = step + checkpoint
    seconds = {**phases, "checkpoint": checkpoint, "other": step - sum(phases.values())}
    return {"steps_measured": len(measured), "step_s": round(step, 4), "step_with_checkpoint_s": round(total, 4),
            "seconds": {k: round(v, 4) for k, v in seconds.items()},
            "shares": {k: round(v / total, 4) for k, v in seconds.items()},
            "judge_requests_per_step": statistics.median(r.get("reward/judge_requests", 0.0) for r in measured),
            "peak_rss_mib": run["peak_rss_mib"], "run_wall_s": run["wall_s"]}


def scaling(points: dict[tuple[int, int], dict], key: int, fixed: int, values: tuple[int, ...]) -> dict:
    """Step time against K (key 0, tasks fixed) or tasks per step (key 1, K fixed): the points and a line."""
    chosen = [(v, points[(v, fixed) if key == 0 else (fixed, v)]) for v in values]
    xs = [v for v, _ in chosen]
    fits = {"step": measure.fit_line(xs, [b["step_s"] for _, b in chosen])}
    for phase in ("gen", "update"):
        fits[phase] = measure.fit_line(xs, [b["seconds"][phase] for _, b in chosen])
    return {"x": xs, "step_s": [b["step_s"] for _, b in chosen],
            "gen_s": [b["seconds"]["gen"] for _, b in chosen], "update_s": [b["seconds"]["update"] for _, b in chosen],
            "peak_rss_mib": [b["peak_rss_mib"] for _, b in chosen], "fit": fits}


def expert_rewards(latency: float) -> dict:
    """Reward time of one CPU-default step of tasks rolled out by the scripted expert: rule vs HTTP judge."""
    from dataclasses import replace

    from agemem.models import load_tokenizer
    from agemem.rewards import build_judge, score_batch
    from agemem.rollout.collector import collect
    from agemem.rollout.expert import ExpertEngine
    from agemem.tasks.runtime import collect_settings, prepare_model
    from data_gen.splits import train_val_episodes

    cfg = measure.compose_config()
    prepare_model(cfg.model)
    tokenizer = load_tokenizer(cfg.model)
    tasks = train_val_episodes(cfg.data, cfg.seed)[0][: cfg.trainer.tasks_per_step]
    trajectories = collect(tasks, cfg.rollout.group_size, ExpertEngine(tokenizer), collect_settings(cfg), tokenizer)
    by_id = {t.id: t for t in tasks}
    rule = score_batch(trajectories, by_id, cfg.reward, build_judge(cfg.judge)).metrics
    with LoopbackJudgeServer(latency) as server:
        http_cfg = replace(cfg.judge, kind="llm_http", http=replace(cfg.judge.http, base_url=server.base_url,
                                                                     cache_path="", api_key_env=""))
        http = score_batch(trajectories, by_id, cfg.reward, build_judge(http_cfg)).metrics
    return {"tasks": len(tasks), "group_size": cfg.rollout.group_size, "latency_s": latency,
            "concurrency": http_cfg.http.max_concurrency, "judge_requests": int(http["reward/judge_requests"]),
            "server_requests": server.requests, "answered": sum(t.answer is not None for t in trajectories),
            "reward_s": {"rule": round(rule["timing_s/reward"], 4), "llm_http": round(http["timing_s/reward"], 4)}}


def run(steps: int = 6, group_sizes: tuple[int, ...] = (2, 4, 8), tasks: tuple[int, ...] = (1, 2, 4),
        default_steps: int = 3, judge_latency: float = 0.2, folder: Path | None = None) -> dict:
    """All the training runs above; the result section (without the command)."""
    with tempfile.TemporaryDirectory(prefix="bench_train_") as scratch:
        root = Path(folder or scratch)
        result: dict = {}
        if default_steps:
            default = train_run(root / "default", [f"trainer.total_steps={default_steps}"])
            result["default"] = {"overrides": default["overrides"], **breakdown(default)}
            print(f"  default: {result['default']['shares']}", file=sys.stderr, flush=True)
        points: dict[tuple[int, int], dict] = {}
        grid = [(k, 2) for k in group_sizes] + [(4, b) for b in tasks if (4, b) not in {(k, 2) for k in group_sizes}]
        for k, b in grid:
            overrides = [*TINY, f"rollout.group_size={k}", f"trainer.tasks_per_step={b}", f"trainer.total_steps={steps}"]
            points[(k, b)] = {"overrides": overrides, **breakdown(train_run(root / f"tiny_k{k}_b{b}", overrides))}
            print(f"  tiny K={k} tasks={b}: step {points[(k, b)]['step_s']:.3f} s", file=sys.stderr, flush=True)
        result["tiny"] = {f"k{k}_b{b}": v for (k, b), v in points.items()}
        result["scaling_group_size"] = scaling(points, 0, 2, group_sizes)
        result["scaling_tasks"] = scaling(points, 1, 4, tasks)
    if judge_latency and "default" in result:
        rewards = expert_rewards(judge_latency)
        default = result["default"]
        step = default["step_with_checkpoint_s"] - default["seconds"]["reward"] + rewards["reward_s"]["llm_http"]
        result["http_judge"] = {**rewards, "default_step_s": default["step_with_checkpoint_s"],
                                "reward_share": round(rewards["reward_s"]["llm_http"] / step, 4),
                                "rule_judge_reward_share": default["shares"]["reward"]}
    result["target"] = "rewards <= 10% of a step; step time linear in K and in tasks per step"
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=6, help="steps of each tiny run (the first is a warm-up)")
    parser.add_argument("--group-sizes", default="2,4,8", help="K of the scaling runs (2 tasks per step)")
    parser.add_argument("--tasks", default="1,2,4", help="tasks per step of the scaling runs (K=4)")
    parser.add_argument("--default-steps", type=int, default=3, help="steps of the CPU-default run (0 skips it)")
    parser.add_argument("--judge-latency", type=float, default=0.2, help="HTTP judge latency, s (0 skips the run)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the runs' folders here")
    parser.add_argument("--out", type=Path, default=measure.BENCH_JSON)
    args = parser.parse_args()
    result = {"command": measure.command("train_step.py"), "env": measure.environment(1),
              **run(args.steps, tuple(int(k) for k in args.group_sizes.split(",")),
                    tuple(int(b) for b in args.tasks.split(",")), args.default_steps, args.judge_latency, args.keep)}
    if "default" in result:
        print(f"train step (CPU default): {result['default']['step_with_checkpoint_s']} s, shares "
              f"{result['default']['shares']}, peak RSS {result['default']['peak_rss_mib']} MiB")
    for name in ("scaling_group_size", "scaling_tasks"):
        print(f"{name}: x {result[name]['x']} step_s {result[name]['step_s']} fit {result[name]['fit']['step']}")
    if "http_judge" in result:
        print(f"http judge: reward share {result['http_judge']['reward_share']:.1%} "
              f"(rule judge {result['http_judge']['rule_judge_reward_share']:.1%})")
    measure.write_section(args.out, "train_step", result)


if __name__ == "__main__":
    sys.exit(main())
