"""Memory quality (paper Fig. 2): the final LTM against the supporting facts, rule-based or LLM-judged."""

import pytest

from agemem.rewards import memory_quality
from agemem.rewards.judges import LLMJudge, RuleJudge
from agemem.rewards.quality import memory_quality_metrics


def _with_ltm(b, *contents, episode_id="e1"):
    ltm = [{"id": f"m{i}", "content": c, "metadata": {}} for i, c in enumerate(contents)]
    return b.trajectory(ltm_final=ltm, episode_id=episode_id)


def test_rule_memory_quality_is_fact_coverage(b):
    episodes = {"e1": b.episode()}  # facts: Muse (8 content words), Raconteurs (6 content words)
    trajs = [
        _with_ltm(b, "Muse: English rock band formed 1994, three members.", "Raconteurs: American rock band, four members"),
        _with_ltm(b, "Muse has three members.", "The Raconteurs are an American band."),  # 3/8 and 3/6
        _with_ltm(b, "Muse has three members.", "Raconteurs: American rock band, four members"),
        _with_ltm(b),  # empty memory
    ]
    assert memory_quality(trajs, episodes, RuleJudge(overlap_threshold=0.5)) == [1.0, 0.5, 0.5, 0.0]


class Backend:
    model_id = "fixed"

    def __init__(self):
        self.prompts = []

    def complete(self, prompts):
        self.prompts.extend(prompts)
        return ["0.75"] * len(prompts)


def test_llm_memory_quality_one_batch_and_empty_memory_skipped(b):
    backend = Backend()
    trajs = [_with_ltm(b, "Muse has three members."), _with_ltm(b), _with_ltm(b, "x", "y")]
    values = memory_quality(trajs, {"e1": b.episode()}, LLMJudge(backend, RuleJudge()))
    assert values == [0.75, 0.0, 0.75] and len(backend.prompts) == 2
    assert "Muse has three members." in backend.prompts[0][1] and "Expected supporting facts" in backend.prompts[0][1]


def test_quality_metrics():
    assert memory_quality_metrics([0.5, 1.0]) == {"memory/quality/mean": pytest.approx(0.75)}
    assert memory_quality_metrics([]) == {"memory/quality/mean": 0.0}
