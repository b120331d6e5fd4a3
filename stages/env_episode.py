"""One episode of an interactive benchmark (agemem/envs: ALFWorld, ScienceWorld, BabyAI, PDDL) as a generator of
model requests, beside the AgeMem stages: the collector batches many env episodes into one engine call and cannot
tell them from the other flows (DESIGN.md).

The episode, for one task:
1. A fresh environment is built for the episode (`make_env`) and reset to the task; the first user message holds
   a header naming the task (`[task <env> <task id>]`), the goal, the first observation and, in the full prompt
   style, how to act. It stays in the context for the whole episode (it is never cut).
2. Each step the agent gets up to `curriculum.max_rounds` model calls. A call with memory tool calls is executed
   by the AgeMem executor (`stages.turn.agent_turn`: LTM persists through the episode, Summary/Filter act on the
   context) and the next round follows; `<answer>ACTION</answer>` sends ACTION to `env.step`, whose observation
   enters the context as the next user message, `[step n] <observation>`. A format error, or every round spent
   on tool calls, loses the step (no action is sent; the agent is told so): malformed output never raises, and
   text the environment cannot use gets the environment's own feedback.
3. The episode ends on success, when the environment ends it, or after `step_limit` steps (AgentBoard: 30; the
   oracle's limit is raised to its plan's length, so that every oracle run can succeed).
4. The environment is closed when the episode ends (ScienceWorld holds a JVM): at most as many live at once as
   the collector runs episodes together (agemem/eval/env_eval.py bounds that).

Every model call is one token-exact `Step` (stage 3, round = the call's round within its env step). The outcome
(success, progress, ScienceWorld's score, the actions) is `Trajectory.env_result`.

Agents (`EnvOptions.mode`):
- `agemem`: the six memory tools; the whole conversation stays in the context. Past the context budget the oldest
  messages are cut (after the task message) as a safety net, counted in `env_result.dropped_messages`;
- `no_memory`: no tools (a tool call gets stages.baselines.NO_TOOLS back), the conversation cut from the oldest to
  fit the budget;
- `rag`, `mem0`: no tools; every step's action and observation go to the automatic memory of stages/baselines.py
  (rag: stored whole; mem0: split into facts, a near-duplicate updated), and before each action the context is
  reset to the task message, the top-k memories retrieved for the goal and the latest observation, and that
  observation.
"""

import re
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from agemem.envs import EnvStep, TextEnv, make_env
from agemem.records import (
    ENV_STEP_LIMIT,
    ENV_SUCCESS,
    ENV_TERMINAL,
    Action,
    EnvResult,
    Episode,
    Step,
    Trajectory,
)
from agemem.tools.executor import AgentState
from agemem.tools.parser import parse_action
from stages.baselines import (
    NO_RETRIEVED,
    NO_TOOLS,
    RETRIEVED_INPUT,
    BaselineOptions,
    mem0_store,
    split_facts,
    strip_think,
)
from stages.config import CurriculumConfig
from stages.prompts import system_prompt_for
from stages.turn import Completion, Request, TurnSettings, agent_turn, context_tokens, input_text

STAGE = 3  # every call acts (or prepares to act) in the environment: recorded as the reasoning stage
MODES = ("agemem", "no_memory", "rag", "mem0")
SCORE_ENVS = ("scienceworld",)  # environments with a native 0–100 score (= 100 × progress)

# The first message. Its header names the task: what the scripted oracle engine reads (agemem/rollout/
# env_oracle.py) and a label for whoever reads a trajectory; the last line (dropped in the compact style) says how
# to act.
TASK_INPUT = "[task {env} {task_id}]\nGoal: {goal}\n{observation}\n{instructions}"
STEP_INPUT = "[step {step}] {observation}"
TASK_HEADER = re.compile(r"\[task (\S+) (\S+)\]")
STEP_HEADER = re.compile(r"\[step (\d+)\]")
ACT = "Act with one action per reply: <answer>ACTION</answer>{tools}. Actions: {actions}."
TOOLS_HINT = " (you may call your memory tools first)"
# What each environment accepts, in a line (AgentBoard's prompts describe the action space the same way).
ACTIONS = {
    "alfworld": "go to X, take X from Y, put X in/on Y, open X, close X, toggle X, clean X with Y, heat X with Y, "
                "cool X with Y, use X, examine X, look, inventory",
    "scienceworld": "look around, look at X, go to X, open X, close X, pick up X, put down X, move X to Y, pour X "
                    "into Y, activate X, deactivate X, use X on Y, connect X to Y, mix X, focus on X, wait, "
                    "inventory",
    "babyai": "turn left, turn right, go forward, pick up, drop, toggle, done",
    "pddl": "an operator and its objects (e.g. unstack b1 b2); 'check valid actions' lists the applicable ones, "
            "'look around' shows the state",
}
# The system prompts of the agents without tools (agemem's is stages.prompts.system_prompt_for).
NO_MEMORY_SYSTEM_PROMPT = ("You are an agent acting in a text environment, without memory tools. Think in "
                           "<think>...</think>, then reply <answer>ACTION</answer> with one action.")
MEMORY_SYSTEM_PROMPT = ("You are an agent acting in a text environment with an automatic memory: what it retrieved "
                        "from your earlier steps is shown to you. Think in <think>...</think>, then reply "
                        "<answer>ACTION</answer> with one action.")
COMPACT_SYSTEM_PROMPT = "You are an agent."
NO_ACTION = ("No action was taken: reply with <answer>ACTION</answer> (this step is lost).")
RETRIEVAL_QUERY = "{goal}\n{observation}"
TAGGED = re.compile(r"<\s*/?\s*(tool_call|answer)\b", re.IGNORECASE)


class OraclePlans:
    """The oracle's action lists by task id: computed by the episode (on its own environment, before the reset)
    and read by the scripted engine that plays them (agemem/rollout/env_oracle.py)."""

    def __init__(self) -> None:
        self.plans: dict[str, list[str]] = {}

    def compute(self, task_id: str, env: TextEnv) -> list[str]:
        """The plan of `task_id` (computed once; `oracle_actions` may end a running episode, so call it first)."""
        if task_id not in self.plans:
            self.plans[task_id] = env.oracle_actions(task_id)
        return self.plans[task_id]

    def action(self, task_id: str, index: int) -> str:
        """The plan's action number `index` (0-based); past the plan's end its last action again."""
        plan = self.plans[task_id]
        return plan[min(index, len(plan) - 1)] if plan else "look"


@dataclass(frozen=True)
class EnvOptions:
    """How env episodes run (agemem/eval/env_eval.py builds them from the benchmark and agent configs)."""

    env: str  # the environment's registry name (agemem.envs.ENV_NAMES)
    env_kwargs: dict[str, Any] = field(default_factory=dict)  # its constructor options (path, tasks, …)
    step_limit: int = 30  # steps per episode (AgentBoard: 30)
    mode: str = "agemem"  # MODES
    baseline: BaselineOptions = field(default_factory=BaselineOptions)  # rag/mem0: top_k, mem0's dedup threshold
    plans: OraclePlans | None = None  # the oracle's plans: its step limit becomes max(step_limit, plan length)
    lenient: bool = False  # a final output without tags (less its <think>) is taken as the action


def system_prompt(mode: str, curriculum: CurriculumConfig) -> str:
    """The system prompt of agent `mode` in `curriculum.prompt_style`."""
    if mode == "agemem":
        return system_prompt_for(curriculum)
    if curriculum.prompt_style == "compact":
        return COMPACT_SYSTEM_PROMPT
    return NO_MEMORY_SYSTEM_PROMPT if mode == "no_memory" else MEMORY_SYSTEM_PROMPT


def task_message(env: str, task_id: str, goal: str, observation: str, style: str, tools: bool) -> str:
    """The first user message of an episode (module docstring)."""
    instructions = ACT.format(tools=TOOLS_HINT if tools else "", actions=ACTIONS.get(env, "as the goal needs"))
    return input_text(TASK_INPUT, style, env=env, task_id=task_id, goal=goal, observation=observation,
                      instructions=instructions)


def env_episode(episode: Episode, group_index: int, state: AgentState, settings: TurnSettings, *,
                options: EnvOptions) -> Generator[Request, Completion, Trajectory]:
    """Play `episode.metadata["task_id"]` in a fresh `options.env` environment (module docstring); the
    environment is closed when the episode ends, however it ends."""
    if options.mode not in MODES:
        raise ValueError(f"agent.name={options.mode!r}: the interactive benchmarks take one of {list(MODES)}")
    curriculum = settings.curriculum
    traj = Trajectory(episode_id=episode.id, group_index=group_index, context_budget=curriculum.context_budget,
                      max_rounds=curriculum.max_rounds)
    env = make_env(options.env, **options.env_kwargs)
    try:
        yield from _play(env, episode.metadata["task_id"], traj, state, settings, options)
    finally:
        env.close()
    traj.stage_end[STAGE] = traj.env_result.end
    traj.answer = traj.env_result.actions[-1] if traj.env_result.actions else None
    traj.answer_context_tokens = context_tokens(state, settings)
    traj.stm_final = [dict(m) for m in state.stm.messages]
    traj.ltm_final = [e.to_dict() for e in state.ltm.entries()]
    return traj


def _play(env: TextEnv, task_id: str, traj: Trajectory, state: AgentState, settings: TurnSettings,
          options: EnvOptions) -> Generator[Request, Completion, None]:
    """Reset, then steps until the episode ends; fills `traj.env_result`."""
    limit = options.step_limit
    if options.plans is not None:
        limit = max(limit, len(options.plans.compute(task_id, env)))
    env.step_limit = limit
    first = env.reset(task_id)
    result = traj.env_result = EnvResult(env=options.env, task_id=task_id, step_limit=limit,
                                         score=0.0 if options.env in SCORE_ENVS else None)
    task = {"role": "user", "content": task_message(options.env, task_id, first.goal, first.text,
                                                    settings.curriculum.prompt_style, options.mode == "agemem")}
    state.stm.append(task)
    latest: dict[str, str] | None = None  # the newest observation message (the retrieval agents keep it)
    _remember(state, options, first.text)
    for step in range(1, limit + 1):
        if options.mode in ("rag", "mem0"):
            _retrieval_context(state, options, task, latest, first.goal)
        action = yield from _decide(state, traj, settings, options, task)
        result.steps = step
        outcome: EnvStep | None = None
        if action is None:
            result.no_action_steps += 1
            observation = NO_ACTION
        else:
            outcome = env.step(action)
            result.actions.append(action)
            observation = outcome.observation
            _record(result, outcome)
            _remember(state, options, f"You did: {action}. {observation}")
        latest = {"role": "user", "content": STEP_INPUT.format(step=step, observation=observation)}
        state.stm.append(latest)
        if outcome is not None and outcome.done:
            result.end = ENV_SUCCESS if outcome.success else (ENV_STEP_LIMIT if step >= limit else ENV_TERMINAL)
            return None
    result.end = ENV_STEP_LIMIT
    return None


def _record(result: EnvResult, outcome: EnvStep) -> None:
    result.success = result.success or outcome.success
    result.progress = max(result.progress, outcome.progress)
    if result.score is not None:
        result.score = round(100 * result.progress, 6)


def _decide(state: AgentState, traj: Trajectory, settings: TurnSettings, options: EnvOptions,
            task: dict[str, str]) -> Generator[Request, Completion, str | None]:
    """Up to `max_rounds` calls for one step; the action text, or None when the step gets no action."""
    for round_ in range(settings.curriculum.max_rounds):
        if options.mode in ("agemem", "no_memory"):
            _fit_context(state, traj, settings, task)
        if options.mode == "agemem":
            action = yield from agent_turn(state, traj, STAGE, round_, settings)
        else:
            action = yield from _plain_turn(state, traj, round_, settings)
        traj.context_overflow |= traj.steps[-1].context_tokens > settings.curriculum.context_budget
        if action.kind == "answer":
            return " ".join(action.answer.split())
        if not action.tool_calls:  # a format error ends the step's rounds (as a call without tool calls does)
            return _lenient_action(traj.steps[-1].response_text) if options.lenient else None
    return None


def _lenient_action(text: str) -> str | None:
    """With agent.lenient_answer: an output without <answer> or <tool_call> tags is the action (less its <think>
    blocks), as `stages.baselines.lenient_answer` takes it for an answer; None when nothing is left."""
    if TAGGED.search(text):
        return None
    return " ".join(strip_think(text).split()) or None


def _plain_turn(state: AgentState, traj: Trajectory, round_: int, settings: TurnSettings
                ) -> Generator[Request, Completion, Action]:
    """One call of an agent without tools: a tool call gets NO_TOOLS back, a format error its message."""
    completion = yield Request(list(state.stm.messages))
    action = parse_action(completion.text, settings.curriculum.tool_format)
    state.stm.append({"role": "assistant", "content": completion.text})
    if action.tool_calls:
        state.stm.append({"role": "tool", "content": NO_TOOLS})
    elif action.kind == "format_error":
        state.stm.append({"role": "tool", "content": f"[format error]\n{action.error}"})
    gen = completion.generation
    traj.steps.append(Step(stage=STAGE, round=round_, prompt_ids=completion.prompt_ids, response_ids=gen.token_ids,
                           response_logprobs=gen.logprobs, response_text=completion.text,
                           finish_reason=gen.finish_reason, action=action, context_tokens=len(completion.prompt_ids)))
    return action


def _fit_context(state: AgentState, traj: Trajectory, settings: TurnSettings, task: dict[str, str]) -> None:
    """Cut the oldest messages (never the system prompt, the task message or the newest message) until the prompt
    fits the context budget. Per-message counts pick the first cut; the exact prompt count confirms it."""
    budget = settings.curriculum.context_budget
    excess = context_tokens(state, settings) - budget
    if excess <= 0:
        return
    messages = state.stm.messages
    pinned = [m for m in messages[1:] if m == task][:1]
    rest = [m for m in messages[1:] if not (pinned and m is pinned[0])]
    cut = 0
    while cut < len(rest) - 1 and excess > 0:
        excess -= state.stm.count_tokens(rest[cut])
        cut += 1
    while True:
        state.stm.messages = [messages[0], *pinned, *rest[cut:]]
        if cut >= len(rest) - 1 or context_tokens(state, settings) <= budget:
            break
        cut += 1
    traj.env_result.dropped_messages += cut


def _remember(state: AgentState, options: EnvOptions, text: str) -> None:
    """The automatic memory of the retrieval agents: rag stores the text whole; mem0 stores its facts, a fact
    updating its nearest stored fact when their word-set Jaccard reaches the threshold (stages/baselines.py)."""
    if options.mode == "rag":
        state.ltm.add(text, {"source": "message"})
    elif options.mode == "mem0":
        mem0_store(state, split_facts(text) or [text], options.baseline.dedup_threshold)


def _retrieval_context(state: AgentState, options: EnvOptions, task: dict[str, str],
                       latest: dict[str, str] | None, goal: str) -> None:
    """Reset the context to the task message, the memories retrieved for the goal and the latest observation,
    and that observation (the retrieval agents' context before each action)."""
    query = RETRIEVAL_QUERY.format(goal=goal, observation=latest["content"] if latest else "")
    hits = state.ltm.search(query, top_k=options.baseline.top_k)
    body = "\n".join(f"{i}. {e.content}" for i, (e, _) in enumerate(hits, start=1)) or NO_RETRIEVED
    state.stm.reset()
    state.stm.append(task)
    state.stm.append({"role": "user", "content": RETRIEVED_INPUT.format(content=body)})
    if latest is not None:
        state.stm.append(latest)


def env_episode_flow(options: EnvOptions):
    """`env_episode` bound to its options: an `EpisodeFlow` for `CollectSettings.episode_flow`."""
    def flow(episode: Episode, group_index: int, state: AgentState, settings: TurnSettings
             ) -> Generator[Request, Completion, Trajectory]:
        return env_episode(episode, group_index, state, settings, options=options)
    return flow
