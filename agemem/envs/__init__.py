"""Interactive benchmarks behind one text protocol (AgeMem Table 2):
`make_env("babyai" | "pddl" | "alfworld" | "scienceworld", **options)`."""

from agemem.envs.protocol import AGENTBOARD_STEP_LIMIT, EnvObservation, EnvStep, TextEnv
from agemem.envs.registry import ENV_NAMES, make_env

__all__ = ["AGENTBOARD_STEP_LIMIT", "ENV_NAMES", "EnvObservation", "EnvStep", "TextEnv", "make_env"]
