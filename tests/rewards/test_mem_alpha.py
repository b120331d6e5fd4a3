"""Mem-α's per-step reward terms, hand-computed."""

import pytest

from agemem.records import ToolResult
from agemem.rewards import mem_alpha


def _r(ok):
    return ToolResult("new_memory_insert", {}, ok, "")


def test_terms():
    assert mem_alpha.qa_accuracy([1.0, 0.0, 0.5, 1.0]) == 0.625
    assert mem_alpha.qa_accuracy([]) == 0.0
    assert mem_alpha.call_success([_r(True), _r(False), _r(True), _r(True)]) == 0.75
    assert mem_alpha.call_success([]) == 0.0
    assert mem_alpha.compression(250, 1000) == 0.75
    assert mem_alpha.compression(1500, 1000) == -0.5  # not clipped
    assert mem_alpha.compression(10, 0) == 0.0
    assert mem_alpha.content_validity([True, False]) == 0.5


def test_step_rewards_hand_computed():
    values = mem_alpha.step_rewards(
        correct=[1.0, 0.0], step_results=[[_r(True), _r(False)], []], step_valid_writes=[[True], []],
        memory_length=200, input_length=1000,
    )  # r1 = 0.5, r3 = 0.8; step 1: r2 = 0.5, r4 = 1; step 2: r2 = r4 = 0
    assert values == pytest.approx([0.5 + 0.5 + 0.05 * 0.8 + 0.1 * 1.0, 0.5 + 0.05 * 0.8])
    with pytest.raises(ValueError):
        mem_alpha.step_rewards([1.0], [[]], [], 1, 1)
