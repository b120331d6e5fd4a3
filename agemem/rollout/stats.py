"""Summaries of trajectories: the per-stage table of `task=rollout` and the rollout metrics of training."""

from collections import Counter
from collections.abc import Sequence

from agemem.records import Trajectory
from agemem.tools.schemas import TOOL_NAMES

STAGE_NAMES = {1: "1 LTM construction", 2: "2 STM control", 3: "3 reasoning"}


def stage_stats(trajectories: list[Trajectory]) -> dict[int, dict[str, float]]:
    """Per stage: steps, tool calls by tool, format errors, failed calls, mean context tokens, answers given."""
    out = {}
    for stage in STAGE_NAMES:
        steps = [s for t in trajectories for s in t.steps if s.stage == stage]
        calls = Counter(r.name for s in steps for r in s.tool_results)
        out[stage] = {
            "steps": len(steps),
            **{f"calls/{name}": calls.get(name, 0) for name in TOOL_NAMES},
            "format_errors": sum(s.action.kind == "format_error" for s in steps),
            "failed_calls": sum(not r.ok for s in steps for r in s.tool_results),
            "context_tokens/mean": sum(s.context_tokens for s in steps) / max(1, len(steps)),
            "answers": sum(s.action.kind == "answer" for s in steps),
        }
    return out


def rollout_metrics(trajectories: list[Trajectory], tool_names: Sequence[str] = TOOL_NAMES) -> dict[str, float]:
    """Per-trajectory means under rollout/ (turns, response and prompt lengths, format errors, endings) and
    tool_calls/<tool> for each of `tool_names` (AgeMem's six; Mem-α's four for its runs)."""
    n = max(1, len(trajectories))
    steps = [s for t in trajectories for s in t.steps]
    calls = Counter(r.name for s in steps for r in s.tool_results)
    metrics = {
        "rollout/num_turns/mean": len(steps) / n,
        "rollout/response_length/mean": sum(len(s.response_ids) for s in steps) / max(1, len(steps)),
        "rollout/prompt_length/mean": sum(s.context_tokens for s in steps) / max(1, len(steps)),
        "rollout/format_error_rate": sum(s.action.kind == "format_error" for s in steps) / max(1, len(steps)),
        "rollout/answered": sum(t.answer is not None for t in trajectories) / n,
        "rollout/rounds_exceeded": sum(t.rounds_exceeded for t in trajectories) / n,
        "rollout/context_overflow": sum(t.context_overflow for t in trajectories) / n,
    }
    metrics.update({f"tool_calls/{name}/mean": calls.get(name, 0) / n for name in tool_names})
    return metrics


def format_stage_table(stats: dict[int, dict[str, float]]) -> str:
    """A plain-text table: one row per stage."""
    short = {"Add_memory": "add", "Update_memory": "upd", "Delete_memory": "del", "Retrieve_memory": "ret",
             "Summary_context": "sum", "Filter_context": "filt"}
    header = ["stage", "steps", *short.values(), "fmt_err", "failed", "ctx_tok", "answers"]
    rows = []
    for stage, row in stats.items():
        rows.append([STAGE_NAMES[stage], str(row["steps"]), *(str(row[f"calls/{n}"]) for n in short),
                     str(row["format_errors"]), str(row["failed_calls"]), f"{row['context_tokens/mean']:.0f}",
                     str(row["answers"])])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in [header, *rows]]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])
