"""The reward terms of SPEC.md §4 as small pure functions of a trajectory (paper App. A.2, eqs. 17–26).

Judge-dependent terms (R_task, R_storage, R_relevance) take the judge's scores as arguments; which texts are
judged is decided here too (`stored_entries`, `retrieved_entries`), so the batching code and the terms agree.
Conventions for the tool results come from the executor: a call "happened" only when its result has ok=True.
"""

from collections.abc import Sequence
from typing import Any

from agemem.records import Trajectory
from agemem.rewards.key_terms import context_text, extract_key_terms, terms_preserved
from agemem.tools.schemas import (
    ADD_MEMORY,
    DELETE_MEMORY,
    FILTER_CONTEXT,
    RETRIEVE_MEMORY,
    SUMMARY_CONTEXT,
    UPDATE_MEMORY,
)

CONTEXT_TOOLS = (SUMMARY_CONTEXT, FILTER_CONTEXT)
MAINTENANCE_TOOLS = (UPDATE_MEMORY, DELETE_MEMORY)
CHARS_PER_TOKEN = 4  # the official code's token estimate: characters / 4 (integer division)
TOKEN_ESTIMATES = ("tokenizer", "chars")


def task_reward(answer: str | None, judge_score: float | None, no_answer_reward: float) -> float:
    """R_task (eq. 17): the judge's score in [0, 1] when an answer was given (`answer` is not None), else P_no-answer."""
    if answer is None:
        return no_answer_reward
    if judge_score is None:
        raise ValueError("an answer was given but no judge score was passed")
    return float(judge_score)


def used_context_tokens(traj: Trajectory, token_estimate: str) -> float:
    """T_used: context tokens when answering; `chars` estimates them as characters of the final context // 4."""
    if token_estimate == "tokenizer":
        return float(traj.answer_context_tokens)
    if token_estimate == "chars":
        return float(sum(len(str(m["content"])) for m in traj.stm_final if m.get("content")) // CHARS_PER_TOKEN)
    raise ValueError(f"reward.token_estimate={token_estimate!r}: must be one of {list(TOKEN_ESTIMATES)}")


def compression_reward(used_tokens: float, budget: int) -> float:
    """R_compression = max(0, 1 − T_used / T_max) (eq. 19); 0 when no budget is recorded."""
    if budget <= 0:
        return 0.0
    return max(0.0, 1.0 - used_tokens / budget)


def preventive_reward(traj: Trajectory) -> float:
    """R_preventive (eq. 20): 1 if a Summary/Filter call succeeded at a step whose context was under the budget."""
    for step in traj.steps:
        if step.context_tokens < traj.context_budget and any(
            r.ok and r.name in CONTEXT_TOOLS for r in step.tool_results
        ):
            return 1.0
    return 0.0


def preservation_reward(question: str, answer_context: Sequence[dict[str, Any]]) -> float:
    """R_preservation (eq. 21): 1 if every key term of the query is in the context the model saw when answering
    (`Trajectory.answer_context()`: never text the answer itself added), else 0."""
    return float(terms_preserved(extract_key_terms(question), context_text(answer_context)))


def context_reward(compression: float, preventive: float, preservation: float) -> float:
    """R_context (eq. 18) with uniform α = 1/3."""
    return (compression + preventive + preservation) / 3


def stored_entries(traj: Trajectory) -> list[str]:
    """Contents of the entries added in stage 1 (ok Add_memory calls): what R_storage judges."""
    return [str(r.arguments["content"]) for r in traj.tool_results(stage=1) if r.ok and r.name == ADD_MEMORY]


def retrieved_entries(traj: Trajectory) -> list[str]:
    """Contents of every entry any ok Retrieve_memory call returned, once per entry id: what R_relevance judges."""
    seen: dict[str, str] = {}
    for r in traj.tool_results():
        if r.ok and r.name == RETRIEVE_MEMORY:
            for entry in r.data["retrieved"]:
                seen.setdefault(str(entry["id"]), str(entry["content"]))
    return list(seen.values())


def storage_reward(entry_scores: Sequence[float], threshold: float) -> float:
    """R_storage = N_high_quality / max(1, N_total) (eq. 23); an entry is high-quality when its score ≥ threshold."""
    return sum(score >= threshold for score in entry_scores) / max(1, len(entry_scores))


def maintenance_reward(traj: Trajectory) -> float:
    """R_maintenance (eq. 24): 1 if any Update_memory or Delete_memory call succeeded (any stage)."""
    return float(any(r.ok and r.name in MAINTENANCE_TOOLS for r in traj.tool_results()))


def relevance_reward(judge_score: float | None) -> float:
    """R_relevance (eq. 25): the judge's relevance of the retrieved set to q; 0 when nothing was retrieved."""
    return 0.0 if judge_score is None else float(judge_score)


def memory_reward(storage: float, maintenance: float, relevance: float) -> float:
    """R_memory (eq. 22) with uniform β = 1/3."""
    return (storage + maintenance + relevance) / 3


def penalties(traj: Trajectory, rounds_penalty: float, overflow_penalty: float) -> tuple[float, float]:
    """P_penalty terms (eq. 26): (P_rounds · 1[stage 3 ran out of rounds without an answer], P_overflow ·
    1[the context exceeded the budget itself]); the stages record both events (`stages/turn.py`)."""
    return (rounds_penalty if traj.rounds_exceeded else 0.0, overflow_penalty if traj.context_overflow else 0.0)
