"""PDDL planning problems as text (AgentBoard's PDDL benchmark): pddlgym runs the domain, actions are operator
texts, the oracle is a planner (pddl_plan.py). A task is "<domain>/<problem>" ("blockworld/problem3") under a
folder holding `<domain>.pddl` and `<domain>/*.pddl` (default: ../shared/data/pddl, AgentBoard's 60 problems).

What the agent reads follows AgentBoard: the goal facts; the whole state at the start and after each action, except
in barman and tyreworld where only the facts that changed are shown ("look around" shows the whole state);
"check valid actions" lists the applicable actions. Both cost a step, as there. Facts are written as PDDL atoms,
"(on b1 b2)"; actions as the operator and its arguments, "unstack b1 b2". The parser also takes the literal form
"unstack(b1, b2)", "(unstack b1 b2)" and AgentBoard's phrasing "Unstack b1 from b2." (the operator's name, its
words may be split — "pick up" for pickup, "jack up" for jack-up — then the object names in order).

Progress is AgentBoard's progress rate: the highest fraction of goal facts true in a state an action produced.
"""

import contextlib
import io
import re
from itertools import product
from pathlib import Path

from agemem import PROJECT_ROOT
from agemem.envs.pddl_plan import Fact, GroundAction, plan
from agemem.envs.protocol import AGENTBOARD_STEP_LIMIT, EnvObservation, EnvStep, EpisodeClock, not_started

with contextlib.redirect_stderr(io.StringIO()):  # gym 0.26 prints a deprecation notice on import
    from pddlgym.core import PDDLEnv
    from pddlgym.structs import LiteralConjunction, ground_literal

DEFAULT_PATH = PROJECT_ROOT.parent / "shared" / "data" / "pddl"
CHANGES_ONLY = ("barman", "tyreworld")  # AgentBoard shows only what changed in these (their states are long)
CHECK_ACTIONS, LOOK_AROUND = "check valid actions", "look around"
_NOT_VALID = "The action is not valid and therefore takes no effect."
_PLANNER_CAP = 200_000  # generated states before the oracle gives up on a problem


def fact_of(literal) -> Fact:
    """A pddlgym literal as a plain tuple: on(b1:block, b2:block) → ("on", "b1", "b2")."""
    return (literal.predicate.name, *(v.name for v in literal.variables))


def fact_text(fact: Fact) -> str:
    return "(" + " ".join(fact) + ")"


def format_action(name: str, args: tuple[str, ...]) -> str:
    return " ".join((name, *args))


def _facts_text(facts) -> str:
    return ", ".join(fact_text(f) for f in sorted(facts)) or "nothing"


def parse_action(text: str, arities: dict[str, int], objects: set[str]) -> tuple[str, tuple[str, ...]] | None:
    """(operator, arguments) of an action text, or None when no operator with the right number of objects is
    named. `arities` maps operator names to their parameter counts; `objects` are the problem's object names."""
    tokens = re.findall(r"[a-z0-9_\-]+", text.lower())
    names = sorted(arities, key=len, reverse=True)
    for start in range(len(tokens)):
        for name in names:
            span = _match_name(tokens, start, name)
            if span:
                rest = tokens[:start] + tokens[start + span:]
                args = tuple(t for t in rest if t in objects)
                return (name, args) if len(args) == arities[name] else None
    return None


def _match_name(tokens: list[str], start: int, name: str) -> int:
    """How many tokens from `start` spell `name` ("jack-up", "jack up", "pick up" for pickup); 0 if none."""
    if tokens[start] == name:
        return 1
    parts = name.split("-")
    if len(parts) > 1 and tokens[start:start + len(parts)] == parts:
        return len(parts)
    if start + 1 < len(tokens) and tokens[start] + tokens[start + 1] == name:
        return 2
    return 0


def ground_actions(domain, objects, init: frozenset[Fact]) -> list[GroundAction]:
    """Every ground operator of `domain` over `objects` whose static preconditions hold in `init` (predicates no
    operator changes), with distinct arguments (pddlgym's convention)."""
    effects = {op: (op.effects.literals if isinstance(op.effects, LiteralConjunction) else [op.effects])
               for op in domain.operators.values()}
    changed = {lit.predicate.name for lits in effects.values() for lit in lits}
    pool = sorted(set(objects) | set(domain.constants))  # sorted: the same ground actions, in the same order, every run
    actions = []
    for op, lifted_effects in effects.items():
        preconds = op.preconds.literals if isinstance(op.preconds, LiteralConjunction) else [op.preconds]
        choices = [[o for o in pool if p.var_type in domain.type_to_parent_types[o.var_type]] for p in op.params]
        for combo in product(*choices):
            if len(set(combo)) != len(combo):
                continue
            subs = dict(zip(op.params, combo)) | {c: c for c in domain.constants}
            pre = [(fact_of(ground_literal(lit, subs)), lit.is_negative) for lit in preconds]
            if any(f[0] not in changed and (f in init) == negative for f, negative in pre):
                continue
            grounded = [ground_literal(lit, subs) for lit in lifted_effects]
            actions.append(GroundAction(
                op.name, tuple(o.name for o in combo),
                frozenset(f for f, negative in pre if not negative), frozenset(f for f, negative in pre if negative),
                frozenset(fact_of(e) for e in grounded if not e.is_anti),
                frozenset(fact_of(e.inverted_anti) for e in grounded if e.is_anti)))
    return actions


def _natural_key(task_id: str) -> tuple:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", task_id))


class PDDLTextEnv:
    """AgentBoard's PDDL problems (or any folder of the same layout) as a `TextEnv`."""

    name = "pddl"

    def __init__(self, path: str | Path | None = None, step_limit: int = AGENTBOARD_STEP_LIMIT):
        self.path = Path(path) if path is not None else DEFAULT_PATH
        domains = sorted(p.stem for p in self.path.glob("*.pddl") if (self.path / p.stem).is_dir())
        if not domains:
            raise FileNotFoundError(f"no PDDL domains under {self.path} (expected <domain>.pddl beside a <domain>/ "
                                    "folder of problems; the AgentBoard problems are in ../shared/data/pddl)")
        self._tasks = sorted((f"{d}/{p.stem}" for d in domains for p in (self.path / d).glob("*.pddl")),
                             key=_natural_key)
        self.step_limit = step_limit
        self._envs: dict[str, PDDLEnv] = {}
        self._clock = not_started()

    def task_ids(self) -> list[str]:
        return list(self._tasks)

    def _start(self, task_id: str):
        """A pddlgym env reset to `task_id`, and its initial state."""
        if task_id not in self._tasks:
            raise ValueError(f"unknown PDDL task {task_id!r}; valid ids look like {self._tasks[0]!r}")
        domain, problem = task_id.split("/")
        if domain not in self._envs:
            self._envs[domain] = PDDLEnv(str(self.path / f"{domain}.pddl"), str(self.path / domain),
                                         operators_as_actions=True, dynamic_action_space=True)
        env = self._envs[domain]
        env.fix_problem_index([Path(p.problem_fname).stem for p in env.problems].index(problem))
        state, _ = env.reset()
        if not isinstance(state.goal, LiteralConjunction) or any(
                lit.is_negative or lit.is_anti for lit in state.goal.literals):
            raise ValueError(f"{task_id}: only goals that are conjunctions of positive facts are supported")
        return env, state

    def reset(self, task_id: str) -> EnvObservation:
        self._env, self._state = self._start(task_id)
        self._domain = task_id.split("/")[0]
        self._goal = frozenset(fact_of(lit) for lit in self._state.goal.literals)
        self._clock = EpisodeClock(self.step_limit)
        goal = "The goal is to satisfy the following conditions: " + _facts_text(self._goal) + "."
        return EnvObservation("Current state: " + self._state_text() + ".", goal, self._valid_texts())

    def _facts(self) -> frozenset[Fact]:
        return frozenset(fact_of(lit) for lit in self._state.literals)

    def _state_text(self) -> str:
        return _facts_text(self._facts())

    def _valid(self) -> dict[str, object]:
        facts = {fact_of(lit): lit for lit in self._env.action_space.all_ground_literals(self._state)}
        return {format_action(f[0], f[1:]): lit for f, lit in facts.items()}

    def _valid_texts(self) -> list[str]:
        return sorted(self._valid())

    def step(self, action_text: str) -> EnvStep:
        self._clock.tick()
        command = " ".join(action_text.lower().split()).strip(" .")
        if command == CHECK_ACTIONS:
            return self._finish("Valid actions: " + ", ".join(self._valid_texts()) + ".", False)
        if command == LOOK_AROUND:
            return self._finish("Current state: " + self._state_text() + ".", False)
        valid = self._valid()
        arities = {name: len(op.params) for name, op in self._env.domain.operators.items()}
        parsed = parse_action(action_text, arities, {o.name for o in self._state.objects})
        if parsed is None:
            return self._finish(f"{_NOT_VALID} It names no operator with its objects; valid actions look like "
                                f"{next(iter(sorted(valid)), 'none')!r} (say {CHECK_ACTIONS!r} to list them).", False)
        text = format_action(*parsed)
        if text not in valid:
            return self._finish(f"{_NOT_VALID} {text!r} is not applicable in the current state.", False)
        before = self._facts()
        self._env.set_state(self._state)  # the domain's pddlgym env is shared with `oracle_actions`
        self._state, _, _, _, _ = self._env.step(valid[text])
        after = self._facts()
        if self._domain in CHANGES_ONLY:
            observation = (f"You performed: {text}.\nNow true: {_facts_text(after - before)}.\n"
                           f"No longer true: {_facts_text(before - after)}.")
        else:
            observation = f"You performed: {text}.\nCurrent state: {_facts_text(after)}."
        return self._finish(observation, after != before)

    def _finish(self, observation: str, changed: bool) -> EnvStep:
        facts = self._facts()
        success = self._goal <= facts
        progress = len(self._goal & facts) / len(self._goal) if changed and self._goal else 0.0
        if success:
            observation += "\nThe goal is satisfied."
        return self._clock.finish(observation, success, progress, False, self._valid_texts())

    def oracle_actions(self, task_id: str) -> list[str]:
        """A plan for `task_id` from the FF-guided planner (pddl_plan.py), as action texts; raises RuntimeError when
        none is found within the planner's cap."""
        env, state = self._start(task_id)
        init = frozenset(fact_of(lit) for lit in state.literals)
        goal = frozenset(fact_of(lit) for lit in state.goal.literals)
        found = plan(init, goal, ground_actions(env.domain, state.objects, init), max_states=_PLANNER_CAP)
        if found is None:
            raise RuntimeError(f"the planner found no plan for {task_id} within {_PLANNER_CAP} states")
        return [format_action(a.name, a.args) for a in found]

    def close(self) -> None:
        self._envs.clear()
