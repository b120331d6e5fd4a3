"""Mem-α's per-chunk-step reward (SPEC.md §6) as pure functions: r_t = r1 + r2_t + β·r3 + γ·r4_t.

- r1: QA accuracy of the final memory (the frozen reader's score over the instance's questions), shared by all steps;
- r2_t: fraction of step t's tool calls that executed (0 when the step made no call);
- r3: compression, 1 − memory_length / input_length (not clipped: a memory longer than its input is negative;
  0 when the input is empty), shared by all steps;
- r4_t: fraction of step t's writes judged valid for their memory type (0 when the step wrote nothing).
Defaults β = 0.05, γ = 0.1 (`reward.mem_alpha_beta`, `reward.mem_alpha_gamma`).
"""

from collections.abc import Sequence

from agemem.records import ToolResult


def _fraction(flags: Sequence[bool]) -> float:
    return sum(flags) / len(flags) if flags else 0.0


def qa_accuracy(correct: Sequence[float]) -> float:
    """r1: mean correctness (each in [0, 1]) of the questions answered from the final memory."""
    return sum(correct) / len(correct) if correct else 0.0


def call_success(results: Sequence[ToolResult]) -> float:
    """r2_t: fraction of the step's calls that executed (ok=True)."""
    return _fraction([r.ok for r in results])


def compression(memory_length: int, input_length: int) -> float:
    """r3 = 1 − memory_length / input_length (lengths in tokens)."""
    return 1.0 - memory_length / input_length if input_length > 0 else 0.0


def content_validity(valid: Sequence[bool]) -> float:
    """r4_t: fraction of the step's writes judged valid for their memory type."""
    return _fraction(valid)


def step_reward(r1: float, r2: float, r3: float, r4: float, beta: float = 0.05, gamma: float = 0.1) -> float:
    """r_t = r1 + r2_t + β·r3 + γ·r4_t."""
    return r1 + r2 + beta * r3 + gamma * r4


def step_rewards(
    correct: Sequence[float],
    step_results: Sequence[Sequence[ToolResult]],
    step_valid_writes: Sequence[Sequence[bool]],
    memory_length: int,
    input_length: int,
    beta: float = 0.05,
    gamma: float = 0.1,
) -> list[float]:
    """r_t for every chunk step of one rollout (r1 and r3 shared, r2_t and r4_t per step)."""
    if len(step_results) != len(step_valid_writes):
        raise ValueError("step_results and step_valid_writes need one entry per chunk step")
    r1, r3 = qa_accuracy(correct), compression(memory_length, input_length)
    return [
        step_reward(r1, call_success(results), r3, content_validity(valid), beta, gamma)
        for results, valid in zip(step_results, step_valid_writes)
    ]
