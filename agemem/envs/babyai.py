"""BabyAI (minigrid levels) as text: a describer of the agent's partial view, actions as words, the BabyAI bot as
the oracle. A task is one level with one seed ("GoToLocal/3"); success is the level's positive reward.

The describer reads the same 7×7 egocentric view the pixels-free BabyAI agents get (`obs["image"]`): objects with
their colours and door states, positions relative to the agent ("2 steps forward and 1 step left"), the nearest
wall straight ahead, left and right, the cell in front, and the carried object. Cells behind walls or closed doors
are not described, as they are not seen.
"""

import contextlib
import io

import gymnasium
import minigrid  # noqa: F401  (registers the BabyAI levels with gymnasium)
import numpy as np
from minigrid.core.constants import IDX_TO_COLOR, IDX_TO_OBJECT
from minigrid.utils.baby_ai_bot import BabyAIBot

from agemem.envs.protocol import AGENTBOARD_STEP_LIMIT, EnvObservation, EnvStep, EpisodeClock, not_started

# The text of each minigrid action, in minigrid's action order (Actions.left … Actions.done).
ACTIONS = ("turn left", "turn right", "go forward", "pick up", "drop", "toggle", "done")
_ALIASES = {"left": 0, "right": 1, "forward": 2, "move forward": 2, "go straight": 2, "pickup": 3,
            "pick": 3, "pick up object": 3, "put down": 4, "drop object": 4, "open": 5, "open door": 5}
# Levels whose bot solutions fit AgentBoard's 30 steps on every default seed (single rooms, or a door away).
DEFAULT_LEVELS = ("GoToRedBall", "GoToObj", "GoToLocal", "GoToDoor", "GoToObjDoor", "ActionObjDoor", "PickupLoc",
                  "PickupDist", "OpenDoor", "OpenRedDoor", "PutNextLocal", "UnlockLocal")
DEFAULT_SEEDS = (0, 1, 2, 3, 4)
_STATES = {0: "open", 1: "closed", 2: "locked"}
_ORACLE_CAP = 500  # bot steps before giving up (the bot solves the default levels in under 30)


def _steps(n: int, word: str) -> str:
    return f"{n} step{'s' if n != 1 else ''} {word}"


def relative_position(forward: int, right: int) -> str:
    """'2 steps forward and 1 step left' for a cell `forward` ahead and `right` to the right of the agent."""
    parts = [_steps(forward, "forward")] if forward else []
    if right:
        parts.append(_steps(abs(right), "right" if right > 0 else "left"))
    return " and ".join(parts) or "here"


def describe_object(type_idx: int, color_idx: int, state: int) -> str:
    """'a red ball', 'a locked yellow door', 'a wall' from one cell of minigrid's encoding."""
    kind = IDX_TO_OBJECT[int(type_idx)]
    if kind == "wall":
        return "a wall"
    color = IDX_TO_COLOR[int(color_idx)]
    if kind == "door":
        return f"a {_STATES[int(state)]} {color} door"
    return f"a {color} {kind}"


def _nearest_wall(image: np.ndarray, cells: list[tuple[int, int]]) -> int | None:
    """Index (1-based distance) of the first wall along `cells`; None when an unseen cell comes first."""
    for distance, (i, j) in enumerate(cells, start=1):
        kind = IDX_TO_OBJECT[int(image[i, j, 0])]
        if kind == "wall":
            return distance
        if kind == "unseen":
            return None
    return None


def describe_view(image: np.ndarray, carrying: str | None) -> str:
    """Describe minigrid's egocentric view. `image` has shape (V, V, 3) indexed [x, y] (minigrid's encoding), with
    the agent at (V // 2, V - 1) looking towards y = 0; `carrying` is e.g. 'a blue key' or None."""
    size = image.shape[0]
    ax, ay = size // 2, size - 1
    seen = []
    for j in range(size):
        for i in range(size):
            kind = IDX_TO_OBJECT[int(image[i, j, 0])]
            if (i, j) == (ax, ay) or kind in ("unseen", "empty", "wall", "floor", "agent"):
                continue
            forward, right = ay - j, i - ax
            seen.append((forward + abs(right), forward, right, describe_object(*image[i, j])))
    lines = []
    if seen:
        items = [f"{name} {relative_position(f, r)}" for _, f, r, name in sorted(seen, key=lambda s: s[:3])]
        lines.append("You see " + ", ".join(items) + ".")
    else:
        lines.append("You see no objects.")
    walls = [(_nearest_wall(image, [(ax, ay - k) for k in range(1, size)]), "forward"),
             (_nearest_wall(image, [(ax - k, ay) for k in range(1, ax + 1)]), "left"),
             (_nearest_wall(image, [(ax + k, ay) for k in range(1, size - ax)]), "right")]
    walls = [_steps(d, word) for d, word in walls if d is not None]
    if walls:
        lines.append("Walls: " + ", ".join(walls) + ".")
    front = image[ax, ay - 1]
    front_kind = IDX_TO_OBJECT[int(front[0])]
    lines.append("In front of you: " + ("empty floor" if front_kind in ("empty", "floor") else
                                        describe_object(*front)) + ".")
    lines.append(f"You are carrying {carrying or 'nothing'}.")
    return "\n".join(lines)


def parse_action(text: str) -> int | None:
    """The minigrid action of an action text ('go forward', 'Pick up.', 'toggle'), or None."""
    words = " ".join(text.lower().replace("_", " ").replace("-", " ").strip(" .!\"'`").split())
    if words in ACTIONS:
        return ACTIONS.index(words)
    return _ALIASES.get(words)


def _full_level(level: str) -> str:
    return level if level.startswith("BabyAI-") else f"BabyAI-{level}-v0"


class BabyAIEnv:
    """BabyAI levels × seeds as a `TextEnv`. `levels` are names like "GoToLocal" (or full gymnasium ids)."""

    name = "babyai"

    def __init__(self, levels: tuple[str, ...] = DEFAULT_LEVELS, seeds: tuple[int, ...] = DEFAULT_SEEDS,
                 step_limit: int = AGENTBOARD_STEP_LIMIT):
        registered = set(gymnasium.registry)
        unknown = [lv for lv in levels if _full_level(lv) not in registered]
        if unknown:
            valid = sorted(k.removeprefix("BabyAI-").removesuffix("-v0") for k in registered if k.startswith("BabyAI-"))
            raise ValueError(f"unknown BabyAI levels {unknown}; valid: {', '.join(valid)}")
        self._tasks = [f"{level}/{seed}" for level in levels for seed in seeds]
        self.step_limit = step_limit
        self._env = None
        self._clock = not_started()

    def task_ids(self) -> list[str]:
        return list(self._tasks)

    def _make(self, task_id: str):
        if task_id not in self._tasks:
            raise ValueError(f"unknown BabyAI task {task_id!r}; valid ids look like {self._tasks[0]!r}")
        level, seed = task_id.rsplit("/", 1)
        env = gymnasium.make(_full_level(level))
        with contextlib.redirect_stdout(io.StringIO()):  # the level generator prints its rejected samples
            env.reset(seed=int(seed))
        return env

    def _describe(self) -> str:
        unwrapped = self._env.unwrapped
        carrying = unwrapped.carrying
        held = describe_object(*carrying.encode()) if carrying is not None else None
        return describe_view(unwrapped.gen_obs()["image"], held)

    def _signature(self) -> tuple:
        unwrapped = self._env.unwrapped
        carrying = unwrapped.carrying.encode() if unwrapped.carrying is not None else None
        return tuple(unwrapped.agent_pos), unwrapped.agent_dir, carrying, unwrapped.grid.encode().tobytes()

    def reset(self, task_id: str) -> EnvObservation:
        if self._env is not None:
            self._env.close()
        self._env = self._make(task_id)
        self._clock = EpisodeClock(self.step_limit)
        return EnvObservation(self._describe(), self._env.unwrapped.mission, list(ACTIONS))

    def step(self, action_text: str) -> EnvStep:
        self._clock.tick()
        action = parse_action(action_text)
        if action is None:
            feedback = f"Invalid action {action_text.strip()!r}. Valid actions: {', '.join(ACTIONS)}.\n"
            return self._clock.finish(feedback + self._describe(), False, 0.0, False, list(ACTIONS))
        before = self._signature()
        _, reward, terminated, truncated, _ = self._env.step(action)
        success = reward > 0
        feedback = "Nothing happens.\n" if self._signature() == before and not success else ""
        if success:
            feedback = "You completed the mission.\n"
        observation = feedback + self._describe()
        return self._clock.finish(observation, success, 0.0, terminated or truncated, list(ACTIONS))

    def oracle_actions(self, task_id: str) -> list[str]:
        """The BabyAI bot's actions on `task_id`, played on a private copy of the level."""
        env = self._make(task_id)
        bot, actions = BabyAIBot(env), []
        for _ in range(_ORACLE_CAP):
            action = bot.replan()
            _, _, terminated, truncated, _ = env.step(action)
            actions.append(ACTIONS[int(action)])
            if terminated or truncated:
                break
        env.close()
        return actions

    def close(self) -> None:
        if self._env is not None:
            self._env.close()
            self._env = None
