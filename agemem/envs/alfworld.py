"""ALFWorld (text) on its `game.tw-pddl` files: textworld runs the game with ALFWorld's demangler (object names like
"mug 1"); a task is a game folder relative to `path` (default: ../shared/data/alfworld/valid_unseen, 34 of the 134
out-of-distribution games; any folder of games works, searched recursively). Success is the game's `won`.

Command syntax: alfworld 0.4 says "move X to Y" where earlier versions and most published prompts say
"put X in/on Y". Both are accepted: a command that is not admissible is rewritten into the other syntax when that
one is. Anything else goes to the game unchanged, which answers with its own feedback ("Nothing happens.").
The oracle is the walkthrough embedded in each game (the game's own planner when a game has none).
"""

import re
from pathlib import Path

import textworld
from alfworld.agents.environment.alfred_tw_env import AlfredDemangler, AlfredInfos

from agemem import PROJECT_ROOT
from agemem.envs.protocol import AGENTBOARD_STEP_LIMIT, EnvObservation, EnvStep, EpisodeClock, not_started

DEFAULT_PATH = PROJECT_ROOT.parent / "shared" / "data" / "alfworld" / "valid_unseen"
GAME_FILE = "game.tw-pddl"
_WELCOME = "-= Welcome to TextWorld, ALFRED! =-"
_PUT = re.compile(r"^(?:put|place) (.+?) (?:in/on|in|on|into|onto|to) (?:the )?(.+)$")
_MOVE = re.compile(r"^move (.+?) (?:to|in/on|in|on|into|onto) (?:the )?(.+)$")


def normalise(command: str) -> str:
    """Lower case, single spaces, no final full stop: ALFWorld's commands are written that way."""
    return " ".join(command.lower().split()).strip(" .")


def to_admissible(command: str, admissible: list[str]) -> str:
    """`command` in the syntax the game admits: "put X in/on Y" ↔ "move X to Y" when only the other is admissible."""
    command = normalise(command)
    if command in admissible:
        return command
    put, move = _PUT.match(command), _MOVE.match(command)
    for match, template in ((put, "move {} to {}"), (move, "put {} in/on {}")):
        if match and template.format(*match.groups()) in admissible:
            return template.format(*match.groups())
    return command


def _infos(planner: bool) -> textworld.EnvInfos:
    return textworld.EnvInfos(won=True, admissible_commands=True, extras=["walkthrough"], policy_commands=planner)


class AlfWorldEnv:
    """ALFWorld games as a `TextEnv`."""

    name = "alfworld"

    def __init__(self, path: str | Path | None = None, step_limit: int = AGENTBOARD_STEP_LIMIT):
        self.path = Path(path) if path is not None else DEFAULT_PATH
        games = sorted(self.path.rglob(GAME_FILE))
        if not games:
            raise FileNotFoundError(f"no ALFWorld games ({GAME_FILE}) under {self.path}")
        self._games = {str(g.parent.relative_to(self.path)): g for g in games}
        self.step_limit = step_limit
        self._env = None
        self._clock = not_started()

    def task_ids(self) -> list[str]:
        return list(self._games)

    def _start(self, task_id: str, planner: bool = False):
        if task_id not in self._games:
            raise ValueError(f"unknown ALFWorld task {task_id!r}; valid ids look like {next(iter(self._games))!r}")
        env = textworld.start(str(self._games[task_id]), _infos(planner), wrappers=[AlfredDemangler(), AlfredInfos])
        return env, env.reset()

    def reset(self, task_id: str) -> EnvObservation:
        self.close()
        self._env, state = self._start(task_id)
        self._admissible = list(state["admissible_commands"])
        self._clock = EpisodeClock(self.step_limit)
        text = state["feedback"].replace(_WELCOME, "").strip()
        goal = next((line.split(":", 1)[1].strip() for line in text.splitlines()
                     if line.startswith("Your task is to:")), "")
        return EnvObservation(text, goal, self._admissible)

    def step(self, action_text: str) -> EnvStep:
        self._clock.tick()
        state, _, done = self._env.step(to_admissible(action_text, self._admissible))
        self._admissible = list(state["admissible_commands"])
        won = bool(state["won"])
        return self._clock.finish(state["feedback"].strip(), won, 0.0, done and not won, self._admissible)

    def oracle_actions(self, task_id: str) -> list[str]:
        """The game's embedded walkthrough (or, for a game without one, its planner's commands)."""
        env, state = self._start(task_id)
        walkthrough = state.get("extra.walkthrough")
        env.close()
        if walkthrough:
            return list(walkthrough)
        env, state = self._start(task_id, planner=True)
        env.close()
        return list(state["policy_commands"])

    def close(self) -> None:
        if self._env is not None:
            self._env.close()
            self._env = None
