"""The total-reward formulas (paper, official code) and the official tool-efficiency rules, hand-computed."""

import pytest

from agemem.rewards.config import RewardConfig
from agemem.rewards.formulas import formula, official_total, paper_total, tool_efficiency
from agemem.tools.schemas import ADD_MEMORY, FILTER_CONTEXT, RETRIEVE_MEMORY, SUMMARY_CONTEXT, UPDATE_MEMORY


def test_tool_efficiency_everything_used_is_the_upper_bound(b):
    traj = b.trajectory(
        b.step(1, b.result(ADD_MEMORY, content="a"), b.result(UPDATE_MEMORY, memory_id="m1", content="b")),
        b.step(2, b.result(FILTER_CONTEXT, criteria="x")),
        b.step(3, b.result(RETRIEVE_MEMORY, data={"retrieved": []}, query="q")),
        b.step(3, answer="A"),
    )  # 4 calls / 4 rounds = 1.0 ∈ [0.3, 2]: 0.3 + 0.2 + 0.2 + 0.2 + 0.1 (4 ≤ 8 rounds)
    assert tool_efficiency(traj) == pytest.approx(1.0)


def test_tool_efficiency_partial_use(b):
    traj = b.trajectory(
        b.step(1, b.result(ADD_MEMORY, content="a"), b.result(ADD_MEMORY, content="b"), b.result(ADD_MEMORY, content="c")),
        b.step(3, answer="A"),
    )  # 3 calls / 2 rounds = 1.5 in range: 0.3 + add 0.2 + rounds 0.1
    assert tool_efficiency(traj) == pytest.approx(0.6)


def test_tool_efficiency_too_many_calls_per_round_and_failed_calls(b):
    adds = [b.result(ADD_MEMORY, content=str(i)) for i in range(4)]
    failed_summary = b.result(SUMMARY_CONTEXT, ok=False, data={"error": "bad_span"}, span="x")
    traj = b.trajectory(b.step(1, *adds, failed_summary), b.step(3, answer="A"))
    # 5 calls / 2 rounds = 2.5 > 2: −0.2; add +0.2; the failed Summary earns nothing; rounds +0.1
    assert tool_efficiency(traj) == pytest.approx(0.1)


def test_tool_efficiency_many_rounds_is_clipped_at_minus_half(b):
    traj = b.trajectory(*[b.step(2) for _ in range(20)])  # 0 calls: −0.2; rounds −0.05·12 = −0.6 → −0.8
    assert tool_efficiency(traj) == -0.5
    ten = b.trajectory(*[b.step(2, b.result(FILTER_CONTEXT, criteria="x")) for _ in range(10)])
    # 10/10 = 1 in range +0.3; context +0.2; rounds −0.05·2 = −0.1
    assert tool_efficiency(ten) == pytest.approx(0.4)
    assert tool_efficiency(b.trajectory()) == pytest.approx(-0.1)  # no steps: rate −0.2, rounds +0.1


def test_paper_total_one_and_third():
    one, third = RewardConfig(paper_weights="one"), RewardConfig(paper_weights="third")
    assert paper_total(1.0, 0.5, 0.25, 0.9, -0.5, one) == pytest.approx(1.25)  # tool efficiency not included
    assert paper_total(1.0, 0.5, 0.25, 0.9, -0.5, third) == pytest.approx(1.75 / 3 - 0.5)
    with pytest.raises(ValueError, match="one.*third"):
        paper_total(1.0, 0.5, 0.25, 0.0, 0.0, RewardConfig(paper_weights="half"))


def test_official_total_weights_and_clip():
    cfg = RewardConfig(preset="agemem_official")
    assert official_total(0.8, 0.5, 0.4, 0.6, 0.0, cfg) == pytest.approx(0.4 + 0.12 + 0.075 + 0.06)
    assert official_total(1.0, 1.0, 1.0, 1.0, 0.0, cfg) == pytest.approx(1.0)
    assert official_total(-1.0, 0.0, 0.0, -0.5, -1.5, cfg) == -1.0  # −0.5 − 0.1 − 1.5 = −2.1 → clipped
    heavy = RewardConfig(preset="agemem_official", w_task=2.0)
    assert official_total(1.0, 1.0, 1.0, 1.0, 0.0, heavy) == 1.0  # 2.5 → clipped


def test_formula_registry_names_the_valid_presets():
    assert formula("agemem_paper") is paper_total
    assert formula("agemem_official") is official_total
    with pytest.raises(ValueError, match="agemem_official.*agemem_paper"):
        formula("agemem")
