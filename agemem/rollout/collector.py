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

from agemem.memory import AgentState, build_state, extractive_summary
from agemem.memory.config import MemoryConfig
from agemem.records import Episode, Trajectory
from agemem.rollout.config import RolloutConfig
from agemem.rollout.engine import Engine
from agemem.rollout.factory import sampling_params
from agemem.seeding import derive_seed
from agemem.tools.schemas import TOOL_SCHEMAS
from stages.config import CurriculumConfig
from stages.prompts import system_prompt_for
from stages.trajectory import run_trajectory
from stages.turn import Completion, Request, TurnSettings

log = logging.getLogger("agemem")
# One episode as a generator of model requests (stages/trajectory.run_trajectory, or a baseline agent's flow).
EpisodeFlow = Callable[[Episode, int, AgentState, TurnSettings], Generator[Request, Completion, Trajectory]]

@dataclass
class CollectSettings:
    """Everything the collector needs from the config, gathered once."""

    curriculum: CurriculumConfig
    memory: MemoryConfig
    rollout: RolloutConfig
    system_prompt: str | None = None  # None: `system_prompt_for(curriculum)`
    episode_flow: EpisodeFlow | None = None  # how one episode runs; None: the three AgeMem stages (run_trajectory)
    # The tools rendered into the prompt when curriculum.tools_in_prompt (None: the six AgeMem tools).
    tool_schemas: list[dict[str, Any]] | None = None


PLAIN = {"role", "content"}  # a message with only these keys renders from them alone


class PromptRenderer:
    """Chat messages → the exact prompt ids, and per-message token counts for the context budget."""

    MAX_HELD = 65536  # rendered prompts kept for their second use (a bound, not a tuning knob)

    def __init__(self, tokenizer: PreTrainedTokenizerBase, tools_in_prompt: bool,
                 schemas: list[dict[str, Any]] | None = None):
        self.tokenizer = tokenizer
        self.tools = (TOOL_SCHEMAS if schemas is None else schemas) if tools_in_prompt else None
        # Every model call renders its context twice: the budget check before it, then the prompt. The first
        # render is held (keyed by the messages' roles and texts) and handed out once to the second.
        self.held: dict[tuple[tuple[str, str], ...], list[int]] = {}
        # Per role: (reference conversation, its rendered text, its token count), measured once (count_message).
        self._references: dict[str, tuple[list[dict[str, Any]], str, int]] = {}
        self._generation_tokens: int | None = None

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

    # What a counted message is appended to, by its role: what precedes it in a real context (the system prompt
    # first, an input before a reply, a reply before a tool result), so that templates which look at the previous
    # message render it as they would in place. Other roles follow a user message.
    REFERENCE_ROLES = (
        ("user", ("system",)), ("assistant", ("system", "user")), ("tool", ("system", "user", "assistant")))

    def _render(self, messages: list[dict[str, Any]], generation: bool) -> str:
        return self.tokenizer.apply_chat_template(
            messages, tools=self.tools, tokenize=False, add_generation_prompt=generation
        )

    def _tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _reference(self, role: str) -> tuple[list[dict[str, Any]], str, int]:
        if role not in self._references:
            roles = dict(self.REFERENCE_ROLES).get(role, ("system", "user"))
            messages = [{"role": r, "content": "x"} for r in roles]
            text = self._render(messages, generation=False)
            self._references[role] = (messages, text, self._tokens(text))
        return self._references[role]

    def count_message(self, message: dict[str, Any]) -> int:
        """Tokens `message` adds to the prompt, as the tokenizer's own chat template renders it (the STM
        caches this per message and sums it for the context budget).

        A system message counts as a context's first message (the STM's messages[0], the only system message
        it holds): its count is the whole render of [message], so it also carries what the template puts at
        the start of a conversation (a BOS, a date header, the tool schemas when tools are in the prompt). Any
        other message counts as the tokens it adds to a fixed reference conversation for its role
        (REFERENCE_ROLES): the reference's render (measured once per role) is a prefix of the render with the
        message appended, and only the added text is tokenised; a template that rewrites earlier text when a
        message is appended falls back to the difference of the two renders' whole token counts.

        Why this is exact for ChatML and Llama-3-style templates: each message renders to one block delimited
        by special tokens (`<|im_start|>role\\n…<|im_end|>\\n`,
        `<|start_header_id|>role<|end_header_id|>\\n\\n…<|eot_id|>`), special tokens are split off before BPE
        runs, so no token spans two blocks and a block's tokens do not depend on its neighbours; the
        template's fixed leading text (a BOS) goes to the system message. So for a context that starts with
        its system message, the counts sum to the token count of its render, and `len(prompt_ids(context)) ==
        sum + generation_tokens()` (the generation prompt, e.g. `<|im_start|>assistant\\n`: the one constant).
        Rendering a message alone and subtracting a fixed overhead would miss a BOS emitted on the first
        message only; hand-rendering a frame misses templates that trim or rewrite content (Llama-3 trims it).
        For ChatML the added block of a system/user/assistant message is exactly the
        `<|im_start|>{role}\\n{content}<|im_end|>\\n` counted by hand before: those counts are unchanged.

        Where per-message counts cannot be exact:
        - a template that injects a default system message into a context without one (Qwen2.5): STM contexts
          always start with theirs; a context without one renders that default block (the count of the default
          system message) on top of the sum;
        - a template that merges consecutive messages: the project's template renders a tool result as
          `<|im_start|>user\\n<tool_response>\\n…\\n</tool_response><|im_end|>\\n` (so its count is that, not
          the `<|im_start|>tool\\n…` counted by hand before) and a run of tool results as one such turn; each
          is counted as a turn of its own, so a run of n is over-counted by n-1 times a fixed frame (the
          budget errs high);
        - with tools in the prompt, the system message's count includes the tool schemas (they are in its
          turn);
        - a template that rewrites earlier messages depending on later ones (Qwen3 drops the <think> of
          replies before the last user input): a message is counted as rendered at the end of the context.
        """
        if message["role"] == "system":
            return self._tokens(self._render([message], generation=False))
        reference, text, tokens = self._reference(message["role"])
        rendered = self._render([*reference, message], generation=False)
        if rendered.startswith(text):
            return self._tokens(rendered[len(text):])
        return self._tokens(rendered) - tokens

    def generation_tokens(self) -> int:
        """Tokens of the generation prompt that `prompt_ids` appends (e.g. `<|im_start|>assistant\\n`),
        measured once: `len(prompt_ids(context)) == sum(count_message(m) for m in context) +
        generation_tokens()` for a context that starts with its system message (see `count_message` for the
        exceptions)."""
        if self._generation_tokens is None:
            reference, _, tokens = self._reference("assistant")
            self._generation_tokens = self._tokens(self._render(reference, generation=True)) - tokens
        return self._generation_tokens

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
    renderer = PromptRenderer(tokenizer, settings.curriculum.tools_in_prompt, settings.tool_schemas)
    turn = TurnSettings(settings.curriculum, settings.memory.summarizer, extractive_summary,
                        count_context=lambda messages: len(renderer.prompt_ids(messages)))
    system_prompt = settings.system_prompt
    if system_prompt is None:
        system_prompt = system_prompt_for(settings.curriculum)
    flow = settings.episode_flow or run_trajectory
    runs: list[Generator[Request, Completion, Trajectory]] = []
    for episode in episodes:
        for k in range(group_size):
            state = build_state(settings.memory, system_prompt, renderer.count_message)
            runs.append(flow(episode, k, state, turn))
    results: list[Trajectory | None] = [None] * len(runs)
    pending: dict[int, Request] = {}
    for i, run in enumerate(runs):
        _advance(i, run, None, pending, results)
    stop_ids = tuple(t for t in {tokenizer.eos_token_id, tokenizer.pad_token_id} if t is not None)
    tick = 0
    while pending:
        order = sorted(pending)
        prompts = [renderer.prompt_ids(pending[i].messages) for i in order]
        sampling = sampling_params(settings.rollout, stop_ids, seed=derive_seed(seed, tick))
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
    trajectories = [t for t in results if t is not None]
    for i, trajectory in enumerate(trajectories):  # the GRPO group: the K rollouts of one collected episode
        trajectory.group_id = f"{trajectory.episode_id}#{i // group_size}"
    return trajectories


def trajectory_seed(episode_seed: int, group_index: int, turn: int) -> int:
    """The sampling seed of one model call of one trajectory (distinct for distinct inputs in practice)."""
    return derive_seed(episode_seed, group_index, turn)


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

