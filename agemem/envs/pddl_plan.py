"""A small STRIPS planner for the PDDL oracle: A*, then greedy best-first search, both guided by the FF heuristic.

Facts are plain tuples ("on", "b1", "b2"); a state is a frozenset of facts. The planner knows nothing of pddlgym
(pddl.py grounds the domain into `GroundAction`s), so it is tested on hand-written problems. The FF heuristic
(Hoffmann & Nebel 2001: the size of a relaxed plan that ignores delete effects) and its helpful actions keep the
search small on AgentBoard's 60 problems (all solved, 110 s on 2 cores), where counting unsatisfied goals stalls
on gripper's symmetric states and barman's plateaus.
"""

import heapq
import itertools
from dataclasses import dataclass

Fact = tuple[str, ...]
BOOST = 1000  # pops from the helpful-actions queue after progress (Fast Downward's "boost" for preferred operators)


@dataclass(frozen=True)
class GroundAction:
    """One operator with its arguments bound. The fact sets hold `Fact`s (inside the search: their numbers)."""

    name: str
    args: tuple[str, ...]
    pre: frozenset  # positive preconditions
    neg: frozenset  # facts that must be false
    add: frozenset
    delete: frozenset

    def applicable(self, state: frozenset) -> bool:
        return self.pre <= state and not (self.neg & state)

    def apply(self, state: frozenset) -> frozenset:
        """PDDL semantics: deletes first, then adds."""
        return (state - self.delete) | self.add


class _Relaxed:
    """The delete relaxation of a ground task (facts numbered), indexed once, queried per state for h_FF."""

    def __init__(self, actions: list[GroundAction], goal: frozenset[int]):
        self.actions = actions
        self.goal = goal
        self.pre_count = [len(a.pre) for a in actions]
        self.users: dict[int, list[int]] = {}
        for index, action in enumerate(actions):
            for fact in action.pre:
                self.users.setdefault(fact, []).append(index)
        self.free = [i for i, a in enumerate(actions) if not a.pre]

    def h_ff(self, state: frozenset[int]) -> tuple[float, set[int]]:
        """The size of a relaxed plan from `state` (0 at a goal state, inf when the goal is unreachable even
        relaxed), and that plan's actions (whose applicable ones are FF's helpful actions)."""
        if self.goal <= state:
            return 0, set()
        missing = list(self.pre_count)
        supporter: dict[Fact, int] = {}
        reached = set(state)
        ready = list(self.free)
        for fact in state:
            for index in self.users.get(fact, ()):
                missing[index] -= 1
                if missing[index] == 0:
                    ready.append(index)
        while ready and not self.goal <= reached:
            new_facts = []
            for index in ready:
                for fact in self.actions[index].add:
                    if fact not in reached:
                        reached.add(fact)
                        supporter[fact] = index
                        new_facts.append(fact)
            ready = []
            for fact in new_facts:
                for index in self.users.get(fact, ()):
                    missing[index] -= 1
                    if missing[index] == 0:
                        ready.append(index)
        if not self.goal <= reached:
            return float("inf"), set()
        chosen, todo, seen = set(), [f for f in self.goal if f not in state], set()
        while todo:
            fact = todo.pop()
            if fact in seen:
                continue
            seen.add(fact)
            index = supporter[fact]
            if index not in chosen:
                chosen.add(index)
                todo.extend(p for p in self.actions[index].pre if p not in state)
        return len(chosen), chosen


def plan(init: frozenset[Fact], goal: frozenset[Fact], actions: list[GroundAction],
         max_states: int = 200_000) -> list[GroundAction] | None:
    """A plan from `init` to a state containing `goal`, or None when none is found within `max_states` generated
    states. First A* guided by h_FF on a quarter of the budget (short plans: they must fit the step limit), then
    greedy best-first search with FF's helpful actions in a second, preferred queue (Fast Downward's recipe).
    Deterministic: facts are numbered in sorted order, so no string hashing decides the search order."""
    facts = sorted(init | goal | {f for a in actions for f in a.pre | a.neg | a.add | a.delete})
    number = {fact: i for i, fact in enumerate(facts)}

    def ints(group):
        return frozenset(number[f] for f in group)

    numbered = [GroundAction(a.name, a.args, ints(a.pre), ints(a.neg), ints(a.add), ints(a.delete))
                for a in actions]
    relaxed = _Relaxed(numbered, ints(goal))
    by_pre: dict[int, list[int]] = {}
    for index, action in enumerate(numbered):  # index by one precondition: only plausible actions are tested
        by_pre.setdefault(min(action.pre) if action.pre else -1, []).append(index)
    search = _Search(ints(init), ints(goal), numbered, relaxed, by_pre)
    found = search.run(greedy=False, max_states=max_states // 4) or search.run(greedy=True, max_states=max_states)
    return None if found is None else [actions[i] for i in found]


class _Search:
    """Best-first search over states; `greedy` orders by h alone and alternates with a helpful-actions queue."""

    def __init__(self, init, goal, actions, relaxed, by_pre):
        self.init, self.goal, self.actions, self.relaxed, self.by_pre = init, goal, actions, relaxed, by_pre

    def _successors(self, state: frozenset[int]):
        candidates = itertools.chain(self.by_pre.get(-1, ()), *(self.by_pre.get(f, ()) for f in state))
        for index in candidates:
            if self.actions[index].applicable(state):
                yield index, self.actions[index].apply(state)

    def run(self, greedy: bool, max_states: int) -> list[int] | None:
        """The indices of the actions of a plan, or None. Greedy search alternates between all states and those
        reached by a helpful action, and takes only the latter for `BOOST` pops after each new best h."""
        h0, helpful0 = self.relaxed.h_ff(self.init)
        if h0 == float("inf"):
            return None
        tie = itertools.count()
        queues: list[list] = [[(h0, next(tie), 0, self.init)], []]  # all states; reached by a helpful action
        parent: dict[frozenset[int], tuple[frozenset[int], int] | None] = {self.init: None}
        best_g, helpful, closed = {self.init: 0}, {self.init: helpful0}, set()
        turn, boost, best_h = 0, 0, h0
        while queues[0] or queues[1]:
            turn, boost = turn + 1, max(boost - 1, 0)
            use = 1 if boost else turn % 2
            queue = queues[use] if greedy and queues[use] else queues[0] or queues[1]
            _, _, g, state = heapq.heappop(queue)
            if self.goal <= state:
                return _path(parent, state)
            if g > best_g[state] or state in closed:  # greedy: a state can sit in both queues
                continue
            if greedy:
                closed.add(state)
            for index, child in self._successors(state):
                if child in best_g and (greedy or best_g[child] <= g + 1):
                    continue
                h, child_helpful = self.relaxed.h_ff(child)
                if h == float("inf"):
                    continue
                best_g[child], parent[child], helpful[child] = g + 1, (state, index), child_helpful
                if greedy and h < best_h:
                    best_h, boost = h, BOOST
                key = h if greedy else g + 1 + h
                heapq.heappush(queues[0], (key, next(tie), g + 1, child))
                if greedy and index in helpful[state]:
                    heapq.heappush(queues[1], (key, next(tie), g + 1, child))
                if len(best_g) > max_states:
                    return None
        return None


def _path(parent: dict, state: frozenset[int]) -> list[int]:
    steps = []
    while parent[state] is not None:
        state, index = parent[state]
        steps.append(index)
    return steps[::-1]
