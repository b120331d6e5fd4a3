"""Schema of the `curriculum` config group: the three stages of a trajectory (SPEC.md §3)."""

from dataclasses import dataclass


@dataclass
class CurriculumConfig:
    """Round limits, budgets and the stage-1 variant."""

    # Stage-1 variant: paper (one context message per step, each after an automatic retrieval) or official
    # (all contextual information in one casual-chat user message).
    stage1_variant: str = "paper"
    # Stage 1: an <answer> ends the stage, the remaining context messages unseen (the paper's Alg 3); false: it
    # ends the turn on the current message, like any call without tool calls (the agent can then see every
    # message without a format error: docs/FIDELITY.md).
    answer_ends_stage1: bool = False
    # Most model calls per input message in each stage (SPEC.md §3: 5).
    max_rounds: int = 5
    # Distractors shown in stage 2, one per step (SPEC.md §3: 3).
    num_distractors: int = 3
    # Context budget in tokens (SPEC.md §3: 8,192).
    context_budget: int = 8192
    # Auto-stop (official code: 0.8): once the context passes this fraction of the budget after a call, the rounds on
    # the current input end (later inputs still arrive; stage 3 always gets a call).
    early_stop_fraction: float = 0.8
    # Tool-call syntax the agent writes: agemem (a JSON array in one <tool_call>) or hermes (Qwen's format).
    tool_format: str = "agemem"
    # Render the tool schemas in the system turn (chat template `tools=`); false keeps prompts short.
    tools_in_prompt: bool = True
    # full (the system prompt and each input's instruction line) or compact (a one-line system prompt and bare
    # tagged inputs: short prompts for tiny models that learn the protocol from demonstrations).
    prompt_style: str = "full"


@dataclass
class MemAlphaConfig:
    """Mem-α's chunk-stream rollout (SPEC.md §6): the memory it writes and how its prompt shows it."""

    # Most tokens of the core memory paragraph (the official code: 512).
    core_max_tokens: int = 512
    # Most recent semantic and episodic items shown in the prompt, per type (the official code: 20).
    window: int = 20
    # Tool-call syntax: qwen_agent (the official ✿FUNCTION✿/✿ARGS✿), hermes, or agemem (a JSON array).
    tool_format: str = "qwen_agent"
    # Render the four tool schemas in the system turn (chat template `tools=`).
    tools_in_prompt: bool = True
    # full (the instructions, the memory, the chunk prompt with its response limit) or compact (the memory and
    # the bare chunk: short prompts for tiny models that learn the protocol from demonstrations).
    prompt_style: str = "full"
