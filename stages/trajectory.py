"""One three-stage rollout of one episode, as a generator of model requests (SPEC.md §3)."""

from collections.abc import Generator

from agemem.records import Episode, Trajectory
from agemem.tools.executor import AgentState
from stages.integrated_reasoning import integrated_reasoning
from stages.ltm_construction import ltm_construction
from stages.stm_control import stm_control
from stages.turn import Completion, Request, TurnSettings, context_tokens


def run_trajectory(
    episode: Episode, group_index: int, state: AgentState, settings: TurnSettings
) -> Generator[Request, Completion, Trajectory]:
    """Stage 1 → 2 → 3 on one fresh state (empty LTM, system prompt only); LTM persists through all three."""
    curriculum = settings.curriculum
    traj = Trajectory(episode_id=episode.id, group_index=group_index, context_budget=curriculum.context_budget,
                      max_rounds=curriculum.max_rounds)
    yield from ltm_construction(episode, state, traj, settings, curriculum.stage1_variant,
                                curriculum.answer_ends_stage1)
    yield from stm_control(episode, state, traj, settings, curriculum.num_distractors)
    yield from integrated_reasoning(episode, state, traj, settings)
    answering = [s for s in traj.steps if s.stage == 3 and s.action.kind == "answer"]
    # Context tokens when answering (R_compression); without an answer, the context at the end.
    traj.answer_context_tokens = answering[-1].context_tokens if answering else context_tokens(state, settings)
    traj.stm_final = [dict(m) for m in state.stm.messages]
    traj.ltm_final = [e.to_dict() for e in state.ltm.entries()]
    return traj
