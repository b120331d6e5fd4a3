"""`task=demo` (`python run.py experiment=cpu_demo`): a CPU run that visibly learns.

Phases, each its own `python run.py` process with the caller's overrides (one DeepSpeed start-up each; a failed
phase stops the demo and names its folder):

    sft                 imitate the scripted expert until greedy validation success reaches sft.success_threshold,
                        then measure the SFT model's held-out success (where every RL curve starts, at step 0)
    rl_seed<s>          step-wise GRPO from the SFT model, one run per demo.rl_seeds, held-out success every
                        trainer.eval_every steps; with data.reserved_id_fraction > 0 its tasks use only the
                        reserved entity ids, which the SFT data never does (data.reserved_ids=true)
    control_seed<s>     the first seed's run with algorithm.shuffle_rewards=true (demo.shuffle_rewards)

For Mem-α (`experiment=mem_alpha_cpu_demo`, reward.preset=mem_alpha) held-out success is the reader's accuracy from
the memory each greedy rollout (or one sampled at trainer.heldout_temperature) wrote on held-out chunk streams, and
the lower panels show r1–r4 and Mem-α's tools.
With demo.parallel_runs=N the RL phases run N at a time (each with 1/N of the threads, output in <phase>/run.log).
Then a table, `demo_summary.json` and `demo_curves.png` (held-out success against wall time and per RL step;
reward components and tool calls by type per RL step).
"""

import json
import logging
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agemem import PROJECT_ROOT
from agemem.eval.validation import HELDOUT, HELDOUT_TEMPERATURE
from agemem.tasks.config import Config
from agemem.tasks.runtime import output_dir
from agemem.tools.mem_alpha import TOOL_NAMES as MEM_ALPHA_TOOL_NAMES
from agemem.tools.schemas import TOOL_NAMES as AGEMEM_TOOL_NAMES
from agemem.train.logger import read_metrics

log = logging.getLogger("agemem")


@dataclass
class Phase:
    """One child run of the demo and when it ran (seconds since the demo started)."""

    name: str
    overrides: list[str]
    seed: int | None = None
    start_s: float = 0.0
    end_s: float = 0.0
    records: list[dict[str, Any]] = field(default_factory=list)  # its metrics.jsonl
    reuse: bool = False  # an SFT phase that finished in its folder before this demo: read, not run again

    def curve(self, key: str) -> list[tuple[int, float, float]]:
        """(step, demo wall time in s, value) of every record that has `key`. A reused phase ran before this demo
        started, so its times are shifted to end at 0 (negative: earlier)."""
        times = [float(r.get("timing_s/elapsed", 0.0)) for r in self.records]
        offset = -max(times, default=0.0) if self.reuse else self.start_s
        return [(int(r["step"]), offset + t, float(r[key])) for r, t in zip(self.records, times) if key in r]

    def heldout_curve(self, sft_success: float) -> list[tuple[int, float, float]]:
        """An RL phase's held-out curve, starting at step 0 with the SFT model it starts from."""
        return [(0, self.start_s, sft_success), *self.curve(HELDOUT)]


def caller_overrides() -> list[str]:
    """The overrides this demo was started with (`experiment=cpu_demo …`), passed on to every phase."""
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def plan_phases(cfg: Config, out: Path) -> list[Phase]:
    """The demo's child runs, in order."""
    if not cfg.demo.rl_seeds:
        raise ValueError("demo.rl_seeds is empty: the demo needs at least one RL seed")
    if not cfg.trainer.heldout_tasks or not cfg.trainer.eval_every:
        raise ValueError("task=demo needs trainer.heldout_tasks > 0 and trainer.eval_every > 0 (the held-out curve)")
    sft_model = out / "sft" / "hf_model"
    # Step 0 of every RL run is the SFT model, whose held-out success the sft phase measures once.
    rl = ["task=train", f"model.path={sft_model}", "trainer.eval_before_training=false"]
    if cfg.data.reserved_id_fraction:  # RL trains on entity ids the SFT phase never saw
        rl.append("data.reserved_ids=true")
    if cfg.demo.parallel_runs < 1:
        raise ValueError(f"demo.parallel_runs={cfg.demo.parallel_runs}: must be >= 1")
    # Reused only when a finished SFT phase is there; otherwise it runs now and is drawn from this demo's start.
    reuse = cfg.demo.reuse_sft and (sft_model / "config.json").is_file()
    if reuse:  # every curve starts at the SFT model's held-out success: it must be measured as the RL runs measure
        metrics = out / "sft" / "metrics.jsonl"
        measured = [r for r in (read_metrics(metrics) if metrics.is_file() else []) if HELDOUT in r]
        temperature = measured[-1].get(HELDOUT_TEMPERATURE, 0.0) if measured else cfg.trainer.heldout_temperature
        if temperature != cfg.trainer.heldout_temperature:
            raise ValueError(f"demo.reuse_sft=true: {metrics} measured {HELDOUT} at trainer.heldout_temperature="
                             f"{temperature}, this demo at {cfg.trainer.heldout_temperature}: set it back, or "
                             f"demo.reuse_sft=false (or another out=) to run the SFT phase again")
    phases = [Phase("sft", ["task=sft"], reuse=reuse)]
    phases += [Phase(f"rl_seed{seed}", [*rl, f"seed={seed}"], seed) for seed in cfg.demo.rl_seeds]
    if cfg.demo.shuffle_rewards:
        seed = cfg.demo.rl_seeds[0]
        phases.append(Phase(f"control_seed{seed}", [*rl, f"seed={seed}", "algorithm.shuffle_rewards=true"], seed))
    return phases


def start_phase(phase: Phase, base_overrides: list[str], out: Path, t0: float, threads: int | None,
                quiet: bool) -> subprocess.Popen | None:
    """Launch one phase as `python run.py <caller overrides> <phase overrides> out=<out>/<name>`; None when a
    finished phase is reused. `threads` sets the child's OMP_NUM_THREADS; `quiet` sends its output to run.log."""
    folder = out / phase.name
    if phase.reuse:
        log.info("demo: reusing the finished %s phase in %s", phase.name, folder)
        return None
    command = [sys.executable, str(PROJECT_ROOT / "run.py"), *base_overrides, *phase.overrides,
               f"out={folder}", f"hydra.run.dir={folder}", "resume=never"]
    print(f"\n=== demo phase {phase.name}: {' '.join(command[2:])}", flush=True)
    env = os.environ.copy()
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
        env["MASTER_PORT"] = str(free_port())  # concurrent children must not share a rendezvous port
    folder.mkdir(parents=True, exist_ok=True)
    output = (folder / "run.log").open("w") if quiet else None
    phase.start_s = time.perf_counter() - t0
    errors = subprocess.STDOUT if quiet else None
    return subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=output, stderr=errors)


def finish_phase(phase: Phase, process: subprocess.Popen | None, out: Path, t0: float) -> None:
    """Wait for a phase, then read its metrics; a failed phase is an error naming its folder."""
    folder = out / phase.name
    if process is not None:
        code = process.wait()
        phase.end_s = time.perf_counter() - t0
        if process.stdout is not None:
            process.stdout.close()
        if code != 0:
            raise RuntimeError(f"demo phase {phase.name} failed (exit {code}); its outputs, run.log and .hydra/ "
                               f"are in {folder}")
        print(f"=== demo phase {phase.name} finished in {phase.end_s - phase.start_s:.0f} s", flush=True)
    phase.records = read_metrics(folder / "metrics.jsonl")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def summarize(phases: list[Phase], heldout_episodes: int, wall_s: float,
              heldout_temperature: float = 0.0) -> dict[str, Any]:
    """`demo_summary.json`: held-out success of the SFT model, of each RL seed (with its curve) and of the control,
    and how it was measured (episodes, decoding temperature)."""
    rl = [p for p in phases if p.name.startswith("rl_seed")]
    control = next((p for p in phases if p.name.startswith("control_seed")), None)
    sft = next(p for p in phases if p.name == "sft")
    if not sft.curve(HELDOUT):
        raise RuntimeError(f"demo phase sft logged no {HELDOUT}: the SFT model's held-out success is every RL "
                           f"curve's start (trainer.heldout_tasks > 0)")
    start = sft.curve(HELDOUT)[-1][2]
    for phase in rl + ([control] if control else []):
        if not phase.curve(HELDOUT):
            raise RuntimeError(f"demo phase {phase.name} logged no {HELDOUT} (its metrics.jsonl is empty?)")
    return {
        "sft_heldout_success": start,
        "rl": [{"seed": p.seed, "heldout_success": p.curve(HELDOUT)[-1][2],
                "curve": [[step, value] for step, _, value in p.heldout_curve(start)]} for p in rl],
        "control": {"heldout_success": control.curve(HELDOUT)[-1][2]} if control else None,
        "heldout_episodes": heldout_episodes,
        "heldout_temperature": heldout_temperature,
        "wall_s": wall_s,
    }


def summary_table(summary: dict[str, Any], phases: list[Phase]) -> str:
    """Held-out success per run: start (the SFT model), end, change, and the phase's wall time."""
    seconds = {p.name: p.end_s - p.start_s for p in phases}
    base = summary["sft_heldout_success"]
    rows = [("run", "held-out start", "held-out end", "change", "wall s"),
            ("sft", "-", f"{base:.3f}", "-", f"{seconds.get('sft', 0.0):.0f}")]
    for entry in summary["rl"]:
        name = f"rl_seed{entry['seed']}"
        rows.append((name, f"{base:.3f}", f"{entry['heldout_success']:.3f}",
                     f"{100 * (entry['heldout_success'] - base):+.1f} pt", f"{seconds.get(name, 0.0):.0f}"))
    if summary["control"] is not None:
        name = next(p.name for p in phases if p.name.startswith("control_seed"))
        end = summary["control"]["heldout_success"]
        rows.append((f"{name} (shuffled)", f"{base:.3f}", f"{end:.3f}", f"{100 * (end - base):+.1f} pt",
                     f"{seconds.get(name, 0.0):.0f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in rows]
    temperature = summary["heldout_temperature"]
    decoding = f"sampled at temperature {temperature}" if temperature else "greedy"
    footer = f"{summary['heldout_episodes']} held-out episodes ({decoding}), total wall time {summary['wall_s']:.0f} s"
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:], footer])


# The lower panels per reward preset: reward terms (reward/<term>/mean) and tools (tool_calls/<tool>/mean) per
# RL step.
PANELS = {"agemem": (("task", "context", "memory", "penalty"), AGEMEM_TOOL_NAMES),
          "mem_alpha": (("r1", "r2", "r3", "r4"), MEM_ALPHA_TOOL_NAMES)}


def mean_curve(phases: list[Phase], key: str) -> tuple[list[int], list[float]]:
    """(steps, value of `key` averaged over `phases` at each step every phase logged)."""
    by_step: dict[int, list[float]] = {}
    for phase in phases:
        for step, _, value in phase.curve(key):
            by_step.setdefault(step, []).append(value)
    steps = sorted(s for s, values in by_step.items() if len(values) == len(phases))
    return steps, [sum(by_step[s]) / len(phases) for s in steps]


def plot_curves(phases: list[Phase], summary: dict[str, Any], path: Path, panels: str = "agemem") -> None:
    """Top left: success against demo wall time (SFT validation, then held-out per RL run; phases shaded).
    Top right: held-out success against RL step, every seed and the control over the SFT level.
    Bottom: what the training batches did per RL step, averaged over the RL seeds (solid) and the control
    (dotted): the reward's components, and tool calls per trajectory by type (`panels`: a key of PANELS), so that
    a shortcut (a component rising while the task falls, a tool abandoned) is visible at a glance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ((wall, steps), (rewards, tools)) = plt.subplots(2, 2, figsize=(12, 9))
    sft = next(p for p in phases if p.name == "sft")
    sft_curve = sft.curve("eval/success")
    if sft.reuse:  # it ran before this demo: shown at negative times
        wall.axvspan(min((t / 60 for _, t, _ in sft_curve), default=0.0), 0.0, color="0.9", label="SFT phase (reused)")
    else:
        wall.axvspan(sft.start_s / 60, sft.end_s / 60, color="0.9", label="SFT phase")
    wall.plot([t / 60 for _, t, _ in sft_curve], [v for _, _, v in sft_curve], "k--", marker=".",
              label="SFT (validation success)")
    for phase in phases[1:]:
        curve = phase.heldout_curve(summary["sft_heldout_success"])
        style = ":" if phase.name.startswith("control") else "-"
        for axis, xs in ((wall, [t / 60 for _, t, _ in curve]), (steps, [s for s, _, _ in curve])):
            axis.plot(xs, [v for _, _, v in curve], style, marker="o", label=phase.name)
    steps.axhline(summary["sft_heldout_success"], color="k", linestyle="--", label="SFT model")
    seeds = [p for p in phases[1:] if not p.name.startswith("control")]
    controls = [p for p in phases[1:] if p.name.startswith("control")]
    terms, tool_names = PANELS[panels]
    for panel, names, key in ((rewards, terms, "reward/{}/mean"), (tools, tool_names, "tool_calls/{}/mean")):
        for i, name in enumerate(names):
            color = f"C{i}"
            for group, style, label in ((seeds, "-", name), (controls, ":", None)):
                if group:
                    xs, ys = mean_curve(group, key.format(name))
                    panel.plot(xs, ys, style, color=color, label=label)
    wall.set(xlabel="demo wall time (min)", ylabel="success", title="Success against wall time", ylim=(0, 1))
    steps.set(xlabel="RL step", ylabel="held-out success", title="Held-out success per RL step", ylim=(0, 1))
    rewards.set(xlabel="RL step", ylabel="batch mean",
                title="Reward components (RL seeds' mean; control dotted)")
    tools.set(xlabel="RL step", ylabel="calls per trajectory",
              title="Tool calls by type (RL seeds' mean; control dotted)")
    for axis in (wall, steps, rewards, tools):
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_demo(cfg: Config) -> None:
    out = output_dir(cfg.out)
    base = caller_overrides()
    phases = plan_phases(cfg, out)
    t0 = time.perf_counter()
    finish_phase(phases[0], start_phase(phases[0], base, out, t0, None, quiet=False), out, t0)
    parallel = cfg.demo.parallel_runs
    threads = max(1, int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1) // parallel) if parallel > 1 \
        else None
    rl = phases[1:]
    for first in range(0, len(rl), parallel):  # RL phases, `parallel` at a time
        batch = rl[first : first + parallel]
        processes = [start_phase(p, base, out, t0, threads, quiet=parallel > 1) for p in batch]
        try:
            for phase, process in zip(batch, processes):
                finish_phase(phase, process, out, t0)
        finally:  # a failed phase stops the demo: do not leave its siblings running
            for process in processes:
                if process is not None and process.poll() is None:
                    process.kill()
    summary = summarize(phases, cfg.trainer.heldout_tasks, time.perf_counter() - t0, cfg.trainer.heldout_temperature)
    (out / "demo_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    panels = "mem_alpha" if cfg.reward.preset == "mem_alpha" else "agemem"
    plot_curves(phases, summary, out / "demo_curves.png", panels)
    print("\n" + summary_table(summary, phases))
    print(f"outputs: {out.resolve()}  (demo_summary.json, demo_curves.png, one folder per phase)")
