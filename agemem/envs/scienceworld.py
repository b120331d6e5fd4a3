"""ScienceWorld (the `scienceworld` package: a Java simulator, Java 17) as a `TextEnv`. A task is one of the 30
task types with one variation of its test split ("boil/21"); by default the first three test variations of each,
90 tasks (AgentBoard's ScienceWorld size). Success is the native score reaching 100; progress is that score / 100
(its best so far: the score can drop, and a failed task scores -100). The oracle is the simulator's gold path.

The simulator's action space is templates over the visible objects (thousands of combinations), so
`valid_actions` is None; an action it cannot parse gets its own answer ("No known action matches that input.").
"""

import logging

from scienceworld import ScienceWorldEnv as _Simulator

from agemem.envs.protocol import AGENTBOARD_STEP_LIMIT, EnvObservation, EnvStep, EpisodeClock, not_started

# The first three variations of each task's test split (scienceworld 1.2.3, `get_variations_test()`; checked by
# tests/envs/test_scienceworld.py).
TEST_VARIATIONS = {
    "boil": (21, 22, 23), "change-the-state-of-matter-of": (21, 22, 23), "chemistry-mix": (24, 25, 26),
    "chemistry-mix-paint-secondary-color": (27, 28, 29), "chemistry-mix-paint-tertiary-color": (27, 28, 29),
    "find-animal": (225, 226, 227), "find-living-thing": (225, 226, 227), "find-non-living-thing": (225, 226, 227),
    "find-plant": (225, 226, 227), "freeze": (21, 22, 23), "grow-fruit": (93, 94, 95), "grow-plant": (93, 94, 95),
    "identify-life-stages-1": (9, 10, 11), "identify-life-stages-2": (6, 7, 8),
    "inclined-plane-determine-angle": (126, 127, 128),
    "inclined-plane-friction-named-surfaces": (1038, 1039, 1040),
    "inclined-plane-friction-unnamed-surfaces": (120, 121, 122), "lifespan-longest-lived": (93, 94, 95),
    "lifespan-longest-lived-then-shortest-lived": (93, 94, 95), "lifespan-shortest-lived": (93, 94, 95),
    "measure-melting-point-known-substance": (327, 328, 329),
    "measure-melting-point-unknown-substance": (225, 226, 227), "melt": (21, 22, 23),
    "mendelian-genetics-known-plant": (90, 91, 92), "mendelian-genetics-unknown-plant": (360, 361, 362),
    "power-component": (15, 16, 17), "power-component-renewable-vs-nonrenewable-energy": (15, 16, 17),
    "test-conductivity": (675, 676, 677), "test-conductivity-of-unknown-substances": (450, 451, 452),
    "use-thermometer": (405, 406, 407),
}
_SIMULATOR_STEP_LIMIT = 100_000  # the simulator's own limit; episodes end at `step_limit` here
# py4j logs the gateway's routine shutdown race (the Java side gone first) as an INFO record with a traceback, once
# per closed task: a user reading the log would take it for a failure. Its warnings and errors still show.
logging.getLogger("py4j").setLevel(logging.WARNING)


class ScienceWorldEnv:
    """ScienceWorld test variations as a `TextEnv`. One Java simulator at a time, started anew for each task."""

    name = "scienceworld"

    def __init__(self, tasks: tuple[str, ...] = tuple(TEST_VARIATIONS), variations_per_task: int = 3,
                 simplifications: str = "", step_limit: int = AGENTBOARD_STEP_LIMIT):
        unknown = [t for t in tasks if t not in TEST_VARIATIONS]
        if unknown:
            raise ValueError(f"unknown ScienceWorld tasks {unknown}; valid: {', '.join(TEST_VARIATIONS)}")
        if not 1 <= variations_per_task <= 3:
            raise ValueError(f"variations_per_task must be 1, 2 or 3, got {variations_per_task}")
        self._tasks = [f"{t}/{v}" for t in tasks for v in TEST_VARIATIONS[t][:variations_per_task]]
        self.simplifications = simplifications
        self.step_limit = step_limit
        self._simulator: _Simulator | None = None
        self._clock = not_started()

    def task_ids(self) -> list[str]:
        return list(self._tasks)

    def _load(self, task_id: str, gold: bool = False) -> _Simulator:
        """A fresh simulator with `task_id` loaded. Fresh each time: within one Java process the simulation depends
        on what ran before (heating and circuits take a different number of ticks), so a gold path replayed after
        other episodes can fail; a new process (about 2 s) gives the same world and timing on every load."""
        if task_id not in self._tasks:
            raise ValueError(f"unknown ScienceWorld task {task_id!r}; valid ids look like {self._tasks[0]!r}")
        self.close()
        self._simulator = _Simulator("", envStepLimit=_SIMULATOR_STEP_LIMIT)
        task, variation = task_id.rsplit("/", 1)
        self._simulator.load(task, int(variation), self.simplifications, generateGoldPath=gold)
        return self._simulator

    def reset(self, task_id: str) -> EnvObservation:
        simulator = self._load(task_id)
        observation, _ = simulator.reset()
        self._clock = EpisodeClock(self.step_limit)
        return EnvObservation(observation.strip(), simulator.get_task_description().strip(), None)

    def step(self, action_text: str) -> EnvStep:
        """One action through the simulator's server, as `ScienceWorldEnv.step` does minus the extras it computes
        on every call (all valid action-object combinations, look, inventory): 3 ms instead of 130 ms a step."""
        self._clock.tick()
        server = self._simulator.server
        observation = server.step(" ".join(action_text.lower().split()).strip(" ."))
        score = round(100 * server.getScore())
        completed = server.getCompleted() or score < 0  # a failed task scores -100 and ends
        return self._clock.finish(observation.strip(), score >= 100, max(score, 0) / 100, completed, None)

    def oracle_actions(self, task_id: str) -> list[str]:
        """The simulator's gold action sequence for `task_id`, often longer than AgentBoard's 30 steps. It may win
        before its last action (gold paths end with a wait), so play it until `done`. Ends any running episode."""
        actions = list(self._load(task_id, gold=True).get_gold_action_sequence())
        self._clock = not_started()
        return actions

    def close(self) -> None:
        if self._simulator is not None:
            self._simulator.close()
            self._simulator = None
