"""The plain records every floor passes around (DESIGN.md): what a task is, what a model call produced, what an
output meant, and what a rollout recorded. This module imports nothing of the project.

- `Episode`: one task (stage-1 material, stage-2 distractors, the question, its answers; a Mem-α instance's
  several questions), with its validation.
- `Generation` and the finish reasons: what an engine returns for one prompt.
- `ToolCall`, `Action`, `ToolResult`: what one model output means and what executing a call did.
- `Step`, `Trajectory`: one model call recorded token-exactly; one rollout of an episode and, once scored, its
  reward; `EnvResult`: how an interactive-benchmark episode (agemem/envs) ended. Step and Trajectory round-trip
  through JSON (`to_dict` / `from_dict`), so trajectories can be written to `trajectories.jsonl`, inspected, and
  scored or trained on later.
"""

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

# The canonical answer of a question the material cannot answer (LoCoMo adversarial items, deleted facts).
ABSTAIN_ANSWER = "not mentioned"


@dataclass
class Episode:
    """One task: stage-1 material, stage-2 distractors, the stage-3 question and its reference answers."""

    id: str  # unique within a file; splits hash it
    source: str  # "hotpotqa", "locomo", "longmemeval", "synthetic", …
    contexts: list[str]  # stage 1: the contextual information I_q, one message each, in order
    distractors: list[str]  # stage 2: related but irrelevant or misleading messages, one per step
    question: str  # stage 3: the query q (never shown in stage 1)
    answers: list[str]  # gold answers A_q; the first is canonical
    supporting_facts: list[str] = field(default_factory=list)  # reference for memory quality
    category: str = ""  # source-specific question type (LoCoMo category, HotpotQA type, …)
    metadata: dict[str, Any] = field(default_factory=dict)  # anything else the source carries
    # Every question of a multi-question instance (Mem-α), each {"question": str, "answers": [str, …], "category":
    # str (optional), "metric": str (optional, one of QUESTION_METRICS)}; questions[0] repeats `question` and
    # `answers`, so one-question code keeps working. Empty for a one-question episode.
    questions: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "Episode":
        """Build from a JSON object; raises `ValueError` naming the first invalid field (see `episode_problems`)."""
        problems = episode_problems(data)
        if problems:
            name, reason = problems[0]
            raise ValueError(f"field {name!r}: {reason}")
        return Episode(**data)


REQUIRED = ("id", "source", "contexts", "distractors", "question", "answers")
FIELD_NAMES = tuple(f.name for f in fields(Episode))
# The answer metrics a question of a multi-question instance may name (SPEC.md §6: substring EM for
# SQuAD/HotpotQA-style answers, exact match, keyword-hit ratio for summaries, an LLM yes/no judge for LongMemEval).
QUESTION_METRICS = ("substring_em", "exact_match", "keyword_hit", "llm_judge")
QUESTION_KEYS = ("question", "answers", "category", "metric")


def _text_problem(value: Any) -> str | None:
    """Why `value` is not a non-empty string, or None when it is one."""
    if not isinstance(value, str):
        return f"expected a string, got {type(value).__name__}"
    if not value.strip():
        return "empty string"
    return None


def _list_problems(name: str, value: Any, non_empty: bool) -> list[tuple[str, str]]:
    """Problems of a list-of-non-empty-strings field; `non_empty` also requires at least one element."""
    if not isinstance(value, list):
        return [(name, f"expected a list of strings, got {type(value).__name__}")]
    if non_empty and not value:
        return [(name, "empty list: at least one element is required")]
    return [(f"{name}[{i}]", p) for i, item in enumerate(value) if (p := _text_problem(item))]


def _metadata_problems(value: Any) -> list[tuple[str, str]]:
    if not isinstance(value, dict):
        return [("metadata", f"expected an object, got {type(value).__name__}")]
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as err:
        return [("metadata", f"not JSON-serialisable: {err}")]
    return []


def _question_problems(name: str, item: Any) -> list[tuple[str, str]]:
    """Problems of one entry of `questions`, named `name` (e.g. "questions[2]")."""
    if not isinstance(item, dict):
        return [(name, f"expected an object, got {type(item).__name__}")]
    problems = [(f"{name}.{key}", "unknown field") for key in item if key not in QUESTION_KEYS]
    problems += [(f"{name}.{key}", "missing required field") for key in ("question", "answers") if key not in item]
    if "question" in item and (p := _text_problem(item["question"])):
        problems.append((f"{name}.question", p))
    if "answers" in item:
        problems += _list_problems(f"{name}.answers", item["answers"], non_empty=True)
    if "category" in item and not isinstance(item["category"], str):
        problems.append((f"{name}.category", f"expected a string, got {type(item['category']).__name__}"))
    if "metric" in item and item["metric"] not in QUESTION_METRICS:
        problems.append((f"{name}.metric", f"{item['metric']!r} is not one of {list(QUESTION_METRICS)}"))
    return problems


def _questions_problems(value: Any, data: dict[str, Any]) -> list[tuple[str, str]]:
    """Problems of `questions`: valid entries, the first of which repeats the episode's question and answers."""
    if not isinstance(value, list):
        return [("questions", f"expected a list of objects, got {type(value).__name__}")]
    problems = [p for i, item in enumerate(value) for p in _question_problems(f"questions[{i}]", item)]
    if value and not problems:
        for key in ("question", "answers"):
            if value[0][key] != data.get(key):
                problems.append((f"questions[0].{key}", f"must equal the episode's {key!r}"))
    return problems


def episode_problems(data: Any) -> list[tuple[str, str]]:
    """Every reason `data` (a decoded JSON object) is not a valid Episode, as (field, reason); [] when valid.

    Rules: the six required fields are present; id, source and question are non-empty strings; contexts and
    answers are non-empty lists of non-empty strings; distractors and supporting_facts are lists of non-empty
    strings; category is a string; metadata a JSON-serialisable object; questions a list of objects, each with
    a non-empty question, non-empty answers, an optional string category and an optional metric of
    QUESTION_METRICS (nothing else), the first repeating the episode's question and answers; no unknown fields.
    """
    if not isinstance(data, dict):
        return [("(row)", f"expected a JSON object, got {type(data).__name__}")]
    problems = [(name, "unknown field") for name in data if name not in FIELD_NAMES]
    problems += [(name, "missing required field") for name in REQUIRED if name not in data]
    checks = {
        "id": lambda v: [("id", p)] if (p := _text_problem(v)) else [],
        "source": lambda v: [("source", p)] if (p := _text_problem(v)) else [],
        "question": lambda v: [("question", p)] if (p := _text_problem(v)) else [],
        "contexts": lambda v: _list_problems("contexts", v, non_empty=True),
        "answers": lambda v: _list_problems("answers", v, non_empty=True),
        "distractors": lambda v: _list_problems("distractors", v, non_empty=False),
        "supporting_facts": lambda v: _list_problems("supporting_facts", v, non_empty=False),
        "category": lambda v: [] if isinstance(v, str) else [("category", f"expected a string, got {type(v).__name__}")],
        "metadata": _metadata_problems,
        "questions": lambda v: _questions_problems(v, data),
    }
    for name, check in checks.items():
        if name in data:
            problems += check(data[name])
    return problems


# Why a generation ended: a stop token was emitted, or the max_new_tokens cap was reached.
FINISH_STOP = "stop"
FINISH_LENGTH = "length"


@dataclass
class Generation:
    """One completion: the exact generated ids, their log-probs, and why it ended ("stop" or "length")."""

    token_ids: list[int]
    logprobs: list[float]
    finish_reason: str


ActionKind = Literal["tool_calls", "answer", "format_error"]


@dataclass
class ToolCall:
    """One requested tool call, exactly as parsed (arguments are validated by the executor, not here)."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass
class Action:
    """The parsed meaning of one model output. Exactly one of `tool_calls`, `answer`, `error` is meaningful."""

    kind: ActionKind
    tool_calls: list[ToolCall] = field(default_factory=list)
    answer: str | None = None
    think: str | None = None  # the <think> text, if any
    error: str | None = None  # why the output is a format error (shown to the agent)
    warnings: list[str] = field(default_factory=list)  # tolerated problems (missing closing tag, duplicates, …)


@dataclass
class ToolResult:
    """What executing one tool call did: the message the agent sees plus structured data for the reward."""

    name: str
    arguments: dict[str, Any]
    ok: bool  # False for every error result (unknown tool, bad arguments, unknown id, no confirmation)
    message: str  # the text that enters the context as a `tool` message
    data: dict[str, Any] = field(default_factory=dict)  # e.g. {"memory_id": …}, {"retrieved": [{id, content, score}]}


# How the agent's turn on an input (and so a stage) ended: a call without tool calls, every round used, or the
# auto-stop after a call (the context passed 0.8 × budget).
END_DONE = "done"
END_ROUND_LIMIT = "round_limit"
END_BUDGET = "budget"


@dataclass
class Step:
    """One model call inside a trajectory, recorded token-exactly."""

    stage: int  # 1 LTM construction, 2 STM control, 3 integrated reasoning
    round: int  # 0-based round within the stage's current input message
    prompt_ids: list[int]  # the exact ids the engine saw (the rendered context)
    response_ids: list[int]  # the exact ids it generated
    response_logprobs: list[float]  # log-prob of each generated id (engine.py defines it)
    response_text: str  # decoded response
    finish_reason: str  # "stop" or "length"
    action: Action  # what the response was parsed as
    tool_results: list[ToolResult] = field(default_factory=list)  # one per executed call, in order
    context_tokens: int = 0  # tokens in the prompt (= len(prompt_ids))


# How an interactive-benchmark episode ended: the task solved, the environment ended it (a failed ScienceWorld
# task), or the step limit.
ENV_SUCCESS = "success"
ENV_TERMINAL = "terminal"
ENV_STEP_LIMIT = "step_limit"
ENV_ENDS = (ENV_SUCCESS, ENV_TERMINAL, ENV_STEP_LIMIT)


@dataclass
class EnvResult:
    """The outcome of one interactive-benchmark episode (stages/env_episode.py): what its evaluation row reads."""

    env: str  # the environment's registry name ("alfworld", "scienceworld", "babyai", "pddl")
    task_id: str  # the task played
    step_limit: int  # steps allowed (the benchmark's; for the oracle at least its plan's length)
    success: bool = False  # the task was solved
    progress: float = 0.0  # best progress in [0, 1] (PDDL: AgentBoard's progress rate; 1.0 on success)
    score: float | None = None  # ScienceWorld's native 0–100 score (its best, = 100 × progress); None elsewhere
    steps: int = 0  # steps used: actions sent to the environment plus steps lost without an action
    no_action_steps: int = 0  # steps lost: a format error, or every round spent on tool calls without an <answer>
    actions: list[str] = field(default_factory=list)  # the action texts sent to the environment, in order
    dropped_messages: int = 0  # context messages cut (oldest first) to fit the context budget
    end: str = ""  # ENV_SUCCESS | ENV_TERMINAL | ENV_STEP_LIMIT once the episode is over

    def __post_init__(self) -> None:
        if not 0.0 <= self.progress <= 1.0:
            raise ValueError(f"EnvResult.progress={self.progress}: must lie in [0, 1]")
        if self.end and self.end not in ENV_ENDS:
            raise ValueError(f"EnvResult.end={self.end!r}: must be one of {list(ENV_ENDS)}")
        if not 0 <= self.no_action_steps <= self.steps <= self.step_limit:
            raise ValueError(f"EnvResult: need 0 <= no_action_steps ({self.no_action_steps}) <= steps ({self.steps})"
                             f" <= step_limit ({self.step_limit})")


@dataclass
class Trajectory:
    """One three-stage rollout of one episode (SPEC.md §3) and, once scored, its reward."""

    episode_id: str
    group_index: int  # k in 0..K-1 among the rollouts of the same episode
    # The GRPO group (set by the collector): the K rollouts of one collected episode share it, and an episode
    # collected twice in one batch forms two groups ("<episode id>#<its position in the batch>").
    group_id: str = ""
    steps: list[Step] = field(default_factory=list)
    answer: str | None = None  # the final <answer> of stage 3, None when none was given
    stage_end: dict[int, str] = field(default_factory=dict)  # stage → END_DONE | END_ROUND_LIMIT | END_BUDGET
    rounds_exceeded: bool = False  # stage 3 used all its rounds without an answer (P_rounds, −1)
    context_overflow: bool = False  # the context exceeded the budget itself at some call (P_overflow, −0.5)
    context_budget: int = 0  # the context token budget the rollout ran under
    max_rounds: int = 0  # the model calls allowed per input (curriculum.max_rounds)
    answer_context_tokens: int = 0  # context tokens when answering (or at the end when no answer)
    stm_final: list[dict[str, Any]] = field(default_factory=list)  # the context messages at the end
    # How many of stm_final's messages the answering call saw (None: all of them): R_preservation is measured on
    # stm_final[:answer_context_len], never on text the answer added.
    answer_context_len: int | None = None
    ltm_final: list[dict[str, Any]] = field(default_factory=list)  # LTM snapshot entries at the end
    # A Mem-α chunk stream's final core/semantic/episodic memory (MemAlphaMemory.to_dict); None for AgeMem.
    memory_final: dict[str, Any] | None = None
    # Mem-α: the reward r_t of each step (SPEC.md §6), set by its scoring; empty for AgeMem's terminal reward.
    step_rewards: list[float] = field(default_factory=list)
    # An interactive-benchmark episode's outcome (success, progress, score, actions); None for the other flows.
    env_result: EnvResult | None = None
    reward: float | None = None  # terminal reward, set by rewards.score
    reward_components: dict[str, float] = field(default_factory=dict)  # every term of the reward, by name

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "Trajectory":
        steps = []
        for s in data["steps"]:
            action = dict(s["action"])
            action["tool_calls"] = [ToolCall(**c) for c in action["tool_calls"]]
            steps.append(
                Step(**{**s, "action": Action(**action), "tool_results": [ToolResult(**r) for r in s["tool_results"]]})
            )
        stage_end = {int(k): v for k, v in data["stage_end"].items()}
        env_result = data.get("env_result")  # absent in trajectories written before it existed
        return Trajectory(**{**data, "steps": steps, "stage_end": stage_end,
                             "env_result": EnvResult(**env_result) if env_result is not None else None})

    def tool_results(self, stage: int | None = None) -> list[ToolResult]:
        """Every executed tool call, in order, optionally of one stage only."""
        return [r for s in self.steps if stage is None or s.stage == stage for r in s.tool_results]

    def answer_context(self) -> list[dict[str, Any]]:
        """The context messages the model saw when it answered (the final context when it did not answer)."""
        return self.stm_final[: self.answer_context_len]
