"""Stage 3, integrated reasoning (SPEC.md §3): the stage-2 context carries over, the query is appended, and the
agent retrieves from LTM, manages its context and ends with <answer>."""

from agemem.records import END_ROUND_LIMIT, Episode, Trajectory
from agemem.tools.executor import AgentState
from stages.turn import TurnGen, TurnSettings, input_text, record_end, respond

STAGE = 3
QUESTION_INPUT = "[question]\n{question}\nUse your memory, then reply <answer>your answer</answer>."


def integrated_reasoning(episode: Episode, state: AgentState, traj: Trajectory, settings: TurnSettings) -> TurnGen:
    """Run stage 3 on the context left by stage 2; sets `traj.answer` when the agent answers, and how many
    messages of the context the answering call saw (the answer is the last message appended)."""
    question = input_text(QUESTION_INPUT, settings.curriculum.prompt_style, question=episode.question)
    state.stm.append({"role": "user", "content": question})
    end, answer = yield from respond(state, traj, STAGE, settings)
    traj.answer = answer
    if answer is not None:
        traj.answer_context_len = len(state.stm.messages) - 1
    # P_rounds (paper eq. 26): stage 3 used all its rounds without an answer. Stages 1 and 2 may use all theirs.
    traj.rounds_exceeded = end == END_ROUND_LIMIT
    record_end(traj, STAGE, [end])
    return None
