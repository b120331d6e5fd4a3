"""The presets' totals (the paper's eq. 16 with weights 1 or 1/3; the official code's weighted, clipped total) and
the preset names, every value hand-computed."""

import pytest

from agemem.rewards.config import RewardConfig
from agemem.rewards.presets import check_preset, official_total, paper_total

OFFICIAL = RewardConfig(preset="agemem_official")


def test_paper_total_one_and_third():
    one, third = RewardConfig(paper_weights="one"), RewardConfig(paper_weights="third")
    assert paper_total(1.0, 0.5, 0.25, -0.5, one) == pytest.approx(1.25)
    assert paper_total(1.0, 0.5, 0.25, -0.5, third) == pytest.approx(1.75 / 3 - 0.5)
    with pytest.raises(ValueError, match="one.*third"):
        paper_total(1.0, 0.5, 0.25, 0.0, RewardConfig(paper_weights="half"))


def test_official_total_task_weighting_no_answer_and_clip():
    assert official_total(0.8, 0.5, 0.4, 0.6, 0.0, OFFICIAL) == pytest.approx(0.4 + 0.1 + 0.06 + 0.09)
    # No answer: −1 unweighted (not 0.5 · −1).
    assert official_total(None, 0.5, 0.4, 0.6, 0.0, OFFICIAL) == pytest.approx(-1 + 0.1 + 0.06 + 0.09)
    assert official_total(1.0, 1.0, 1.0, 1.0, 0.0, OFFICIAL) == 1.0  # 1.0 exactly: 0.5 + 0.2 + 0.15 + 0.15
    assert official_total(None, -0.5, 0.0, 0.0, -1.5, OFFICIAL) == -1.0  # −1 − 0.1 − 1.5 → clipped
    heavy = RewardConfig(preset="agemem_official", w_task=2.0)
    assert official_total(1.0, 1.0, 1.0, 1.0, 0.0, heavy) == 1.0  # 2.5 → clipped


def test_check_preset_names_the_valid_presets():
    assert check_preset("agemem_official") == "agemem_official"
    with pytest.raises(ValueError, match="agemem_paper.*agemem_official"):
        check_preset("agemem")
    with pytest.raises(ValueError, match="per step"):
        check_preset("mem_alpha")
