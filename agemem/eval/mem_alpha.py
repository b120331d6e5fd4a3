"""Mem-α's evaluation (its Table 1, SPEC.md §6): an agent builds a memory from an instance's chunk stream, the
frozen reader answers every question of the instance from what the agent kept, and each instance's row reports
the reader's accuracy, the memory size in tokens and its compression against the input.

Agents on a `mem_alpha_*` benchmark (`agent.name`):
- `agemem`: the policy writing core/semantic/episodic memory, one write turn per chunk (stages/mem_alpha.py);
  the reader sees core memory plus the BM25 top-k items (`reward.reader_top_k`);
- `long_context`: no memory: the reader sees the raw input, cut to the last `eval.long_context_tokens` tokens;
- `rag`: no memory: the reader sees the BM25 top-2 raw chunks for each question.
For the two baselines the "memory" is the raw input they keep (its size is reported the same way).
"""

from collections.abc import Sequence
from typing import Any

from agemem.records import Episode, Trajectory
from agemem.rewards.judges import Judge
from agemem.rewards.mem_alpha_reader import (
    Reader,
    estimate_tokens,
    input_tokens,
    instance_questions,
    memory_context,
    memory_tokens,
    score_answers,
    top_k_texts,
)

MEM_ALPHA_AGENTS = ("agemem", "long_context", "rag")
RAG_TOP_K = 2  # Mem-α's Table 1 RAG baseline: BM25 top-2 over the raw chunks
HEADLINE = ("accuracy", "memory_tokens", "compression")


def long_context(chunks: Sequence[str], budget_tokens: int) -> list[str]:
    """The raw input cut to its last `budget_tokens` tokens: the newest chunks whole, the oldest one kept cut at
    its start when it does not fit whole."""
    kept, used = [], 0
    for chunk in reversed(chunks):
        size = estimate_tokens(chunk)
        if used + size > budget_tokens:
            room = (budget_tokens - used) * 4
            if room > 0:
                kept.append(chunk[-room:])
            break
        kept.append(chunk)
        used += size
    return kept[::-1]


def baseline_context(agent: str, episode: Episode, question: str, budget_tokens: int) -> str:
    """What a memory-less baseline's reader sees for one question."""
    if agent == "long_context":
        return "Input:\n" + "\n".join(long_context(episode.contexts, budget_tokens))
    if agent == "rag":
        return "Retrieved chunks:\n" + "\n\n".join(top_k_texts(episode.contexts, question, RAG_TOP_K))
    raise ValueError(f"agent.name={agent!r}: Mem-α benchmarks take one of {list(MEM_ALPHA_AGENTS)}")


def mem_alpha_rows(agent: str, episodes: Sequence[Episode], trajectories: Sequence[Trajectory] | None,
                   reader: Reader, judge: Judge | None, budget_tokens: int) -> list[dict[str, Any]]:
    """One row per instance: `accuracy` (mean over its questions), `memory_tokens`, `input_tokens`, `compression` (memory / input), `questions`; for `agemem` also the write
    turns' format-error rate and executed calls. All questions of the batch go to the reader in one call."""
    if agent == "agemem" and (trajectories is None or len(trajectories) != len(episodes)):
        raise ValueError("agent=agemem on a Mem-α benchmark needs one trajectory per instance")
    contexts, questions, owners = [], [], []
    for i, episode in enumerate(episodes):
        for q in instance_questions(episode):
            contexts.append(memory_context(trajectories[i].memory_final, q.question, reader.top_k)
                            if agent == "agemem" else baseline_context(agent, episode, q.question, budget_tokens))
            questions.append(q)
            owners.append(i)
    scores = score_answers(reader, judge, contexts, questions)
    rows = []
    for i, episode in enumerate(episodes):
        mine = [(q, s) for q, s, o in zip(questions, scores, owners) if o == i]
        source = input_tokens(episode)
        if agent == "agemem":
            size = memory_tokens(trajectories[i].memory_final)
        else:
            kept = long_context(episode.contexts, budget_tokens) if agent == "long_context" else episode.contexts
            size = sum(estimate_tokens(c) for c in kept)
        row = {"id": episode.id, "category": episode.category, "gold": episode.answers[0],
               "accuracy": sum(s for _, s in mine) / len(mine), "memory_tokens": float(size),
               "input_tokens": float(source), "compression": size / source if source else 0.0,
               "questions": float(len(mine))}
        if agent == "agemem":
            steps = trajectories[i].steps
            row["format_error_rate"] = sum(s.action.kind == "format_error" for s in steps) / max(len(steps), 1)
            row["tool_calls/total"] = float(sum(r.ok for s in steps for r in s.tool_results))
        rows.append(row)
    return rows
