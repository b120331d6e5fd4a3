"""Stage 2, STM control under distractors (SPEC.md §3): the context is reset to the system prompt (LTM kept);
distractors — related but irrelevant or misleading messages — arrive one per step; the agent should
Filter/Summary its context."""

from agemem.records import Episode, Trajectory
from agemem.tools.executor import AgentState
from stages.turn import TurnGen, TurnSettings, input_text, respond_to_inputs

STAGE = 2
DISTRACTOR_INPUT = "[new message]\n{content}\nKeep your context useful, then reply <answer>done</answer>."


def stm_control(
    episode: Episode, state: AgentState, traj: Trajectory, settings: TurnSettings, num_distractors: int
) -> TurnGen:
    """Run stage 2: reset the context, then show up to `num_distractors` distractors, one per step."""
    state.stm.reset()
    inputs = [input_text(DISTRACTOR_INPUT, settings.curriculum.prompt_style, content=d) for d in episode.distractors[:num_distractors]]
    yield from respond_to_inputs(state, traj, STAGE, settings, inputs)
    return None
