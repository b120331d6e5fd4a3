"""ScienceWorld: the test-split table, the simulator's feedback, score as progress, and the gold path as oracle."""

import pytest

pytest.importorskip("scienceworld", reason="scienceworld is not installed (the `envs` extra: pip install -e "
                                           "'.[envs]'; it needs Java 17)")

from agemem.envs import make_env
from agemem.envs.scienceworld import TEST_VARIATIONS

# Short gold paths (4–16 steps) from different task families.
SAMPLE = ("lifespan-longest-lived/93", "find-plant/225", "chemistry-mix-paint-secondary-color/27",
          "power-component/15")


@pytest.fixture(scope="module")
def science():
    env = make_env("scienceworld", tasks=tuple(t.split("/")[0] for t in SAMPLE) + ("boil",))
    yield env
    env.close()


def test_task_ids_and_the_test_split_table(science):
    assert len(make_env("scienceworld").task_ids()) == 90
    assert science.task_ids()[:3] == ["lifespan-longest-lived/93", "lifespan-longest-lived/94",
                                      "lifespan-longest-lived/95"]
    simulator = science._load("boil/21")
    for task, variations in TEST_VARIATIONS.items():
        simulator.load(task, 0, "")
        assert tuple(simulator.get_variations_test()[:3]) == variations, task
    with pytest.raises(ValueError, match="unknown ScienceWorld tasks"):
        make_env("scienceworld", tasks=("juggle",))


def test_reset_feedback_and_step_limit():
    env = make_env("scienceworld", tasks=("boil",), variations_per_task=1, step_limit=2)
    first = env.reset("boil/21")
    assert first.goal.startswith("Your task is to boil") and first.valid_actions is None
    assert first.text.startswith("This room is called")
    assert env.step("fly to the moon").observation == "No known action matches that input."
    env.step("look around")
    assert env.reset("boil/21") == first
    env.step("look around")
    last = env.step("look around")
    assert last.done and not last.success and "step limit (2)" in last.observation
    env.close()


@pytest.mark.parametrize("task_id", SAMPLE)
def test_the_gold_path_reaches_score_100(science, task_id):
    actions = science.oracle_actions(task_id)
    science.reset(task_id)
    results = []
    for action in actions:  # a gold path may win before its final wait: play it until done
        results.append(science.step(action))
        if results[-1].done:
            break
    assert results[-1].success and results[-1].progress == 1.0, task_id
    progress = [r.progress for r in results]
    assert progress == sorted(progress) and len(results) <= science.step_limit


def test_the_same_task_plays_the_same_after_other_tasks(science):
    """Each load gets a fresh simulator: in one Java process, earlier episodes change the circuit's timing."""
    actions = science.oracle_actions("power-component/15")

    def play():
        return science.reset("power-component/15"), [science.step(a) for a in actions[:6]]

    before = play()
    science.reset("find-plant/225")
    science.step("look around")
    assert play() == before
