"""BabyAI as text: the describer (hand-checked view, and minigrid's own view in every direction), the action
parser, the protocol's behaviour, and the bot oracle on every default task."""

import numpy as np
import pytest

pytest.importorskip("minigrid", reason="minigrid is not installed (the `envs` extra: pip install -e '.[envs]')")

from minigrid.core.constants import COLOR_TO_IDX, OBJECT_TO_IDX
from minigrid.core.world_object import Ball, Key

from agemem.envs import make_env
from agemem.envs.babyai import ACTIONS, describe_view, parse_action, relative_position


def _cell(kind, color="grey", state=0):
    return [OBJECT_TO_IDX[kind], COLOR_TO_IDX[color], state]


def test_describer_on_a_hand_built_view():
    # 7×7 view indexed [x, y]; the agent sits at (3, 6) looking towards y = 0. Rows y < 2 are unseen (behind the
    # wall row y = 2); a blue key right in front, a red ball 2 ahead 1 left, a locked yellow door 2 to the right,
    # the left wall 3 cells away, nothing seen to the right but floor.
    image = np.zeros((7, 7, 3), dtype=np.uint8)
    image[:, 2:] = _cell("empty")
    image[:, 2] = _cell("wall")
    image[0, 6] = _cell("wall")
    image[3, 5] = _cell("key", "blue")
    image[2, 4] = _cell("ball", "red")
    image[5, 6] = _cell("door", "yellow", state=2)
    assert describe_view(image, "a green ball") == (
        "You see a blue key 1 step forward, a locked yellow door 2 steps right, a red ball 2 steps forward and "
        "1 step left.\n"
        "Walls: 4 steps forward, 3 steps left.\n"
        "In front of you: a blue key.\n"
        "You are carrying a green ball.")


def test_describer_on_an_empty_view():
    image = np.zeros((7, 7, 3), dtype=np.uint8)
    image[3, 5] = _cell("wall")
    assert describe_view(image, None) == ("You see no objects.\nWalls: 1 step forward.\nIn front of you: a wall.\n"
                                          "You are carrying nothing.")


def test_relative_position_words():
    assert relative_position(1, 0) == "1 step forward"
    assert relative_position(0, -2) == "2 steps left"
    assert relative_position(3, 1) == "3 steps forward and 1 step right"


@pytest.mark.parametrize("direction", [0, 1, 2, 3])
def test_describer_agrees_with_minigrid_in_every_direction(direction):
    env = make_env("babyai", levels=("GoToObj",), seeds=(0,))
    env.reset("GoToObj/0")
    world = env._env.unwrapped
    for x in range(1, world.width - 1):  # an empty 8×8 room
        for y in range(1, world.height - 1):
            world.grid.set(x, y, None)
    world.agent_pos, world.agent_dir = np.array((3, 3)), direction
    ahead, right = world.dir_vec, world.right_vec
    world.grid.set(*(world.agent_pos + 2 * ahead - right), Ball("red"))
    world.grid.set(*(world.agent_pos + right), Key("blue"))
    text = describe_view(world.gen_obs()["image"], None)
    assert "a blue key 1 step right" in text and "a red ball 2 steps forward and 1 step left" in text
    if direction == 3:  # facing up from (3, 3): walls at y = 0 and x = 0; x = 7 is outside the 7×7 view
        assert "Walls: 3 steps forward, 3 steps left." in text


def test_action_texts_and_aliases():
    assert [parse_action(a) for a in ACTIONS] == list(range(7))
    assert parse_action("  Go forward. ") == 2 and parse_action("pickup") == 3 and parse_action("move_forward") == 2
    assert parse_action("fly away") is None


def test_reset_is_deterministic_per_task():
    env = make_env("babyai")
    first = env.reset("PutNextLocal/2")
    env.step("go forward")
    again = env.reset("PutNextLocal/2")
    assert first == again and first.goal.startswith("put the")
    assert env.reset("PutNextLocal/3").text != first.text
    assert len(env.task_ids()) == 60 and env.task_ids()[0] == "GoToRedBall/0"


def test_invalid_actions_get_feedback_and_cost_a_step():
    env = make_env("babyai", step_limit=3)
    env.reset("GoToLocal/0")
    wrong = env.step("jump over the wall")
    assert wrong.observation.startswith("Invalid action 'jump over the wall'. Valid actions: turn left")
    assert not wrong.done and wrong.valid_actions == list(ACTIONS)
    assert env.step("drop").observation.startswith("Nothing happens.")  # carrying nothing
    last = env.step("turn left")
    assert last.done and not last.success and last.progress == 0.0 and "step limit (3)" in last.observation
    with pytest.raises(RuntimeError):
        env.step("turn left")


def test_unknown_level_and_task():
    with pytest.raises(ValueError, match="unknown BabyAI levels"):
        make_env("babyai", levels=("GoToNowhere",))
    with pytest.raises(ValueError, match="unknown BabyAI task"):
        make_env("babyai").reset("GoToLocal/99")


def test_the_bot_solves_every_default_task_within_the_step_limit():
    env = make_env("babyai")
    for task_id in env.task_ids():
        actions = env.oracle_actions(task_id)
        assert len(actions) <= env.step_limit, task_id
        env.reset(task_id)
        results = [env.step(action) for action in actions]
        assert results[-1].success and results[-1].done and results[-1].progress == 1.0, task_id
        assert not any(r.done for r in results[:-1]), task_id
        assert "You completed the mission." in results[-1].observation
