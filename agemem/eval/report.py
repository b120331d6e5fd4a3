"""`task=report`: tables, bar plots and training curves from evaluation and training run folders.

An input folder (or any folder below it) holding `eval_summary.json` is an evaluation run (its rows:
`eval_episodes.jsonl`); one holding `metrics.jsonl` is a training run. `write_report` writes `report.md` with:
- Table 2 style: agents × benchmarks, the benchmark's lead metric as mean ± half the 95% CI width (n), then per
  benchmark every headline metric;
- with interactive-benchmark runs, AgeMem's Table 2 layout: agents × ALFWorld SR, SciWorld SR, BabyAI SR, PDDL SR,
  PDDL progress rate (and HotpotQA J when a HotpotQA run is given), and their average (`interactive_table`);
- Table 3 style: tool calls per episode by type, one row per evaluation run;
- memory quality and prompt tokens per episode as bar plots (95% CI error bars), `memory_quality.png`,
  `prompt_tokens.png`;
- per training run, curves of the reward (total and components), held-out success and tool calls per type,
  `train_<name>.png`;
- paired comparisons (agemem/eval/bootstrap.compare_agents) between every two evaluation runs of one benchmark
  that share episodes, on the lead metric.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agemem.eval.benchmarks import BENCHMARKS, get_benchmark
from agemem.eval.bootstrap import compare_agents, group_mean_ci
from agemem.eval.results import ROWS, SUMMARY, read_rows
from agemem.tools.schemas import TOOL_NAMES

METRICS = "metrics.jsonl"
REPORT = "report.md"


@dataclass
class EvalRun:
    """One evaluation folder: its summary and rows, and the label it gets in the tables."""

    path: Path
    summary: dict[str, Any]
    rows: list[dict[str, Any]]
    label: str = ""

    @property
    def benchmark(self) -> str:
        return str(self.summary.get("benchmark", "?"))

    def overall(self, metric: str) -> dict[str, float] | None:
        return self.summary.get("aggregates", {}).get("overall", {}).get(metric)


@dataclass
class TrainRun:
    """One training folder: its metrics records in step order."""

    path: Path
    records: list[dict[str, Any]]


def find_runs(inputs: list[str]) -> tuple[list[EvalRun], list[TrainRun]]:
    """The evaluation and training runs at or below each input folder (a missing one is a ValueError)."""
    evals, trains = [], []
    for raw in inputs:
        root = Path(raw)
        if not root.is_dir():
            raise ValueError(f"report.inputs: {raw!r} is not a folder")
        for summary in sorted([root / SUMMARY] if (root / SUMMARY).is_file() else root.rglob(SUMMARY)):
            evals.append(EvalRun(summary.parent, json.loads(summary.read_text(encoding="utf-8")),
                                 read_rows(summary.parent / ROWS)))
        for metrics in sorted([root / METRICS] if (root / METRICS).is_file() else root.rglob(METRICS)):
            records = [json.loads(line) for line in metrics.read_text(encoding="utf-8").splitlines() if line.strip()]
            trains.append(TrainRun(metrics.parent, sorted(records, key=lambda r: r.get("step", 0))))
    if not evals and not trains:
        raise ValueError(f"report.inputs={inputs}: no {SUMMARY} or {METRICS} found in them")
    _label(evals)
    return evals, trains


def _label(evals: list[EvalRun]) -> None:
    """Label = the agent; runs of one agent on one benchmark are told apart by model, then by folder."""
    for run in evals:
        run.label = str(run.summary.get("agent", "?"))
    for key in ("model_path", "folder"):
        seen: dict[tuple[str, str], int] = {}
        for run in evals:
            seen[(run.label, run.benchmark)] = seen.get((run.label, run.benchmark), 0) + 1
        for run in evals:
            if seen[(run.label, run.benchmark)] > 1:
                extra = run.path.name if key == "folder" else Path(str(run.summary.get(key) or "base")).name
                run.label = f"{run.label} [{extra}]"


def lead_metric(benchmark: str) -> str:
    """The benchmark's first headline metric (J on the QA benchmarks)."""
    return get_benchmark(benchmark).headline[0] if benchmark in BENCHMARKS else "judge"


def _cell(entry: dict[str, float] | None) -> str:
    if entry is None:
        return "–"
    return f"{entry['mean']:.3f} ± {(entry['ci_high'] - entry['ci_low']) / 2:.3f} (n={entry['n']})"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def table2(evals: list[EvalRun]) -> list[str]:
    """Agents × benchmarks on each benchmark's lead metric, then every headline metric per benchmark."""
    benchmarks = list(dict.fromkeys(r.benchmark for r in evals))
    labels = list(dict.fromkeys(r.label for r in evals))
    by = {(r.label, r.benchmark): r for r in evals}
    lines = _table(["agent", *(f"{b} ({lead_metric(b)})" for b in benchmarks)],
                   [[label, *(_cell(by[(label, b)].overall(lead_metric(b))) if (label, b) in by else "–"
                              for b in benchmarks)] for label in labels])
    for b in benchmarks:
        runs = [r for r in evals if r.benchmark == b]
        headline = get_benchmark(b).headline if b in BENCHMARKS else ("judge",)
        metrics = [m for m in (*headline, "memory_quality", "joint") if any(r.overall(m) for r in runs)]
        metrics = list(dict.fromkeys(metrics))
        lines += ["", f"**{b}**: every headline metric (mean ± half the 95% CI width, n episodes)", ""]
        lines += _table(["agent", *metrics], [[r.label, *(_cell(r.overall(m)) for m in metrics)] for r in runs])
    return lines


# AgeMem Table 2's columns: (benchmark, metric, header). The average takes one figure per benchmark: the SR of
# ALFWorld, ScienceWorld and BabyAI, PDDL's progress rate (AgentBoard's headline for it) and, when given, HotpotQA's J
# (the paper averages these five).
INTERACTIVE_COLUMNS = (("alfworld", "success", "ALFWorld SR"), ("scienceworld", "success", "SciWorld SR"),
                       ("babyai", "success", "BabyAI SR"), ("pddl", "success", "PDDL SR"),
                       ("pddl", "progress", "PDDL progress"))
HOTPOTQA_COLUMN = ("hotpotqa", "judge", "HotpotQA J")
AVERAGED = (("alfworld", "success"), ("scienceworld", "success"), ("babyai", "success"), ("pddl", "progress"),
            ("hotpotqa", "judge"))


def interactive_table(evals: list[EvalRun]) -> list[str]:
    """AgeMem's Table 2 layout (module docstring): one row per agent with an interactive-benchmark run, each cell
    mean ± half the 95% CI width (n); the average is the mean of the agent's averaged figures with a stratified
    bootstrap CI (each benchmark's episodes resampled within it), marked "(k of N)" when the agent lacks some of
    the N benchmarks shown. [] without interactive runs."""
    envs = {b for b, _, _ in INTERACTIVE_COLUMNS}
    if not any(r.benchmark in envs for r in evals):
        return []
    columns = [*INTERACTIVE_COLUMNS, *([HOTPOTQA_COLUMN] if any(r.benchmark == "hotpotqa" for r in evals) else [])]
    shown = {b for b, _, _ in columns}
    by = {(r.label, r.benchmark): r for r in evals}
    labels = list(dict.fromkeys(r.label for r in evals if r.benchmark in envs))
    rows = []
    for label in labels:
        cells = [_cell(by[(label, b)].overall(m)) if (label, b) in by else "–" for b, m, _ in columns]
        parts = {b: [float(row[m]) for row in by[(label, b)].rows if m in row]
                 for b, m in AVERAGED if b in shown and (label, b) in by}
        parts = {b: values for b, values in parts.items() if values}
        average = _cell(group_mean_ci(parts).to_dict()) if parts else "–"
        if parts and len(parts) < len(shown):
            average += f" ({len(parts)} of {len(shown)})"
        rows.append([label, *cells, average])
    named = ", ".join(h for b, m, h in columns if (b, m) in AVERAGED)
    return _table(["agent", *(h for _, _, h in columns), f"average ({named})"], rows)


def table3(evals: list[EvalRun]) -> list[str]:
    """Tool calls per episode by type (means), one row per evaluation run."""
    names = [*TOOL_NAMES, "total"]
    rows = [[r.label, r.benchmark, *(f"{e['mean']:.2f}" if (e := r.overall(f"tool_calls/{n}")) else "–"
                                     for n in names)] for r in evals]
    return _table(["agent", "benchmark", *names], rows)


def comparisons(evals: list[EvalRun]) -> list[str]:
    """Paired bootstrap of the lead metric between every two runs of one benchmark with shared episodes."""
    lines = []
    for i, a in enumerate(evals):
        for b in evals[i + 1:]:
            if a.benchmark != b.benchmark or not ({r["id"] for r in a.rows} & {r["id"] for r in b.rows}):
                continue
            metric = lead_metric(a.benchmark)
            try:
                c = compare_agents(a.rows, b.rows, metric)
            except ValueError:
                continue
            lines.append(f"| {a.benchmark} | {a.label} − {b.label} | {metric} | {c.difference:+.3f} | "
                         f"[{c.low:+.3f}, {c.high:+.3f}] | {c.n} | {c.a_better:.2f} |")
    if not lines:
        return ["No two evaluation runs share episodes."]
    return ["| benchmark | A − B | metric | difference | 95% CI | n | P(A better) |", "|---|---|---|---|---|---|---|",
            *lines]


def _bars(evals: list[EvalRun], metric: str, title: str, path: Path) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [r for r in evals if r.overall(metric)]
    if not runs:
        return False
    entries = [r.overall(metric) for r in runs]
    means = [e["mean"] for e in entries]
    errors = [[e["mean"] - e["ci_low"] for e in entries], [e["ci_high"] - e["mean"] for e in entries]]
    fig, ax = plt.subplots(figsize=(max(4, 1.2 * len(runs)), 3.5))
    ax.bar(range(len(runs)), means, yerr=errors, capsize=4)
    ax.set_xticks(range(len(runs)), [f"{r.label}\n{r.benchmark}" for r in runs], fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def _curves(run: TrainRun, path: Path) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = sorted({k for r in run.records for k, v in r.items() if isinstance(v, (int, float))})
    panels = [("reward (total and components)", [k for k in keys if k.startswith("reward/") and k.endswith("/mean")]),
              ("held-out success", [k for k in keys if "heldout_success" in k or k in ("eval/success", "eval/score")]),
              ("tool calls per type", [k for k in keys if "tool_calls/" in k])]
    panels = [(t, ks) for t, ks in panels if ks]
    if not panels:
        return False
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.5), squeeze=False)
    for ax, (title, ks) in zip(axes[0], panels):
        for k in ks:
            points = [(r.get("step", i), r[k]) for i, r in enumerate(run.records) if isinstance(r.get(k), (int, float))]
            ax.plot([p[0] for p in points], [p[1] for p in points], marker=".", label=k)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def write_report(inputs: list[str], out: Path, name: str = REPORT) -> Path:
    """Write the report and its PNGs into `out`; return the report's path."""
    out.mkdir(parents=True, exist_ok=True)
    evals, trains = find_runs(inputs)
    lines = ["# Evaluation report", "", "Inputs: " + ", ".join(f"`{i}`" for i in inputs), ""]
    if evals:
        interactive = interactive_table(evals)
        if interactive:
            lines += ["## Interactive benchmarks (AgeMem Table 2 layout)", "", *interactive, ""]
        lines += ["## Agents × benchmarks (Table 2 style)", "", *table2(evals), "",
                  "## Tool calls per episode by type (Table 3 style)", "", *table3(evals), "",
                  "## Paired comparisons (paired bootstrap, same episodes)", "", *comparisons(evals), ""]
        lines += ["## Runs", "", *(f"- {r.label} on {r.benchmark}: `{r.path}` (model {r.summary.get('model_path')}, "
                                   f"judge {r.summary.get('judge')}, {r.summary.get('episodes')} episodes)"
                                   for r in evals), ""]
        for metric, title, file in (("memory_quality", "memory quality (MQ)", "memory_quality.png"),
                                    ("prompt_tokens", "prompt tokens per episode", "prompt_tokens.png"),
                                    ("prompt_tokens_per_call", "prompt tokens per call", "prompt_tokens_per_call.png")):
            if _bars(evals, metric, title, out / file):
                lines += [f"![{title}]({file})", ""]
    if trains:
        lines += ["## Training curves", ""]
        for i, run in enumerate(trains):
            file = f"train_{i}_{run.path.name}.png"
            if _curves(run, out / file):
                lines += [f"`{run.path}` ({len(run.records)} records)", "", f"![training curves]({file})", ""]
    path = out / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
