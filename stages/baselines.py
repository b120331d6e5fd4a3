"""Baseline agents' episode flows, beside the AgeMem stages: generators of model requests that the collector
batches exactly like `stages.trajectory.run_trajectory` (agemem/eval/agents.py picks one per agent).

- `no_memory_trajectory`: no memory tools, no long-term memory. The stage-1 material (and, with stage 2 on, the
  distractors after it) stays in the conversation, one user message each; the oldest messages are cut until the
  prompt with the question fits the context budget; then the question is asked and answered.
- `rag_trajectory` (AgeMem's RAG variant): no tools; every material message is stored in the LTM as it comes; the
  context is reset and the top-k messages retrieved (BM25, or the configured index) for the question are put in
  it, then the question is asked.
- `mem0_trajectory` (Mem0-style manager): every message is split into facts (sentences; or written by the agent's
  model with `llm_extraction`); a fact whose nearest stored fact has word-set Jaccard >= `dedup_threshold` updates
  it (nothing happens when they are equal), else it is added; top-k facts are retrieved before the question.
- `amem_trajectory` (A-Mem-style linked notes): every message becomes a note with keywords (the most frequent
  content words; or a note written by the agent's model with `llm_extraction`) linked both ways to its
  `max_links` nearest notes (keyword overlap); retrieval returns the top-k notes, each with its linked notes.
The memory agents' extraction calls (llm_extraction) are recorded as stage-1 steps (their tokens count in the
episode's prompt tokens; their action is kind "answer" holding the raw text, never a format error). Every answering
call is a stage-3 step; `lenient` (BaselineOptions.lenient_answer, agent.lenient_answer) is applied by
`lenient_flow` around any flow, the AgeMem stages included.
"""

import re
from collections import Counter
from collections.abc import Callable, Generator
from dataclasses import dataclass
from functools import partial

from agemem.records import END_DONE, END_ROUND_LIMIT, Action, Episode, Step, Trajectory
from agemem.tools.executor import AgentState
from agemem.tools.parser import END_TOKENS, parse_action
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


RETRIEVED_INPUT = "[retrieved memories]\n{content}"
NO_RETRIEVED = "(nothing retrieved)"
MEMORY_SYSTEM_PROMPT = (
    "You are an assistant with an automatic memory: the memories retrieved for the question are shown to you. "
    "Answer the question: think in <think>...</think>, then reply <answer>...</answer>."
)
QUESTION_FROM_MEMORY = "[question]\n{question}\nAnswer from the memories above: reply <answer>your answer</answer>."
# The extraction prompts of llm_extraction (Mem0's fact extraction, A-Mem's note writing) by the agent's model.
FACTS_SYSTEM = ("Extract the facts stated in the message: one short self-contained fact per line, nothing else.")
NOTE_SYSTEM = ("Write a memory note for the message: a first line 'Keywords: k1, k2, ...' with its key words, then "
               "one line summarising what it says.")
_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")
_WORD_RE = re.compile(r"[A-Za-z0-9]+")
STOPWORDS = frozenset(
    ["a", "an", "and", "are", "as", "at", "be", "been", "but", "by", "did", "do", "does", "for", "from", "had", "has", "have", "he", "her", "his", "i", "in", "is", "it", "its", "me", "my", "of", "on", "or", "our", "she", "so", "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "to", "was", "we", "were", "what", "when", "where", "which", "who", "why", "will", "with", "you", "your", "not", "no", "yes", "also", "into", "about", "after", "before", "over", "under", "new", "message", "information"])


@dataclass(frozen=True)
class BaselineOptions:
    """The memory baselines' settings (agent.* in conf/agent/, documented in agemem/eval/config.py)."""

    top_k: int = 3  # memories retrieved before the question
    llm_extraction: bool = False  # the agent's model extracts facts / writes notes (else rule-based, offline)
    dedup_threshold: float = 0.6  # mem0: word-set Jaccard at or above which a fact updates its neighbour
    max_links: int = 2  # amem: links each new note makes to its nearest notes
    num_keywords: int = 5  # amem: keywords per rule-based note


def strip_think(text: str) -> str:
    """The output without its <think>…</think> blocks (an unclosed one runs to the end), end tokens and edges."""
    text = re.sub(r"<\s*think\s*>.*?(<\s*/\s*think\s*>|$)", " ", text, flags=re.IGNORECASE | re.DOTALL)
    text = text.strip()
    changed = True
    while changed:
        changed = False
        for token in END_TOKENS:
            if text.endswith(token):
                text, changed = text[: -len(token)].rstrip(), True
    return text.strip()


def lenient_answer(traj: Trajectory) -> None:
    """A trajectory without an answer whose last stage-3 call was a format error with text outside any tag (no
    <answer>, no <tool_call>) gets that text, less its <think> blocks, as its answer (the step stays a format
    error, so format_error_rate still reports it)."""
    if traj.answer is not None:
        return
    final = [s for s in traj.steps if s.stage == STAGE]
    if not final or final[-1].action.kind != "format_error":
        return
    if re.search(r"<\s*/?\s*(tool_call|answer)\b", final[-1].response_text, re.IGNORECASE):
        return
    text = strip_think(final[-1].response_text)
    if text:
        traj.answer = text


def lenient_flow(flow: Callable[..., Generator[Request, Completion, Trajectory]]) -> Callable[
        ..., Generator[Request, Completion, Trajectory]]:
    """`flow` with `lenient_answer` applied to each trajectory it returns."""
    def run(episode: Episode, group_index: int, state: AgentState, settings: TurnSettings
            ) -> Generator[Request, Completion, Trajectory]:
        traj = yield from flow(episode, group_index, state, settings)
        lenient_answer(traj)
        return traj
    return run


def _new_trajectory(episode: Episode, group_index: int, settings: TurnSettings) -> Trajectory:
    curriculum = settings.curriculum
    return Trajectory(episode_id=episode.id, group_index=group_index, context_budget=curriculum.context_budget,
                      max_rounds=curriculum.max_rounds)


def _answer(traj: Trajectory, state: AgentState, settings: TurnSettings
            ) -> Generator[Request, Completion, None]:
    """The answering calls on the context as it stands: up to `max_rounds` calls; a call with tool calls gets
    `NO_TOOLS` back (nothing runs) and another call; a call without tool calls ends the episode, as in stage 3."""
    curriculum = settings.curriculum
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
    answering = [s for s in traj.steps if s.action.kind == "answer" and s.stage == STAGE]
    traj.answer_context_tokens = answering[-1].context_tokens if answering else context_tokens(state, settings)
    traj.stm_final = [dict(m) for m in state.stm.messages]
    traj.ltm_final = [e.to_dict() for e in state.ltm.entries()]


def no_memory_trajectory(
    episode: Episode, group_index: int, state: AgentState, settings: TurnSettings
) -> Generator[Request, Completion, Trajectory]:
    """The no-memory baseline on one episode (module docstring). Stage 2 is on when `curriculum.num_distractors`
    > 0. Up to `max_rounds` calls answer: a call with tool calls gets `NO_TOOLS` back (nothing runs) and another
    call; a call without tool calls (an answer, plain text, a format error) ends the episode, as in stage 3."""
    curriculum = settings.curriculum
    traj = _new_trajectory(episode, group_index, settings)
    question = {"role": "user",
                "content": input_text(QUESTION_INPUT, curriculum.prompt_style, question=episode.question)}
    fit_to_budget(state, material_messages(episode, curriculum.num_distractors), question, settings)
    yield from _answer(traj, state, settings)
    return traj


def words(text: str) -> list[str]:
    """Lower-cased word tokens."""
    return [w.lower() for w in _WORD_RE.findall(text)]


def jaccard(a: str, b: str) -> float:
    """Word-set Jaccard similarity of two texts (0 when both are empty)."""
    sa, sb = set(words(a)), set(words(b))
    return len(sa & sb) / len(sa | sb) if sa | sb else 0.0


def split_facts(text: str) -> list[str]:
    """Rule-based fact extraction: the message's sentences (and lines), without its bracketed header, keeping
    those with at least three words."""
    body = re.sub(r"^\[[^\]\n]*\]\s*", "", text.strip())
    facts = []
    for line in body.splitlines():
        facts += [s.strip() for s in _SENTENCE_RE.split(line.strip()) if len(words(s)) >= 3]
    return facts


def keywords(text: str, n: int) -> list[str]:
    """Rule-based keywords: the `n` most frequent content words (not stopwords, at least three letters), ties by
    first occurrence."""
    counts = Counter(w for w in words(text) if w not in STOPWORDS and len(w) >= 3)
    order = {w: i for i, w in reversed(list(enumerate(words(text))))}
    return sorted(counts, key=lambda w: (-counts[w], order[w]))[:n]


def _material(episode: Episode, settings: TurnSettings) -> list[str]:
    return [m["content"] for m in material_messages(episode, settings.curriculum.num_distractors)]


def _extract(traj: Trajectory, state: AgentState, system: str, message: str
             ) -> Generator[Request, Completion, str]:
    """One extraction call by the agent's model (recorded as a stage-1 step); its text."""
    completion = yield Request([{"role": "system", "content": system}, {"role": "user", "content": message}])
    gen = completion.generation
    traj.steps.append(Step(stage=1, round=0, prompt_ids=completion.prompt_ids, response_ids=gen.token_ids,
                           response_logprobs=gen.logprobs, response_text=completion.text,
                           finish_reason=gen.finish_reason, action=Action(kind="answer", answer=completion.text),
                           context_tokens=len(completion.prompt_ids)))
    return strip_think(completion.text)


def _ask_with_memories(traj: Trajectory, episode: Episode, state: AgentState, settings: TurnSettings,
                       memories: list[str]) -> Generator[Request, Completion, None]:
    """Reset the context to the system prompt, the retrieved memories (one user message) and the question; answer."""
    curriculum = settings.curriculum
    body = "\n".join(f"{i}. {m}" for i, m in enumerate(memories, start=1)) or NO_RETRIEVED
    state.stm.reset()
    state.stm.append({"role": "user", "content": RETRIEVED_INPUT.format(content=body)})
    state.stm.append({"role": "user", "content": input_text(QUESTION_FROM_MEMORY, curriculum.prompt_style,
                                                               question=episode.question)})
    yield from _answer(traj, state, settings)


def rag_trajectory(episode: Episode, group_index: int, state: AgentState, settings: TurnSettings, *,
                   options: BaselineOptions = BaselineOptions()) -> Generator[Request, Completion, Trajectory]:
    """The RAG baseline (module docstring): every message stored, top-k retrieved for the question."""
    traj = _new_trajectory(episode, group_index, settings)
    for text in _material(episode, settings):
        state.ltm.add(re.sub(r"^\[[^\]\n]*\]\s*", "", text), {"source": "message"})
    hits = state.ltm.search(episode.question, top_k=options.top_k)
    yield from _ask_with_memories(traj, episode, state, settings, [e.content for e, _ in hits])
    return traj


def mem0_trajectory(episode: Episode, group_index: int, state: AgentState, settings: TurnSettings, *,
                    options: BaselineOptions = BaselineOptions()) -> Generator[Request, Completion, Trajectory]:
    """The Mem0-style baseline (module docstring): facts added or updating a near-duplicate, top-k retrieved."""
    traj = _new_trajectory(episode, group_index, settings)
    for text in _material(episode, settings):
        if options.llm_extraction:
            raw = yield from _extract(traj, state, FACTS_SYSTEM, text)
            facts = [f.strip(" -*\t") for f in raw.splitlines() if len(words(f)) >= 2] or split_facts(text)
        else:
            facts = split_facts(text)
        mem0_store(state, facts, options.dedup_threshold)
    hits = state.ltm.search(episode.question, top_k=options.top_k)
    yield from _ask_with_memories(traj, episode, state, settings, [e.content for e, _ in hits])
    return traj


def mem0_store(state: AgentState, facts: list[str], dedup_threshold: float) -> None:
    """Mem0's add-or-update: a fact replaces its nearest stored fact when their word-set Jaccard reaches the
    threshold (left alone when identical), otherwise it is added."""
    for fact in facts:
        best = max(((jaccard(fact, e.content), e) for e in state.ltm.entries()), key=lambda p: p[0],
                   default=(0.0, None))
        if best[1] is not None and best[0] >= dedup_threshold:
            if best[1].content != fact:
                state.ltm.update(best[1].id, fact, {"source": "mem0_update"})
        else:
            state.ltm.add(fact, {"source": "mem0_add"})


def _parse_note(raw: str, text: str, n: int) -> tuple[list[str], str]:
    """(keywords, content) of a model-written note; the rule-based ones where it gives none."""
    lines = [line.strip() for line in raw.splitlines() if line.strip()]
    found: list[str] = []
    rest = []
    for line in lines:
        match = re.match(r"keywords?\s*:\s*(.*)", line, re.IGNORECASE)
        if match and not found:
            found = [k.strip().lower() for k in match.group(1).split(",") if k.strip()][:n]
        else:
            rest.append(line)
    summary = " ".join(rest).strip()
    body = re.sub(r"^\[[^\]\n]*\]\s*", "", text.strip())
    return found or keywords(body, n), f"{body}\n(note: {summary})" if summary else body


def amem_trajectory(episode: Episode, group_index: int, state: AgentState, settings: TurnSettings, *,
                    options: BaselineOptions = BaselineOptions()) -> Generator[Request, Completion, Trajectory]:
    """The A-Mem-style baseline (module docstring): keyword notes linked to their nearest notes."""
    traj = _new_trajectory(episode, group_index, settings)
    for text in _material(episode, settings):
        body = re.sub(r"^\[[^\]\n]*\]\s*", "", text.strip())
        if options.llm_extraction:
            raw = yield from _extract(traj, state, NOTE_SYSTEM, text)
            keys, content = _parse_note(raw, text, options.num_keywords)
        else:
            keys, content = keywords(body, options.num_keywords), body
        scored = []
        for entry in state.ltm.entries():
            other = set(entry.metadata.get("keywords", []))
            overlap = len(other & set(keys)) / len(other | set(keys)) if other | set(keys) else 0.0
            if overlap > 0:
                scored.append((-overlap, entry.id))
        links = [memory_id for _, memory_id in sorted(scored)[:options.max_links]]
        note_id = state.ltm.add(content, {"source": "amem_note", "keywords": keys, "links": links})
        for memory_id in links:  # links go both ways (A-Mem's memory evolution, rule-based)
            linked = state.ltm.get(memory_id)
            state.ltm.update(memory_id, linked.content,
                             {"links": [*linked.metadata.get("links", []), note_id],
                              "timestamp": linked.metadata["timestamp"]})
    memories, seen = [], set()
    for entry, _ in state.ltm.search(episode.question, top_k=options.top_k):
        for memory_id in [entry.id, *entry.metadata.get("links", [])]:
            if memory_id in seen:
                continue
            seen.add(memory_id)
            note = state.ltm.get(memory_id)
            prefix = "" if memory_id == entry.id else "(linked) "
            memories.append(f"{prefix}[{', '.join(note.metadata.get('keywords', []))}] {note.content}")
    yield from _ask_with_memories(traj, episode, state, settings, memories)
    return traj


def memory_system_prompt(curriculum: CurriculumConfig) -> str:
    """The memory baselines' system prompt in `curriculum.prompt_style`."""
    return COMPACT_NO_MEMORY_SYSTEM_PROMPT if curriculum.prompt_style == "compact" else MEMORY_SYSTEM_PROMPT


def configured_flow(flow: Callable[..., Generator[Request, Completion, Trajectory]], options: BaselineOptions | None,
                    lenient: bool) -> Callable[..., Generator[Request, Completion, Trajectory]]:
    """`flow` with its options bound (None: a flow without options) and, when `lenient`, `lenient_flow` around it."""
    bound = flow if options is None else partial(flow, options=options)
    return lenient_flow(bound) if lenient else bound
