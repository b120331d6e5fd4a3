"""The STRIPS planner on hand-written tasks (no pddlgym needed)."""

from agemem.envs.pddl_plan import GroundAction, plan


def _action(name, args, pre=(), add=(), delete=(), neg=()):
    return GroundAction(name, args, frozenset(pre), frozenset(neg), frozenset(add), frozenset(delete))


def _blocks(blocks):
    """The four blocks-world operators grounded over `blocks`."""
    actions = []
    for b in blocks:
        actions.append(_action("pickup", (b,), [("clear", b), ("on-table", b), ("arm-empty",)], [("holding", b)],
                               [("clear", b), ("on-table", b), ("arm-empty",)]))
        actions.append(_action("putdown", (b,), [("holding", b)], [("clear", b), ("arm-empty",), ("on-table", b)],
                               [("holding", b)]))
        for u in blocks:
            if u != b:
                actions.append(_action("stack", (b, u), [("clear", u), ("holding", b)],
                                       [("arm-empty",), ("clear", b), ("on", b, u)], [("clear", u), ("holding", b)]))
                actions.append(_action("unstack", (b, u), [("on", b, u), ("clear", b), ("arm-empty",)],
                                       [("holding", b), ("clear", u)], [("on", b, u), ("clear", b), ("arm-empty",)]))
    return actions


def _run(init, actions, steps):
    state = frozenset(init)
    for step in steps:
        assert step.applicable(state), step
        state = step.apply(state)
    return state


def test_blocks_inversion_is_solved_optimally():
    # a on b on c → c on b on a: unstack a b, putdown a, unstack b c, stack b a, pickup c, stack c b
    init = {("arm-empty",), ("on", "a", "b"), ("on", "b", "c"), ("on-table", "c"), ("clear", "a")}
    goal = frozenset({("on", "c", "b"), ("on", "b", "a")})
    actions = _blocks("abc")
    found = plan(frozenset(init), goal, actions)
    assert goal <= _run(init, actions, found)
    assert [(a.name, a.args) for a in found] == [("unstack", ("a", "b")), ("putdown", ("a",)),
                                                  ("unstack", ("b", "c")), ("stack", ("b", "a")),
                                                  ("pickup", ("c",)), ("stack", ("c", "b"))]


def test_goal_true_at_the_start_gives_the_empty_plan():
    assert plan(frozenset({("p",)}), frozenset({("p",)}), []) == []


def test_unreachable_goal_gives_none():
    actions = [_action("make-q", (), [("p",)], [("q",)])]
    assert plan(frozenset({("p",)}), frozenset({("r",)}), actions) is None


def test_negative_preconditions_and_deletes_are_respected():
    # `switch` needs "broken" false; the only way to "done" is `switch` then `finish`.
    actions = [_action("switch", (), [], [("on",)], neg=[("broken",)]),
               _action("finish", (), [("on",)], [("done",)], [("on",)])]
    assert plan(frozenset({("broken",)}), frozenset({("done",)}), actions) is None
    assert [a.name for a in plan(frozenset(), frozenset({("done",)}), actions)] == ["switch", "finish"]


def test_the_plan_is_the_same_on_every_call():
    init = frozenset({("arm-empty",), ("on", "a", "b"), ("on", "b", "c"), ("on-table", "c"), ("clear", "a"),
                      ("on-table", "d"), ("clear", "d")})
    goal = frozenset({("on", "d", "a"), ("on", "c", "d")})
    actions = _blocks("abcd")
    assert plan(init, goal, actions) == plan(init, goal, list(actions))
