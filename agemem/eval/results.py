"""The files of an evaluation: `eval_episodes.jsonl` (one row per episode, appended as it goes, so that a killed
eval resumes where it stopped), `eval_config.json` (what the rows were made with: a resume must match it) and
`eval_summary.json` (every aggregate with its n and 95% bootstrap CI), and the table printed at the end."""

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agemem.eval.bootstrap import aggregate

ROWS = "eval_episodes.jsonl"
CONFIG = "eval_config.json"
SUMMARY = "eval_summary.json"
GROUP_KEY = "category"  # rows are also aggregated per Episode.category (LoCoMo category, LongMemEval type, …)


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The complete rows of a row file ([] when absent). A last line cut short by a kill is dropped from the file
    (it is rewritten without it); an unreadable line before it is an error naming the line."""
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8")
    complete, _, tail = text.rpartition("\n")  # every row ends with a newline: a tail without one was cut short
    if tail:
        path.write_text(complete + "\n" if complete else "", encoding="utf-8")
    rows = []
    for number, line in enumerate(complete.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{number}: not a JSON row ({err}); the file is damaged") from err
    return rows


def append_rows(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Append rows, one JSON line each, flushed to disk before returning."""
    if not rows:
        return
    with path.open("a", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def check_resume_config(path: Path, config: dict[str, Any], has_rows: bool) -> None:
    """Record `config` (a flat dict) in `path`, or, when rows exist, require it to equal the recorded one: a
    ValueError names the first field that differs."""
    if has_rows and path.is_file():
        recorded = json.loads(path.read_text(encoding="utf-8"))
        for key in sorted(set(recorded) | set(config)):
            if recorded.get(key) != config.get(key):
                raise ValueError(
                    f"{key}={config.get(key)!r}, but the rows in {path.parent / ROWS} were made with "
                    f"{key}={recorded.get(key)!r}: use another out=, resume=never to start afresh, or the same "
                    "settings to resume")
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def summarize(rows: Sequence[Mapping[str, Any]], order: Sequence[str], info: Mapping[str, Any]) -> dict[str, Any]:
    """`eval_summary.json`: `info`, the episode count and every aggregate (overall, per category, mean of the
    categories). Rows are taken in episode order (`order`: the ids), so that the CIs do not depend on the order in
    which ranks and batches wrote them; every id of `order` must have exactly one row."""
    by_id = {row["id"]: row for row in rows}
    missing = [i for i in order if i not in by_id]
    if missing or len(by_id) != len(rows) or len(rows) != len(order):
        raise ValueError(f"{len(rows)} rows for {len(order)} episodes: missing {missing[:5]}, "
                         f"{len(rows) - len(by_id)} duplicated")
    ordered = [by_id[i] for i in order]
    return {**info, "episodes": len(ordered), "aggregates": aggregate(ordered, GROUP_KEY).to_dict()}


def _fmt(value: float) -> str:
    return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"


def format_table(summary: Mapping[str, Any], headline: Sequence[str]) -> str:
    """The overall aggregates (headline metrics first) with their 95% CI and n, then the first headline metric
    per category."""
    overall = summary["aggregates"]["overall"]
    names = [m for m in headline if m in overall] + sorted(m for m in overall if m not in headline)
    lines = [f"{'metric':<32} {'mean':>9}  {'95% CI':<21} {'n':>5}"]
    for name in names:
        e = overall[name]
        lines.append(f"{name:<32} {_fmt(e['mean']):>9}  [{_fmt(e['ci_low'])}, {_fmt(e['ci_high'])}]".ljust(64)
                     + f" {e['n']:>5}")
    lead = next((m for m in headline if m in overall), None)
    groups = summary["aggregates"]["by_group"]
    if lead is not None and len(groups) > 1:
        lines += ["", f"{lead} per {GROUP_KEY}:"]
        for group, metrics in groups.items():
            e = metrics[lead]
            lines.append(f"  {group or '(none)':<30} {_fmt(e['mean']):>9}  [{_fmt(e['ci_low'])}, "
                         f"{_fmt(e['ci_high'])}]".ljust(64) + f" {e['n']:>5}")
        mean = summary["aggregates"]["group_mean"][lead]
        lines.append(f"  {'mean of the ' + GROUP_KEY + ' means':<30} {_fmt(mean['mean']):>9}  "
                     f"[{_fmt(mean['ci_low'])}, {_fmt(mean['ci_high'])}]")
    return "\n".join(lines)
