"""PDDL as text: action text ↔ operator round trips, AgentBoard's progress rate, the protocol's behaviour, and the
planner oracle, on the test's own small problems (data/pddl) and on AgentBoard's 60 (../shared/data/pddl)."""

from pathlib import Path

import pytest

pytest.importorskip("pddlgym", reason="pddlgym is not installed (the `envs` extra, then "
                                      "pip install --no-deps pddlgym==0.0.7)")

from agemem.envs import make_env
from agemem.envs.pddl import parse_action

OWN = Path(__file__).parent / "data" / "pddl"
# Quick ones, one or two per AgentBoard domain (the whole set runs in the `slow` test below).
SHARED_SAMPLE = ("blockworld/problem1", "blockworld/problem10", "gripper/prob01", "tyreworld/p01", "barman/p14",
                 "barman/p02")


@pytest.fixture()
def own():
    return make_env("pddl", path=OWN)


@pytest.fixture(scope="module")
def shared(request):
    data = request.getfixturevalue("shared_data") / "pddl"
    return make_env("pddl", path=data)


def test_task_ids_are_in_natural_order(own):
    assert own.task_ids() == ["blocks/p1", "blocks/p2", "delivery/p1"]


def test_reset_is_deterministic_and_shows_goal_state_and_actions(own):
    first = own.reset("blocks/p1")
    own.step("unstack a b")
    assert own.reset("blocks/p1") == first
    assert first.goal == "The goal is to satisfy the following conditions: (on b a), (on c b)."
    assert first.text == "Current state: (arm-empty), (clear a), (clear c), (on a b), (on-table b), (on-table c)."
    assert first.valid_actions == ["pickup c", "unstack a b"]


def test_action_text_forms_all_parse_to_the_operator():
    arities = {"unstack": 2, "pickup": 1, "putdown": 1, "jack-up": 1, "fetch": 2}
    objects = {"a", "b", "jack", "boot", "the-hub1"}
    for text in ("unstack a b", "unstack(a, b)", "(unstack a b)", "Unstack a from b.", "UNSTACK  a  b"):
        assert parse_action(text, arities, objects) == ("unstack", ("a", "b")), text
    assert parse_action("pick up a", arities, objects) == ("pickup", ("a",))
    assert parse_action("jack up the-hub1", arities, objects) == ("jack-up", ("the-hub1",))
    assert parse_action("fetch jack from boot", arities, objects) == ("fetch", ("jack", "boot"))
    assert parse_action("unstack a", arities, objects) is None  # too few objects
    assert parse_action("dance with b", arities, objects) is None


def test_invalid_actions_get_feedback_and_cost_steps(own):
    env = make_env("pddl", path=OWN, step_limit=3)
    env.reset("blocks/p1")
    unknown = env.step("fly to the moon")
    assert unknown.observation.startswith("The action is not valid and therefore takes no effect.")
    assert "'pickup c'" in unknown.observation and not unknown.done
    blocked = env.step("stack a c")
    assert "'stack a c' is not applicable" in blocked.observation
    last = env.step("check valid actions")
    assert last.observation == "Valid actions: pickup c, unstack a b." + "\nThe step limit (3) is reached."
    assert last.done and not last.success
    with pytest.raises(RuntimeError):
        env.step("pickup c")


def test_progress_is_the_best_fraction_of_goal_facts_reached(own):
    own.reset("blocks/p2")  # goal: (on-table a), (on c a)
    steps = [own.step(a) for a in ("unstack a b", "putdown a", "look around", "pickup a", "putdown a",
                                   "pickup c", "stack c a")]
    assert [s.progress for s in steps] == [0.0, 0.5, 0.5, 0.5, 0.5, 0.5, 1.0]
    assert steps[3].observation.startswith("You performed: pickup a.\nCurrent state: (clear b), (clear c), "
                                           "(holding a)")
    assert steps[2].observation.startswith("Current state: (arm-empty), (clear a)")
    assert steps[-1].success and steps[-1].done and steps[-1].observation.endswith("The goal is satisfied.")


def test_typed_domain_with_constants_and_the_oracle(own):
    for task_id in own.task_ids():
        _play_oracle(own, task_id)


def _play_oracle(env, task_id: str) -> int:
    actions = env.oracle_actions(task_id)
    env.reset(task_id)
    results = [env.step(a) for a in actions]
    assert all("not valid" not in r.observation for r in results), task_id
    assert results[-1].success and results[-1].progress == 1.0, task_id
    return len(actions)


def test_shared_problems_are_the_60_of_agentboard(shared):
    ids = shared.task_ids()
    assert len(ids) == 60
    assert {t.split("/")[0] for t in ids} == {"barman", "blockworld", "gripper", "tyreworld"}


def test_valid_action_texts_round_trip_on_every_shared_domain(shared):
    for task_id in ("barman/p01", "blockworld/problem1", "gripper/prob01", "tyreworld/p01"):
        start = shared.reset(task_id)
        env = shared._envs[task_id.split("/")[0]]
        arities = {name: len(op.params) for name, op in env.domain.operators.items()}
        objects = {o.name for o in shared._state.objects}
        assert start.valid_actions, task_id
        for text in start.valid_actions:
            name, *args = text.split()
            for form in (text, f"{name}({', '.join(args)})", f"({text})"):
                assert parse_action(form, arities, objects) == (name, tuple(args)), form
        step = shared.step(f"{start.valid_actions[0].split()[0]}({', '.join(start.valid_actions[0].split()[1:])})")
        assert step.observation.startswith("You performed: " + start.valid_actions[0]), task_id


def test_agentboard_phrasings_are_understood(shared):
    shared.reset("gripper/prob01")
    assert shared.step("Pick up ball1 at rooma with arm left").observation.startswith(
        "You performed: pick ball1 rooma left")
    shared.reset("tyreworld/p01")
    assert shared.step("Open boot.").observation.startswith("You performed: open boot")
    assert shared.step("Fetch jack from boot.").observation.startswith("You performed: fetch jack boot")


@pytest.mark.parametrize("task_id", SHARED_SAMPLE)
def test_the_planner_solves_shared_problems_within_the_step_limit(shared, task_id):
    assert _play_oracle(shared, task_id) <= shared.step_limit


@pytest.mark.slow
def test_the_planner_solves_all_60_shared_problems(shared):
    """About 2 minutes on 2 cores. 54 plans fit AgentBoard's 30 steps; gripper's 11–12-ball problems need at least
    35 and tyreworld/p04 39, so the whole set is checked with the limit lifted."""
    unlimited = make_env("pddl", path=shared.path, step_limit=1000)
    lengths = {task_id: _play_oracle(unlimited, task_id) for task_id in unlimited.task_ids()}
    assert len(lengths) == 60
    assert sum(n <= 30 for n in lengths.values()) >= 50


def test_the_oracle_can_be_asked_in_the_middle_of_an_episode(own):
    own.reset("blocks/p2")
    own.step("unstack a b")
    own.oracle_actions("blocks/p1")  # resets the domain's pddlgym env to another problem
    assert own.step("putdown a").progress == 0.5
