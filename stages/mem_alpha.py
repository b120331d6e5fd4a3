"""Mem-α's chunk-stream rollout (SPEC.md §6) as a generator the collector batches like the AgeMem stages.

An instance's material arrives as a stream of chunks (`Episode.contexts`). Each chunk gets ONE write turn: the
context is rebuilt from scratch as [system: the instructions + the rendered memory, user: the per-chunk prompt
with the chunk], the policy answers with any number of write calls (`new_memory_insert`, `memory_update`,
`memory_delete`), and they are applied to the core/semantic/episodic memory. Nothing else of the earlier turns
is shown: what the agent did not write down is gone. Every write turn is one token-exact `Step` (stage 1, round =
the chunk's index). The questions are answered afterwards from the final memory by the frozen reader
(agemem.rewards.mem_alpha_reader), which is why the trajectory carries `memory_final`.
"""

from collections.abc import Generator
from functools import partial

from agemem.memory.mem_alpha import MemAlphaMemory
from agemem.records import END_DONE, Episode, Step, ToolResult, Trajectory
from agemem.tools.executor import AgentState
from agemem.tools.mem_alpha import execute_mem_alpha_action
from agemem.tools.parser import parse_action
from stages.config import MemAlphaConfig
from stages.turn import Completion, Request, TurnSettings

STAGE = 1  # Mem-α has one kind of turn: writing memory from a chunk

# The instructions of every write turn; the memory follows them. Paraphrased from the paper's description of its
# agent (Fig. 6 and §3), not the official prompt text; the call syntax is the one `mem_alpha.tool_format` parses.
SYSTEM_PROMPT = (
    "You are a memory agent. You read a long input one chunk at a time and never see a chunk again, so you keep "
    "what matters in three memories: core memory (one short paragraph, always shown to you), semantic memory "
    "(facts) and episodic memory (timestamped events). Later, questions about the input are answered from your "
    "memory alone. Write with the tools new_memory_insert(memory_type, content), memory_update(memory_type, "
    "new_content, memory_id) and memory_delete(memory_type, memory_id).{syntax}\n\nYour memory now:\n{memory}"
)
SYNTAX = {
    "qwen_agent": " Call a tool as ✿FUNCTION✿: <name> on one line and ✿ARGS✿: <JSON arguments> on the next; "
                  "several calls one after another.",
    "hermes": ' Call a tool as <tool_call>{"name": ..., "arguments": {...}}</tool_call>, one block per call.',
    "agemem": ' Call tools as <tool_call>[{"name": ..., "arguments": {...}}, ...]</tool_call>.',
}
# The per-chunk user message, in the paper's three parts: keep the core up to date, store episodes and facts,
# within the stated response limit.
CHUNK_PROMPT = (
    "Store the following chunk in your memory:\n"
    "1. Core memory: keep a brief running understanding of the user or of what is being read (a few sentences; "
    "update it, do not append to it).\n"
    "2. Episodic memory: events with their time, as \"At <time>, <who> <did what>\".\n"
    "3. Semantic memory: key facts, one per item (\"Harry Potter author: J.K. Rowling\").\n"
    "<new_chunk>\n{chunk}\n</new_chunk>\n"
    "Your response may use at most {max_new_tokens} tokens: be brief."
)


# mem_alpha.prompt_style=compact: the memory and the bare chunk, for a tiny model that learns the protocol from
# demonstrations (the full instructions are ~600 of its tokens per turn).
COMPACT_SYSTEM_PROMPT = "You are a memory agent.\n\n{memory}"
COMPACT_CHUNK_PROMPT = "<new_chunk>\n{chunk}\n</new_chunk>"
PROMPT_STYLES = ("full", "compact")


def write_turn_messages(memory: MemAlphaMemory, chunk: str, tool_format: str, max_new_tokens: int,
                        style: str = "full") -> list[dict]:
    """The whole context of one write turn: the instructions with the rendered memory, then the chunk."""
    if tool_format not in SYNTAX:
        raise ValueError(f"mem_alpha.tool_format={tool_format!r}: must be one of {list(SYNTAX)}")
    if style not in PROMPT_STYLES:
        raise ValueError(f"mem_alpha.prompt_style={style!r}: must be one of {list(PROMPT_STYLES)}")
    if style == "compact":
        return [{"role": "system", "content": COMPACT_SYSTEM_PROMPT.format(memory=memory.render())},
                {"role": "user", "content": COMPACT_CHUNK_PROMPT.format(chunk=chunk)}]
    system = SYSTEM_PROMPT.format(syntax=SYNTAX[tool_format], memory=memory.render())
    return [{"role": "system", "content": system},
            {"role": "user", "content": CHUNK_PROMPT.format(chunk=chunk, max_new_tokens=max_new_tokens)}]


def chunk_stream(
    episode: Episode, group_index: int, state: AgentState, settings: TurnSettings, config: MemAlphaConfig,
    max_new_tokens: int,
) -> Generator[Request, Completion, Trajectory]:
    """One rollout of a Mem-α instance: a write turn per chunk on a fresh memory; returns the trajectory with
    its steps and `memory_final`. (`state`, the AgeMem agent state the collector builds, is not used.)"""
    del state
    memory = MemAlphaMemory(config.core_max_tokens, config.window)
    traj = Trajectory(episode_id=episode.id, group_index=group_index, context_budget=settings.curriculum.context_budget,
                      max_rounds=1)
    for index, chunk in enumerate(episode.contexts):
        completion = yield Request(write_turn_messages(memory, chunk, config.tool_format, max_new_tokens,
                                                       config.prompt_style))
        action = parse_action(completion.text, config.tool_format)
        # A format error executes nothing: its step has no call, so r2_t = 0 (rewards.mem_alpha.call_success).
        results: list[ToolResult] = execute_mem_alpha_action(action, memory) if action.tool_calls else []
        generation = completion.generation
        traj.steps.append(Step(
            stage=STAGE, round=index, prompt_ids=completion.prompt_ids, response_ids=generation.token_ids,
            response_logprobs=generation.logprobs, response_text=completion.text,
            finish_reason=generation.finish_reason, action=action, tool_results=results,
            context_tokens=len(completion.prompt_ids),
        ))
    traj.memory_final = memory.to_dict()
    traj.stage_end[STAGE] = END_DONE
    return traj


def chunk_stream_flow(config: MemAlphaConfig, max_new_tokens: int):
    """`chunk_stream` bound to its settings: an `EpisodeFlow` for `CollectSettings.episode_flow`."""
    return partial(chunk_stream, config=config, max_new_tokens=max_new_tokens)
