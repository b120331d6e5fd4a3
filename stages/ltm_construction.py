"""Stage 1, LTM construction (SPEC.md §3): the agent sees the contextual information, never the query, and may
Add/Update/Delete long-term memories.

Two variants: `paper` shows one context message per step, each preceded by an automatic retrieval of related
memories; `official` (the official code) puts all of it in one casual-chat user message.
"""

from agemem.records import Episode, ToolCall, Trajectory
from agemem.tools.executor import AgentState, execute_call
from agemem.tools.schemas import RETRIEVE_MEMORY
from stages.turn import TurnGen, TurnSettings, input_text, respond_to_inputs

STAGE = 1
VARIANTS = ("paper", "official")
PAPER_INPUT = "[information]\n{content}\nStore what may matter later, then reply <answer>done</answer>."
OFFICIAL_INPUT = "Let's chat casually. Here is what happened:\n{content}\nStore what may matter later, then reply " \
                 "<answer>done</answer>."


def stage1_inputs(episode: Episode, variant: str, style: str = "full") -> list[str]:
    """The user messages of stage 1. The query is never among them."""
    if variant == "paper":
        return [input_text(PAPER_INPUT, style, content=c) for c in episode.contexts]
    if variant == "official":
        contents = "\n".join(episode.contexts)
        return [input_text(OFFICIAL_INPUT, style, content=contents)] if episode.contexts else []
    raise ValueError(f"curriculum.stage1_variant={variant!r}: must be one of {list(VARIANTS)}")


def ltm_construction(
    episode: Episode, state: AgentState, traj: Trajectory, settings: TurnSettings, variant: str,
    answer_ends_stage: bool = False,
) -> TurnGen:
    """Run stage 1 on `state` (LTM starts empty; the context holds the system prompt). With `answer_ends_stage`
    an <answer> ends the stage (the paper's Alg 3); otherwise it ends the turn on the current message."""

    def recall(i: int) -> None:  # the paper's automatic retrieval before each context message
        if variant == "paper" and len(state.ltm):
            query = {"query": episode.contexts[i]}
            state.stm.append({"role": "tool", "content": execute_call(ToolCall(RETRIEVE_MEMORY, query), state,
                                                                       lambda m: "").message})

    inputs = stage1_inputs(episode, variant, settings.curriculum.prompt_style)
    yield from respond_to_inputs(state, traj, STAGE, settings, inputs, recall, answer_ends_stage)
    return None
