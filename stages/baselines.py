"""Baseline agents' episode flows, beside the AgeMem stages: generators of model requests that the collector
batches exactly like `stages.trajectory.run_trajectory` (agemem/eval/agents.py picks one per agent).

- `no_memory_trajectory`: no memory tools, no long-term memory. The stage-1 material (and, with stage 2 on, the
  distractors after it) stays in the conversation, one user message each; the oldest messages are cut until the
  prompt with the question fits the context budget; then the question is asked and answered.
"""

from collections.abc import Generator

from agemem.records import END_DONE, END_ROUND_LIMIT, Episode, Step, Trajectory
from agemem.tools.executor import AgentState
from agemem.tools.parser import parse_action
from stages.config import CurriculumConfig
from stages.turn import Completion, Request, TurnSettings, context_tokens, input_text

STAGE = 3  # the answering calls are recorded as stage-3 steps (the reasoning stage of the AgeMem flow)
NO_MEMORY_SYSTEM_PROMPT = (
    "You are an assistant without memory tools. Read the conversation, then answer the question: think in "
    "<think>...</think>, then reply <answer>...</answer>."
)
COMPACT_NO_MEMORY_SYSTEM_PROMPT = "You are an assistant."
# The material as it stays in the conversation (no instruction: nothing is asked of the agent until the question).
MATERIAL_INPUT = "[information]\n{content}"
DISTRACTOR_INPUT = "[new message]\n{content}"
QUESTION_INPUT = "[question]\n{question}\nAnswer from the conversation above: reply <answer>your answer</answer>."
# What a call with tool calls gets back: there are no tools to run.
NO_TOOLS = "[no tools]\nThis agent has no memory tools: reply <answer>your answer</answer>."


def no_memory_system_prompt(curriculum: CurriculumConfig) -> str:
    """The no-memory agent's system prompt in `curriculum.prompt_style`."""
    return COMPACT_NO_MEMORY_SYSTEM_PROMPT if curriculum.prompt_style == "compact" else NO_MEMORY_SYSTEM_PROMPT


def material_messages(episode: Episode, num_distractors: int) -> list[dict[str, str]]:
    """The episode's contexts, then its first `num_distractors` distractors, as user messages in order."""
    texts = [MATERIAL_INPUT.format(content=c) for c in episode.contexts]
    texts += [DISTRACTOR_INPUT.format(content=d) for d in episode.distractors[:num_distractors]]
    return [{"role": "user", "content": t} for t in texts]


def fit_to_budget(state: AgentState, material: list[dict[str, str]], question: dict[str, str],
                  settings: TurnSettings) -> int:
    """Fill the context with the system prompt, the newest material that fits and the question; return how many
    material messages were cut (oldest first). The per-message counts pick the first cut; the exact prompt count
    then confirms it (cutting more where a template adds what the sum misses)."""
    budget = settings.curriculum.context_budget
    counts = [state.stm.count_tokens(m) for m in material]
    state.stm.reset()
    for message in [*material, question]:
        state.stm.append(message)
    excess, cut = context_tokens(state, settings) - budget, 0
    while cut < len(material) and excess > 0:
        excess -= counts[cut]
        cut += 1
    while True:
        state.stm.messages = [state.stm.messages[0], *material[cut:], question]
        if cut == len(material) or context_tokens(state, settings) <= budget:
            return cut
        cut += 1


def no_memory_trajectory(
    episode: Episode, group_index: int, state: AgentState, settings: TurnSettings
) -> Generator[Request, Completion, Trajectory]:
    """The no-memory baseline on one episode (module docstring). Stage 2 is on when `curriculum.num_distractors`
    > 0. Up to `max_rounds` calls answer: a call with tool calls gets `NO_TOOLS` back (nothing runs) and another
    call; a call without tool calls (an answer, plain text, a format error) ends the episode, as in stage 3."""
    curriculum = settings.curriculum
    traj = Trajectory(episode_id=episode.id, group_index=group_index, context_budget=curriculum.context_budget,
                      max_rounds=curriculum.max_rounds)
    question = {"role": "user",
                "content": input_text(QUESTION_INPUT, curriculum.prompt_style, question=episode.question)}
    fit_to_budget(state, material_messages(episode, curriculum.num_distractors), question, settings)
    end = END_ROUND_LIMIT
    for round_ in range(curriculum.max_rounds):
        completion = yield Request(list(state.stm.messages))
        action = parse_action(completion.text, curriculum.tool_format)
        state.stm.append({"role": "assistant", "content": completion.text})
        gen = completion.generation
        traj.steps.append(Step(stage=STAGE, round=round_, prompt_ids=completion.prompt_ids,
                               response_ids=gen.token_ids, response_logprobs=gen.logprobs,
                               response_text=completion.text, finish_reason=gen.finish_reason, action=action,
                               context_tokens=len(completion.prompt_ids)))
        traj.context_overflow |= len(completion.prompt_ids) > curriculum.context_budget
        if not action.tool_calls:
            end, traj.answer = END_DONE, action.answer
            if action.answer is not None:
                traj.answer_context_len = len(state.stm.messages) - 1
            break
        state.stm.append({"role": "tool", "content": NO_TOOLS})
    traj.rounds_exceeded = end == END_ROUND_LIMIT
    traj.stage_end[STAGE] = end
    answering = [s for s in traj.steps if s.action.kind == "answer"]
    traj.answer_context_tokens = answering[-1].context_tokens if answering else context_tokens(state, settings)
    traj.stm_final = [dict(m) for m in state.stm.messages]
    return traj
