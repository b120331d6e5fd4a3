"""Run B×K three-stage trajectories in lock-step: one engine call per tick holds every pending request.

Each trajectory is a generator (stages/trajectory.py) that yields the model calls it needs; the collector renders
each request's messages with the chat template, tokenises the rendered text once (these exact ids are what the
engine sees and what the Step records), generates for all of them together, and sends each completion back.
"""

import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass, replace
from typing import Any

from transformers import PreTrainedTokenizerBase

from agemem.memory import build_state, extractive_summary
from agemem.memory.config import MemoryConfig
from agemem.records import Trajectory
from agemem.rollout.config import RolloutConfig
from agemem.rollout.engine import Engine
from agemem.rollout.factory import sampling_params
from agemem.tools.schemas import TOOL_SCHEMAS
from data_gen.schema import Episode
from stages.config import CurriculumConfig
from stages.trajectory import run_trajectory
from stages.turn import Completion, Request, TurnSettings

log = logging.getLogger("agemem")

SYSTEM_PROMPT = (
    "You are an agent with a long-term memory (LTM) and a short-term context. Think in <think>...</think>, then "
    'either call memory tools as <tool_call>[{"name": ..., "arguments": {...}}]</tool_call> or reply '
    "<answer>...</answer>. Tools: Add_memory(content), Update_memory(memory_id, content), "
    "Delete_memory(memory_id, confirmation), Retrieve_memory(query, top_k), Summary_context(span), "
    "Filter_context(criteria)."
)
# curriculum.tool_format=hermes: Qwen's native format, one JSON object per <tool_call> block.
HERMES_SYSTEM_PROMPT = (
    "You are an agent with a long-term memory (LTM) and a short-term context. Think in <think>...</think>, then "
    'either call memory tools, one call per block: <tool_call>{"name": ..., "arguments": {...}}</tool_call> '
    "(several blocks for several calls), or reply <answer>...</answer>. Tools: Add_memory(content), "
    "Update_memory(memory_id, content), Delete_memory(memory_id, confirmation), Retrieve_memory(query, top_k), "
    "Summary_context(span), Filter_context(criteria)."
)
# curriculum.prompt_style=compact: the protocol is learnt from demonstrations, not read from the prompt.
COMPACT_SYSTEM_PROMPT = "You are a memory agent."
SYSTEM_PROMPTS = {"full": SYSTEM_PROMPT, "compact": COMPACT_SYSTEM_PROMPT}


def system_prompt_for(curriculum: CurriculumConfig) -> str:
    """The system prompt of `curriculum.prompt_style`; the full style describes `curriculum.tool_format`."""
    if curriculum.prompt_style == "full" and curriculum.tool_format == "hermes":
        return HERMES_SYSTEM_PROMPT
    return SYSTEM_PROMPTS.get(curriculum.prompt_style, SYSTEM_PROMPT)


@dataclass
class CollectSettings:
    """Everything the collector needs from the config, gathered once."""

    curriculum: CurriculumConfig
    memory: MemoryConfig
    rollout: RolloutConfig
    system_prompt: str | None = None  # None: `system_prompt_for(curriculum)`


PLAIN = {"role", "content"}  # a message with only these keys renders from them alone


class PromptRenderer:
    """Chat messages → the exact prompt ids, and per-message token counts for the context budget."""

    MAX_HELD = 65536  # rendered prompts kept for their second use (a bound, not a tuning knob)

    def __init__(self, tokenizer: PreTrainedTokenizerBase, tools_in_prompt: bool):
        self.tokenizer = tokenizer
        self.tools = TOOL_SCHEMAS if tools_in_prompt else None
        # Every model call renders its context twice: the budget check before it, then the prompt. The first
        # render is held (keyed by the messages' roles and texts) and handed out once to the second.
        self.held: dict[tuple[tuple[str, str], ...], list[int]] = {}

    def prompt_ids(self, messages: list[dict[str, Any]]) -> list[int]:
        key = tuple((m["role"], m["content"]) for m in messages) if all(m.keys() == PLAIN for m in messages) else None
        if key is not None and key in self.held:
            return self.held.pop(key)
        text = self.tokenizer.apply_chat_template(
            messages, tools=self.tools, tokenize=False, add_generation_prompt=True
        )
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if key is not None:
            if len(self.held) >= self.MAX_HELD:  # contexts that hit the budget are never asked for again
                self.held.clear()
            self.held[key] = list(ids)
        return ids

    def count_message(self, message: dict[str, Any]) -> int:
        """Tokens of one message as ChatML renders it (the STM caches this per message)."""
        text = f"<|im_start|>{message['role']}\n{message['content']}<|im_end|>\n"
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def decode(self, token_ids: list[int]) -> str:
        """Generated ids → text, keeping tool/answer tags (they are special tokens in some tokenizers)."""
        text = self.tokenizer.decode(token_ids, skip_special_tokens=False)
        for end in (self.tokenizer.eos_token, self.tokenizer.pad_token):
            if end and text.endswith(end):
                text = text[: -len(end)]
        return text


def collect(
    episodes: list[Episode],
    group_size: int,
    engine: Engine,
    settings: CollectSettings,
    tokenizer: PreTrainedTokenizerBase,
    *,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
    episode_seeds: list[int] | None = None,
) -> list[Trajectory]:
    """Roll out every episode `group_size` times; trajectories come back ordered by (episode, group index).

    Sampling is seeded per tick from `seed`, so the same inputs and seed give the same trajectories. With
    `episode_seeds` (one per episode) every trajectory samples from its own seed instead, derived from (episode
    seed, group index, turn): its rollout then does not depend on the other episodes collected with it (the
    trainer uses this so that results do not depend on how a step's tasks are split across ranks).
    """
    if episode_seeds is not None and len(episode_seeds) != len(episodes):
        raise ValueError(f"episode_seeds has {len(episode_seeds)} seeds for {len(episodes)} episodes")
    renderer = PromptRenderer(tokenizer, settings.curriculum.tools_in_prompt)
    turn = TurnSettings(
        tool_format=settings.curriculum.tool_format,
        summarizer=settings.memory.summarizer,
        extractive=extractive_summary,
        budget_threshold=int(settings.curriculum.early_stop_fraction * settings.curriculum.context_budget),
        context_budget=settings.curriculum.context_budget,
        max_rounds=settings.curriculum.max_rounds,
        count_context=lambda messages: len(renderer.prompt_ids(messages)),
        prompt_style=settings.curriculum.prompt_style,
    )
    system_prompt = settings.system_prompt
    if system_prompt is None:
        system_prompt = system_prompt_for(settings.curriculum)
    runs: list[Generator[Request, Completion, Trajectory]] = []
    for episode in episodes:
        for k in range(group_size):
            state = build_state(settings.memory, system_prompt, renderer.count_message)
            runs.append(run_trajectory(episode, k, state, settings.curriculum, turn))
    results: list[Trajectory | None] = [None] * len(runs)
    pending: dict[int, Request] = {}
    for i, run in enumerate(runs):
        _advance(i, run, None, pending, results)
    stop_ids = tuple(t for t in {tokenizer.eos_token_id, tokenizer.pad_token_id} if t is not None)
    tick = 0
    while pending:
        order = sorted(pending)
        prompts = [renderer.prompt_ids(pending[i].messages) for i in order]
        sampling = sampling_params(settings.rollout, stop_ids, seed=seed * 1_000_003 + tick)
        if episode_seeds is not None:  # a trajectory's turn-th call always sits in tick `turn`
            sampling = replace(sampling, seeds=tuple(
                trajectory_seed(episode_seeds[i // group_size], i % group_size, tick) for i in order))
        generations = engine.generate(prompts, sampling)
        for i, prompt, generation in zip(order, prompts, generations):
            completion = Completion(prompt, generation, renderer.decode(generation.token_ids))
            _advance(i, runs[i], completion, pending, results)
        tick += 1
        if progress is not None:
            progress(len(order))
    return [t for t in results if t is not None]


def trajectory_seed(episode_seed: int, group_index: int, turn: int) -> int:
    """The sampling seed of one model call of one trajectory (distinct for distinct inputs in practice)."""
    return ((episode_seed * 1_000_003 + group_index) * 1_000_003 + turn) % 2**63


def _advance(
    i: int,
    run: Generator[Request, Completion, Trajectory],
    completion: Completion | None,
    pending: dict[int, Request],
    results: list[Trajectory | None],
) -> None:
    """Send a completion into trajectory i (or start it); store its next request or its finished record."""
    try:
        pending[i] = run.send(completion) if completion is not None else next(run)
    except StopIteration as finished:
        pending.pop(i, None)
        results[i] = finished.value

