"""ALFWorld on the shared games: both command syntaxes, the game's own feedback, the protocol's behaviour, and the
embedded walkthrough as the oracle."""

import pytest

pytest.importorskip("alfworld", reason="alfworld is not installed (the `envs` extra: pip install -e '.[envs]')")

from agemem.envs import make_env
from agemem.envs.alfworld import to_admissible

LAMP = "look_at_obj_in_light-AlarmClock-None-DeskLamp-308/trial_T20190908_222917_366542"
# One game per task type (the whole set is the `slow` test below).
SAMPLE = (LAMP, "pick_and_place_simple-Mug-None-Desk-308/", "pick_heat_then_place_in_recep-Apple-None-Fridge-10/")


def test_both_put_syntaxes_map_to_the_admissible_one():
    moves = ["move mug 1 to desk 2", "take mug 1 from desk 2"]
    for text in ("put mug 1 in/on desk 2", "Put mug 1 on desk 2.", "put mug 1 in the desk 2", "move mug 1 to desk 2"):
        assert to_admissible(text, moves) == "move mug 1 to desk 2", text
    puts = ["put mug 1 in/on desk 2"]
    assert to_admissible("move mug 1 to desk 2", puts) == "put mug 1 in/on desk 2"
    assert to_admissible("put mug 1 in/on desk 9", moves) == "put mug 1 in/on desk 9"  # left for the game to answer


@pytest.fixture(scope="module")
def alfworld(request):
    return make_env("alfworld", path=request.getfixturevalue("shared_data") / "alfworld" / "valid_unseen")


def _task(env, prefix: str) -> str:
    return next(t for t in env.task_ids() if t.startswith(prefix))


def test_reset_is_deterministic_and_gives_the_task(alfworld):
    assert len(alfworld.task_ids()) == 34
    first = alfworld.reset(LAMP)
    alfworld.step("go to desk 2")
    assert alfworld.reset(LAMP) == first
    assert first.goal == "examine the alarmclock with the desklamp."
    assert first.text.startswith("You are in the middle of a room.") and "go to desk 2" in first.valid_actions


def test_feedback_syntaxes_and_step_limit(shared_data):
    env = make_env("alfworld", path=shared_data / "alfworld" / "valid_unseen", step_limit=4)
    env.reset(LAMP)
    assert env.step("fly to the moon").observation == "Nothing happens."
    env.step("go to desk 2")
    assert env.step("take alarmclock 1 from desk 2").observation.startswith("You pick up the alarmclock 1")
    last = env.step("put alarmclock 1 in/on desk 2")  # the 0.4 game says "move ... to ..."
    assert last.observation.startswith("You move the alarmclock 1 to the desk 2.")
    assert last.done and not last.success and "step limit (4)" in last.observation
    with pytest.raises(RuntimeError):
        env.step("look")
    env.close()


def _play_oracle(env, task_id):
    actions = env.oracle_actions(task_id)
    env.reset(task_id)
    results = [env.step(a) for a in actions]
    assert results[-1].success and results[-1].done and results[-1].progress == 1.0, task_id
    assert not any(r.done for r in results[:-1]), task_id
    return len(actions)


@pytest.mark.parametrize("prefix", SAMPLE)
def test_the_walkthrough_wins(alfworld, prefix):
    assert _play_oracle(alfworld, _task(alfworld, prefix)) <= alfworld.step_limit


@pytest.mark.slow
def test_the_walkthrough_wins_every_shared_game(alfworld):
    """About 2 minutes on 2 cores (two game loads per game)."""
    assert all(_play_oracle(alfworld, t) <= alfworld.step_limit for t in alfworld.task_ids())
