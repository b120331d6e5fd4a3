"""The interactive benchmarks of `task=eval` (AgeMem Table 2: ALFWorld, ScienceWorld, BabyAI, PDDL): their tasks
as episodes, the agents that play them, and one row per task.

- Tasks: the environment's own list (agemem/envs), cut by `benchmark.path` (ALFWorld games, PDDL problems),
  `benchmark.tasks` (ScienceWorld task types, BabyAI levels; for ALFWorld and PDDL a filter on the task family:
  task type, domain), `seeds` / `variations` (BabyAI seeds, ScienceWorld variations) and `eval.num_episodes` (the
  first N). Each task is an `Episode` whose `metadata.task_id` the env episode plays and
  whose category is its family (ALFWorld task type, ScienceWorld task type, BabyAI level, PDDL domain).
- Agents: `agemem` (the memory tools), `no_memory`, `rag`, `mem0` (stages/env_episode.py), and `oracle`: the
  agemem episode played by the scripted `EnvOracleEngine` (agemem/rollout/env_oracle.py), its step limit raised
  to its plan's length.
- Rows: `success` (the success rate's terms), `progress` (PDDL: AgentBoard's progress rate; every environment
  reports one), `score` (ScienceWorld's 0–100), `steps`, `no_action_rate` (steps lost to format errors or to
  rounds spent on tool calls), `dropped_messages`, and the shared call metrics (model calls, prompt tokens,
  format errors, tool calls by type).
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from agemem.envs import ENV_NAMES, make_env
from agemem.eval.config import AgentConfig, BenchmarkConfig
from agemem.records import Episode, Trajectory
from agemem.rollout.collector import CollectSettings
from agemem.tools.schemas import TOOL_NAMES
from stages.baselines import BaselineOptions
from stages.env_episode import MODES, EnvOptions, OraclePlans, env_episode_flow, system_prompt

# The metrics each benchmark's table leads with (SPEC.md §7.1: SR; PDDL also AgentBoard's progress rate).
ENV_HEADLINES = {"alfworld": ("success",), "scienceworld": ("success", "score"), "babyai": ("success",),
                 "pddl": ("success", "progress")}
ENV_AGENTS = (*MODES, "oracle")
FOLDER_ENVS = ("alfworld", "pddl")  # their tasks are files under benchmark.path


def env_kwargs(cfg: BenchmarkConfig) -> dict[str, Any]:
    """The environment's constructor options from the benchmark config (a ValueError names the key)."""
    if cfg.name not in ENV_NAMES:
        raise ValueError(f"benchmark.name={cfg.name!r}: the interactive benchmarks are {list(ENV_NAMES)}")
    kwargs: dict[str, Any] = {}
    if cfg.name in FOLDER_ENVS:  # benchmark.tasks filters its tasks by family (env_episodes)
        if cfg.seeds:
            raise ValueError(f"benchmark.seeds: {cfg.name} takes its tasks from benchmark.path")
        if cfg.path is not None:
            if not Path(cfg.path).is_dir():
                raise FileNotFoundError(f"benchmark.path={cfg.path!r}: no such folder")
            kwargs["path"] = cfg.path
        return kwargs
    if cfg.path is not None:
        raise ValueError(f"benchmark.path={cfg.path!r}: {cfg.name} has no input folder (choose tasks with "
                         "benchmark.tasks)")
    if cfg.tasks:
        kwargs["levels" if cfg.name == "babyai" else "tasks"] = tuple(cfg.tasks)
    if cfg.name == "babyai" and cfg.seeds:
        kwargs["seeds"] = tuple(cfg.seeds)
    if cfg.name == "scienceworld":
        if cfg.seeds:
            raise ValueError("benchmark.seeds: ScienceWorld plays fixed test variations (benchmark.variations)")
        kwargs["variations_per_task"] = cfg.variations
    return kwargs


def task_family(env: str, task_id: str) -> str:
    """The task's family, its row's category: ALFWorld's task type (the game folder's name up to its first "-"),
    else the part before the last "/" (ScienceWorld task type, BabyAI level, PDDL domain)."""
    if env == "alfworld":
        named = [part for part in task_id.split("/") if "-" in part]
        return named[0].split("-")[0] if named else task_id.split("/")[0]
    return task_id.rsplit("/", 1)[0]


def env_episodes(cfg: BenchmarkConfig, num_episodes: int) -> tuple[list[Episode], int]:
    """The tasks evaluated as episodes (the first `num_episodes`; 0: all), and how many the benchmark has."""
    if cfg.split != "all":
        raise ValueError(f"benchmark.split={cfg.split!r}: the interactive benchmarks are test sets already; choose "
                         "tasks with benchmark.path / tasks / seeds / variations and eval.num_episodes")
    if cfg.step_limit < 1:
        raise ValueError(f"benchmark.step_limit={cfg.step_limit}: must be >= 1 (AgentBoard: 30)")
    if cfg.live_envs < 1:
        raise ValueError(f"benchmark.live_envs={cfg.live_envs}: must be >= 1")
    try:
        env = make_env(cfg.name, **env_kwargs(cfg))
    except ValueError as error:  # unknown level / task type, bad variation count
        raise ValueError(f"benchmark.tasks / benchmark.variations: {error}") from error
    task_ids = env.task_ids()
    env.close()
    if cfg.name in FOLDER_ENVS and cfg.tasks:
        families = {task_family(cfg.name, t) for t in task_ids}
        unknown = [f for f in cfg.tasks if f not in families]
        if unknown:
            raise ValueError(f"benchmark.tasks: {unknown} are not {cfg.name} task families here; valid: "
                             f"{sorted(families)}")
        task_ids = [t for t in task_ids if task_family(cfg.name, t) in cfg.tasks]
    chosen = task_ids[:num_episodes] if num_episodes else task_ids
    episodes = [Episode(id=t, source=cfg.name, contexts=[t], distractors=[], question=f"solve {cfg.name} task {t}",
                        answers=["success"], category=task_family(cfg.name, t),
                        metadata={"env": cfg.name, "task_id": t}) for t in chosen]
    return episodes, len(task_ids)


def env_settings(agent: AgentConfig, benchmark: BenchmarkConfig, settings: CollectSettings, samples: int,
                 plans: OraclePlans | None) -> CollectSettings:
    """The collector settings that play `agent` on the benchmark: its env episode flow and system prompt, no tool
    schemas without tools, greedy unless `samples` > 0. `plans` is given for (and only for) agent=oracle."""
    if agent.name not in ENV_AGENTS:
        raise ValueError(f"agent.name={agent.name!r}: benchmark={benchmark.name} takes one of {list(ENV_AGENTS)}")
    if agent.llm_extraction:
        raise ValueError("agent.llm_extraction=true: the interactive benchmarks use the rule-based memories")
    if (plans is not None) != (agent.name == "oracle"):
        raise ValueError("env_settings: oracle plans go with agent=oracle only")
    mode = "agemem" if agent.name == "oracle" else agent.name
    options = EnvOptions(env=benchmark.name, env_kwargs=env_kwargs(benchmark), step_limit=benchmark.step_limit,
                         mode=mode, baseline=BaselineOptions(top_k=agent.top_k, dedup_threshold=agent.dedup_threshold),
                         plans=plans, lenient=agent.lenient_answer)
    curriculum = settings.curriculum if mode == "agemem" else replace(settings.curriculum, tools_in_prompt=False)
    rollout = settings.rollout if samples else replace(settings.rollout, temperature=0.0)
    return replace(settings, curriculum=curriculum, rollout=rollout, system_prompt=system_prompt(mode, curriculum),
                   episode_flow=env_episode_flow(options))


def episodes_per_batch(requested: int, live_envs: int, samples: int) -> int:
    """Episodes collected together: every rollout of a batch holds one live environment, so at most `live_envs`."""
    return max(1, min(requested, live_envs // max(1, samples)))


def trajectory_row(traj: Trajectory) -> dict[str, float]:
    """The metrics of one env episode (module docstring)."""
    result = traj.env_result
    if result is None:
        raise ValueError(f"trajectory of {traj.episode_id!r} has no env_result: not an env episode")
    calls = len(traj.steps)
    prompt_tokens = sum(len(s.prompt_ids) for s in traj.steps)
    row = {"success": float(result.success), "progress": result.progress, "steps": float(result.steps),
           "no_action_rate": result.no_action_steps / result.steps if result.steps else 0.0,
           "dropped_messages": float(result.dropped_messages), "model_calls": float(calls),
           "prompt_tokens": float(prompt_tokens), "prompt_tokens_per_call": prompt_tokens / calls if calls else 0.0,
           "format_error_rate": sum(s.action.kind == "format_error" for s in traj.steps) / calls if calls else 0.0}
    if result.score is not None:
        row["score"] = result.score
    executed = Counter(r.name for r in traj.tool_results())
    row.update({f"tool_calls/{name}": float(executed[name]) for name in TOOL_NAMES})
    row["tool_calls/total"] = float(sum(executed.values()))
    return row


def env_rows(episodes: Sequence[Episode], trajectories: Sequence[Trajectory], samples: int) -> list[dict[str, Any]]:
    """One row per task from its `samples` trajectories (collected in episode order): each metric's mean, plus
    `id`, `category`, `gold` ("success"), how each rollout ended (`ends`) and the actions it sent (`actions`)."""
    if len(trajectories) != len(episodes) * samples:
        raise ValueError(f"{len(trajectories)} trajectories for {len(episodes)} episodes × {samples} samples")
    rows = []
    for i, episode in enumerate(episodes):
        mine = trajectories[i * samples:(i + 1) * samples]
        metrics = [trajectory_row(t) for t in mine]
        mean = {key: sum(m[key] for m in metrics) / samples for key in metrics[0]}
        rows.append({"id": episode.id, "category": episode.category, "gold": "success",
                     "ends": [t.env_result.end for t in mine], "actions": [t.env_result.actions for t in mine],
                     **mean})
    return rows
