"""The one protocol every interactive benchmark implements (AgeMem Table 2: ALFWorld, ScienceWorld, BabyAI, PDDL).

An episode is: `reset(task_id)` → the first observation and the goal; then `step(action_text)` until `done`.
Actions are plain text, as the agent writes them inside `<answer>…</answer>`. A text the environment cannot use
is answered with the environment's own feedback (and still costs a step, as in AgentBoard), never an exception.
Every environment stops an episode after `step_limit` steps (AgentBoard: 30).

`oracle_actions(task_id)` is the benchmark's reference solver (`agent=oracle`): the action texts that, sent one by
one through `step` after `reset(task_id)` until `done`, reach success. Some tasks need more steps than AgentBoard's
30 even for the oracle (gripper's 12 balls, ScienceWorld's long gold paths): run the oracle with
`step_limit >= len(actions)`. It makes the harness checkable end to end.
"""

from dataclasses import dataclass
from typing import Protocol

# AgentBoard's `max_num_steps` for every interactive task.
AGENTBOARD_STEP_LIMIT = 30


@dataclass(frozen=True)
class EnvObservation:
    """What the agent sees when an episode starts."""

    text: str  # the first observation, as the agent reads it
    goal: str  # the task, in words (BabyAI's mission, PDDL's goal facts, ALFWorld's task line)
    valid_actions: list[str] | None  # the actions the environment accepts now; None where it has no such list


@dataclass(frozen=True)
class EnvStep:
    """The result of one action."""

    observation: str  # the environment's answer: what changed, what is seen now, or why nothing happened
    done: bool  # the episode is over: success, a terminal failure, or the step limit
    success: bool  # the task is solved
    progress: float  # in [0, 1], never decreasing within an episode (PDDL: AgentBoard's progress rate)
    valid_actions: list[str] | None  # as in EnvObservation


class TextEnv(Protocol):
    """A text-in, text-out interactive benchmark. One instance runs one episode at a time."""

    name: str  # the registry name ("babyai", "pddl", …)
    step_limit: int  # steps (valid or not) after which `step` ends the episode

    def task_ids(self) -> list[str]:
        """The benchmark's tasks, in a fixed order; each id resets to the same initial state every time."""
        ...

    def reset(self, task_id: str) -> EnvObservation:
        """Start the episode of `task_id` (deterministic: the same id gives the same observation)."""
        ...

    def step(self, action_text: str) -> EnvStep:
        """Apply one action; unusable text gets feedback and costs a step. Raises only if no episode is running."""
        ...

    def oracle_actions(self, task_id: str) -> list[str]:
        """Action texts that solve `task_id` from its reset (play them until `done`; success may come before the
        last one). May end a running episode (ScienceWorld): call it before `reset`."""
        ...

    def close(self) -> None:
        """Release what the environment holds (processes, files)."""
        ...


@dataclass
class EpisodeClock:
    """Book-keeping shared by the environments: steps taken, best progress so far, and the end of the episode."""

    step_limit: int
    steps: int = 0
    progress: float = 0.0
    done: bool = False
    success: bool = False

    def tick(self) -> None:
        """Count one step; raises if the episode is over (a harness bug, not an agent mistake)."""
        if self.done:
            raise RuntimeError("step() after the episode ended: call reset(task_id) first")
        self.steps += 1

    def finish(self, observation: str, success: bool, progress: float, terminal: bool,
               valid_actions: list[str] | None) -> EnvStep:
        """Record the outcome of the step just counted and build its `EnvStep`."""
        self.success = self.success or success
        self.progress = max(self.progress, 1.0 if self.success else progress)
        out_of_steps = self.steps >= self.step_limit
        self.done = self.success or terminal or out_of_steps
        if out_of_steps and not (self.success or terminal):
            observation += f"\nThe step limit ({self.step_limit}) is reached."
        return EnvStep(observation, self.done, self.success, self.progress, valid_actions)


def not_started() -> EpisodeClock:
    """A clock that refuses `step` until the first `reset`."""
    return EpisodeClock(step_limit=0, done=True)
