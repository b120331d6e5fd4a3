"""The official-code preset's reward terms (`reward=agemem_official`; SPEC.md §4 "Official-code preset"), as
small pure functions.

Read from the official repository (`memory_reward/my_reward.py`, `ThreeStageRewardCalculator`; weights from its
training workflow). One deliberate deviation, as SPEC.md §4 asks: where the official code counts a tool as used
when its name appears in assistant text, and counts failed Update/Delete calls as maintenance, these terms count
executed, successful calls from the tool results (the trajectory's event log). docs/FIDELITY.md lists every rule.

    tool    = clip(scale + existence + efficiency, −0.5, 1)
      scale      = +0.2 if 0.3 ≤ calls/rounds ≤ 2, −0.1 if calls/rounds > 3, else 0
      existence  = 0.2·[Retrieve used] + 0.2·[Summary or Filter used] + 0.1·[Add used]
      efficiency = 0.2·(1 − rounds/max_rounds)            rounds: stage-3 model calls (finished_at_round)
    context = (compression + preventive + preservation)/3, on chars/4 of the final context
    memory  = (storage + maintenance + relevance)/3, LLM-judged storage and relevance with rule fallbacks;
              maintenance is the paper's (`paper_terms.maintenance_reward`: a successful Update or Delete)
    P       = −1·[rounds ≥ max_rounds] − 0.5·[chars/4 of the final context > budget]
The weighted, clipped total (with its task term: 0.5·score, or −1 without an answer) is in presets.py.
"""

import re
from collections.abc import Sequence
from typing import Any

from agemem.records import Trajectory
from agemem.tools.schemas import (
    ADD_MEMORY,
    FILTER_CONTEXT,
    RETRIEVE_MEMORY,
    SUMMARY_CONTEXT,
)

CALLS_PER_ROUND_RANGE = (0.3, 2.0)
SCALE_IN_RANGE = 0.2
SCALE_TOO_MANY_ABOVE, SCALE_TOO_MANY = 3.0, -0.1
EXISTENCE = {RETRIEVE_MEMORY: 0.2, "context": 0.2, ADD_MEMORY: 0.1}
EFFICIENCY_WEIGHT = 0.2
TOOL_CLIP = (-0.5, 1.0)
CHARS_PER_TOKEN = 4.0  # float division, as the official code's approx_tokens
JUDGED_SAMPLE = 10  # the official judge prompts list the first 10 added entries / retrieved items
STORAGE_FALLBACK_SCALE = 0.3
STORAGE_FALLBACK_MIN_CHARS = 50
STORAGE_FALLBACK_KEYWORDS = ("important", "key", "remember", "note")
RELEVANCE_FOLLOWED, RELEVANCE_NOT_FOLLOWED = 0.5, 0.2
PRESERVATION_MIN_WORD_CHARS = 3  # words longer than this are key tokens
PRESERVATION_SHARE = 0.5
_WORD = re.compile(r"\b\w+\b")


def clip(value: float, bounds: tuple[float, float]) -> float:
    """`value` limited to [low, high]."""
    return min(max(value, bounds[0]), bounds[1])


def _used(traj: Trajectory, *names: str) -> bool:
    return any(r.ok and r.name in names for r in traj.tool_results())


def stage3_rounds(traj: Trajectory) -> int:
    """Model calls of stage 3 (the official code's `finished_at_round`)."""
    return sum(s.stage == 3 for s in traj.steps)


def _max_rounds(traj: Trajectory) -> int:
    if traj.max_rounds <= 0:
        raise ValueError(f"trajectory of episode {traj.episode_id!r} records no max_rounds: the official reward's "
                         "efficiency and round penalty need it (rollouts record curriculum.max_rounds)")
    return traj.max_rounds


def tool_term(traj: Trajectory) -> float:
    """R_tool ∈ [−0.5, 1]: scale (calls per stage-3 round) + existence of key tools + round efficiency."""
    rounds = stage3_rounds(traj)
    calls = sum(r.ok for r in traj.tool_results())
    ratio = calls / max(1, rounds)
    low, high = CALLS_PER_ROUND_RANGE
    scale = SCALE_IN_RANGE if low <= ratio <= high else (SCALE_TOO_MANY if ratio > SCALE_TOO_MANY_ABOVE else 0.0)
    existence = (EXISTENCE[RETRIEVE_MEMORY] * _used(traj, RETRIEVE_MEMORY)
                 + EXISTENCE["context"] * _used(traj, SUMMARY_CONTEXT, FILTER_CONTEXT)
                 + EXISTENCE[ADD_MEMORY] * _used(traj, ADD_MEMORY))
    efficiency = EFFICIENCY_WEIGHT * (1.0 - rounds / _max_rounds(traj))
    return clip(scale + existence + efficiency, TOOL_CLIP)


def approx_tokens(messages: Sequence[dict[str, Any]]) -> float:
    """The official token estimate: characters of every message's content / 4 (float)."""
    return sum(len(str(m.get("content") or "")) for m in messages) / CHARS_PER_TOKEN


def overflowed(traj: Trajectory) -> bool:
    """The official overflow: chars/4 of the final context above the budget."""
    return approx_tokens(traj.stm_final) > traj.context_budget


def compression(traj: Trajectory) -> float:
    """r_compression = max(0, 1 − (chars/4)/budget) of the final context; 0 when no budget is recorded."""
    if traj.context_budget <= 0:
        return 0.0
    return max(0.0, 1.0 - approx_tokens(traj.stm_final) / traj.context_budget)


def preventive(traj: Trajectory) -> float:
    """r_preventive = 1 if Summary/Filter succeeded and the final context did not overflow."""
    return float(_used(traj, SUMMARY_CONTEXT, FILTER_CONTEXT) and not overflowed(traj))


def key_tokens(text: str) -> list[str]:
    """The official key tokens of a query: its words longer than 3 characters, lower-cased."""
    return [w.lower() for w in _WORD.findall(text) if len(w) > PRESERVATION_MIN_WORD_CHARS]


def preservation(question: str, context: Sequence[dict[str, Any]]) -> float:
    """r_preservation = 1 if the query is still in the context and at least half of its key tokens appear in it.

    The official code takes "the query" to be the first user message not starting with "[", which in its
    rollouts is the stage-3 question unless a stage-2 distractor survived; here it is the question itself (our
    inputs all carry a "[…]" header). Measured on the context the model saw when answering.
    """
    users = [str(m.get("content") or "") for m in context if m.get("role") == "user"]
    if not any(question in u for u in users):
        return 0.0
    tokens = key_tokens(question)
    if not tokens:
        return 1.0
    text = " ".join(str(m.get("content") or "").lower() for m in context)
    return float(sum(t in text for t in tokens) / len(tokens) >= PRESERVATION_SHARE)


def added_entries(traj: Trajectory) -> list[str]:
    """Contents of every successful Add_memory call, in order (any stage)."""
    return [str(r.arguments["content"]) for r in traj.tool_results() if r.ok and r.name == ADD_MEMORY]


def storage_fallback(entries: Sequence[str]) -> float:
    """Without an LLM judge: 0.3 × the share of added entries longer than 50 characters that contain "important",
    "key", "remember" or "note" (0 with no entries)."""
    if not entries:
        return 0.0
    good = sum(len(e) > STORAGE_FALLBACK_MIN_CHARS and any(k in e.lower() for k in STORAGE_FALLBACK_KEYWORDS)
               for e in entries)
    return STORAGE_FALLBACK_SCALE * good / len(entries)


def storage(llm_scores: Sequence[float] | None, entries: Sequence[str], threshold: float) -> float:
    """r_storage: the LLM's high-quality count among the first 10 added entries / their number (an entry is
    high-quality when its score ≥ threshold); the rule fallback when there is no LLM verdict (`llm_scores` None)."""
    if llm_scores is None:
        return storage_fallback(entries)
    return sum(s >= threshold for s in llm_scores) / max(1, len(llm_scores))


def retrievals(traj: Trajectory) -> list[tuple[int, list[str]]]:
    """(step index, retrieved contents) of every successful Retrieve_memory call that found something."""
    found = []
    for i, step in enumerate(traj.steps):
        for r in step.tool_results:
            if r.ok and r.name == RETRIEVE_MEMORY and r.data.get("retrieved"):
                found.append((i, [str(e["content"]) for e in r.data["retrieved"]]))
    return found


def relevance_fallback(traj: Trajectory) -> float:
    """Without an LLM judge: 0.5 if a retrieval was followed by another model call, 0.2 if not, 0 without one."""
    found = retrievals(traj)
    if not found:
        return 0.0
    followed = any(i < len(traj.steps) - 1 for i, _ in found)
    return RELEVANCE_FOLLOWED if followed else RELEVANCE_NOT_FOLLOWED


def retrieved_items(traj: Trajectory) -> list[str]:
    """The first 10 retrieved items, in order: what the official relevance prompt lists."""
    return [c for _, contents in retrievals(traj) for c in contents][:JUDGED_SAMPLE]


def penalties(traj: Trajectory, rounds_penalty: float, overflow_penalty: float) -> tuple[float, float]:
    """(−1·[stage-3 rounds ≥ max_rounds], −0.5·[official overflow]): the official round rule charges using every
    stage-3 round even when the last one answered."""
    return (rounds_penalty if stage3_rounds(traj) >= _max_rounds(traj) else 0.0,
            overflow_penalty if overflowed(traj) else 0.0)
