"""Mem-α's frozen reader and the scoring of chunk-stream rollouts (SPEC.md §6): r1–r4 for every write step.

The reader answers an instance's questions from what a rollout left in memory: core memory plus the BM25 top-k
of semantic + episodic memory, put before the question, completed by a fixed model. Every question of every
rollout of a training step goes to the model in ONE `complete` call (Mem-α's official pipeline sends them to an
answer server one request at a time). Readers:
- `extractive` (offline, the default): no model; its answer is the retrieved memory text itself, and a question
  counts as answered when that text contains a gold answer (substring EM after SQuAD normalisation, whatever the
  source's metric). It measures "is the answer in what the reader would see", an upper bound of a model reader's
  substring EM on the same retrieval. With `reward.reader_match=line` its answer is only the memory lines that
  state every content word of the question as well (for "What is E2294's room?": the entity and the attribute),
  as a reader would need to tell the fact from a miscopied one ("E2994's room is 568");
- `llm_local`: a local HF model (`reward.reader_local`; path null = the policy's own starting weights), batched;
- `llm_http`: an OpenAI-compatible endpoint (`reward.reader_http`), concurrent, cached on disk.
A reply that fails (None) is scored as the extractive reader would score it, and counted.

Per-source metrics (`Episode.questions[i]["metric"]`, SPEC.md §6): `substring_em` (SQuAD/HotpotQA-style: a
normalised gold inside the normalised answer), `exact_match`, `keyword_hit` (fraction of the gold's content
words the answer contains: summaries), `llm_judge` (LongMemEval: a yes/no LLM verdict; the judge's backend when
`judge.kind` is an LLM, else — and for any reply without a yes/no — substring EM).

r4 judges each write for its memory type (`write_validity`): by rules here (below), or by the LLM judge's yes/no
when one is configured, the rules being its fallback.
"""

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agemem.memory.index import Bm25Index
from agemem.memory.mem_alpha import CORE_MEMORY, EPISODIC_MEMORY, SEMANTIC_MEMORY, MemAlphaMemory
from agemem.models import ModelConfig
from agemem.records import Episode, ToolCall, ToolResult, Trajectory
from agemem.rewards.config import RewardConfig
from agemem.rewards.judges import CompletionBackend, Judge, JudgeCache, LLMJudge
from agemem.rewards.matching import content_tokens, normalize_answer, substring_match
from agemem.rewards.mem_alpha import compression, content_validity, qa_accuracy, step_reward
from agemem.tools.mem_alpha import MEMORY_DELETE, WRITE_TOOLS, write_memory_type

READERS = ("extractive", "llm_local", "llm_http")
# What the extractive reader answers with: the whole context it sees, or its lines that name the question's terms.
EXTRACTIVE_MATCHES = ("context", "line")
METRICS = ("substring_em", "exact_match", "keyword_hit", "llm_judge")
READER_SYSTEM = ("Answer the question using only the memory given. Reply with the answer alone, in a few words; "
                 "if the memory does not contain it, reply \"not mentioned\".")
VALIDITY_SYSTEM = "You check entries of an agent's memory. Reply with yes or no only."
VALIDITY_QUESTIONS = {
    CORE_MEMORY: "Is this a real summary of a user or of what is being read (not empty, not a placeholder)?",
    SEMANTIC_MEMORY: "Is this a self-contained fact or piece of knowledge (not an event with a time)?",
    EPISODIC_MEMORY: "Is this an event that states when it happened and what happened?",
}
JUDGE_SYSTEM = "You grade answers. Reply with yes or no only."


def estimate_tokens(text: str) -> int:
    """Characters / 4, rounded up: one counter for the memory and the input, so r3 compares like with like."""
    return -(-len(text) // 4)


@dataclass
class Question:
    """One question of an instance, with how its answer is scored."""

    question: str
    answers: list[str]
    metric: str = "substring_em"
    category: str = ""


def instance_questions(episode: Episode) -> list[Question]:
    """Every question of a Mem-α instance (`Episode.questions`), or the episode's one question."""
    rows = getattr(episode, "questions", None) or [{"question": episode.question, "answers": episode.answers,
                                                     "category": episode.category}]
    questions = [Question(r["question"], list(r["answers"]), r.get("metric") or "substring_em",
                          r.get("category", "")) for r in rows]
    for q in questions:
        if q.metric not in METRICS:
            raise ValueError(f"episode {episode.id}: question metric {q.metric!r} must be one of {list(METRICS)}")
    return questions


def input_tokens(episode: Episode) -> int:
    """r3's input length: the tokens of every chunk of the stream."""
    return sum(estimate_tokens(c) for c in episode.contexts)


def memory_tokens(memory: dict[str, Any]) -> int:
    """r3's memory length: the tokens of every memory content (core + all items), same counter as the input."""
    return MemAlphaMemory.from_dict(memory, count_tokens=estimate_tokens).token_count()


def top_k_texts(documents: Sequence[str], query: str, top_k: int) -> list[str]:
    """The `top_k` documents by BM25 score against `query`, best first (ties: earlier first); documents sharing
    no word with the query are left out."""
    if top_k <= 0 or not documents:
        return []
    index = Bm25Index()
    index.fit(list(documents))
    scores = index.scores(query)
    ranked = sorted(range(len(documents)), key=lambda i: (-float(scores[i]), i))
    return [documents[i] for i in ranked[:top_k] if scores[i] > 0]


def memory_context(memory: dict[str, Any], question: str, top_k: int) -> str:
    """What the reader sees of a final memory: core memory, then the BM25 top-k of semantic + episodic items."""
    items = [f"{m['content']}" for m in memory["semantic"]] + [f"{m['content']}" for m in memory["episodic"]]
    retrieved = top_k_texts(items, question, top_k)
    core = memory["core"].strip() or "Empty."
    return f"Core memory:\n{core}\n\nRetrieved memories:\n" + ("\n".join(f"- {t}" for t in retrieved) or "None.")


def reader_prompt(context: str, question: str) -> tuple[str, str]:
    return READER_SYSTEM, f"{context}\n\nQuestion: {question}\nAnswer:"


def _yes_no(reply: str | None) -> bool | None:
    if reply is None:
        return None
    text = re.sub(r"<think>.*?</think>", "", reply, flags=re.DOTALL | re.IGNORECASE).strip().lower()
    match = re.match(r"\W*(yes|no)\b", text)
    return None if match is None else match.group(1) == "yes"


def keyword_hit(prediction: str, answers: Sequence[str]) -> float:
    """The best fraction over golds of the gold's content words found in the prediction (summaries)."""
    found = content_tokens(prediction)
    best = 0.0
    for gold in answers:
        words = content_tokens(gold)
        if words:
            best = max(best, len(words & found) / len(words))
    return best


def rule_correct(prediction: str, question: Question, extractive: bool) -> float:
    """A question's score by rule: the source's metric, or substring EM for the extractive reader and for
    llm_judge questions without a judge."""
    if extractive or question.metric in ("substring_em", "llm_judge"):
        return substring_match(prediction, question.answers)
    if question.metric == "exact_match":
        return float(any(normalize_answer(prediction) == normalize_answer(a) for a in question.answers))
    return keyword_hit(prediction, question.answers)


class Reader:
    """Answers (context, question) pairs: with a completion backend, or extractively (backend None). Replies are
    cached on disk when a cache is given (a fixed reader gives the same answer to the same prompt)."""

    def __init__(self, kind: str, backend: CompletionBackend | None, top_k: int, cache: JudgeCache | None = None,
                 match: str = "context"):
        if kind not in READERS:
            raise ValueError(f"reward.reader={kind!r}: must be one of {list(READERS)}")
        if match not in EXTRACTIVE_MATCHES:
            raise ValueError(f"reward.reader_match={match!r}: must be one of {list(EXTRACTIVE_MATCHES)}")
        self.kind, self.backend, self.top_k, self.cache, self.match = kind, backend, top_k, cache, match
        self.failures = 0  # replies that failed and were scored extractively

    @property
    def extractive(self) -> bool:
        return self.backend is None

    def answer(self, contexts: Sequence[str], questions: Sequence[str]) -> list[str | None]:
        """One answer per pair, all in one backend call; the extractive reader's answer is the context (or, with
        match "line", the context's lines that contain every content word of the question)."""
        if self.backend is None:
            return list(contexts) if self.match == "context" else [stating_lines(c, q) for c, q in
                                                                    zip(contexts, questions)]
        prompts = [reader_prompt(c, q) for c, q in zip(contexts, questions)]
        model_id = self.backend.model_id
        replies = self.cache.get_many(model_id, prompts) if self.cache else [None] * len(prompts)
        missing = [i for i, r in enumerate(replies) if r is None]
        for i, reply in zip(missing, self.backend.complete([prompts[i] for i in missing]) if missing else []):
            replies[i] = reply
        if self.cache:
            self.cache.put_many(model_id, [(prompts[i], replies[i]) for i in missing if replies[i] is not None])
        return replies


def stating_lines(context: str, question: str) -> str:
    """The lines of `context` that contain every content word of `question` (normalised), joined by newlines."""
    terms = content_tokens(question)
    return "\n".join(line for line in context.splitlines() if terms <= content_tokens(line))


def build_reader(cfg: RewardConfig, policy: ModelConfig) -> Reader:
    """The reader `reward.reader` names. llm_local with `reward.reader_local.path` null reads with the policy's
    starting weights (`policy`, loaded once more and never updated: the reader stays frozen)."""
    if cfg.reader not in READERS:
        raise ValueError(f"reward.reader={cfg.reader!r}: must be one of {list(READERS)}")
    if cfg.reader == "extractive":
        return Reader("extractive", None, cfg.reader_top_k, match=cfg.reader_match)
    if cfg.reader == "llm_http":
        from agemem.rewards.judges.http_backend import HTTPBackend

        http = cfg.reader_http
        return Reader("llm_http", HTTPBackend(http), cfg.reader_top_k,
                      JudgeCache(http.cache_path) if http.cache_path else None)
    from agemem.rewards.judges.local_backend import load_local_backend  # loads torch models: only when asked

    backend = load_local_backend(cfg.reader_local, "reward.reader_local", policy)
    return Reader("llm_local", backend, cfg.reader_top_k)


def score_answers(reader: Reader, judge: Judge | None, contexts: Sequence[str],
                  questions: Sequence[Question]) -> list[float]:
    """Correctness in [0, 1] of each question, answered by `reader` from its context (see the module docstring)."""
    replies = reader.answer(contexts, [q.question for q in questions])
    scores: list[float | None] = [None] * len(questions)
    to_judge = []
    for i, (reply, question) in enumerate(zip(replies, questions)):
        if reply is None:  # a failed reply: scored as the extractive reader would
            reader.failures += 1
            scores[i] = rule_correct(contexts[i], question, extractive=True)
        elif question.metric == "llm_judge" and isinstance(judge, LLMJudge) and not reader.extractive:
            to_judge.append(i)
        else:
            scores[i] = rule_correct(reply, question, reader.extractive)
    if to_judge:
        prompts = [(JUDGE_SYSTEM, (f"Question: {questions[i].question}\nGold answer: {questions[i].answers[0]}\n"
                    f"Answer: {replies[i]}\nIs the answer correct?")) for i in to_judge]
        for i, verdict in zip(to_judge, judge.backend.complete(prompts)):
            judged = _yes_no(verdict)
            scores[i] = float(judged) if judged is not None else rule_correct(replies[i], questions[i], False)
    return [float(s) for s in scores]


# ---- r4: is each write valid for its memory type ----------------------------------------------------------------
PLACEHOLDERS = frozenset({"", "none", "null", "n/a", "na", "empty", "placeholder", "todo", "tbd", "unknown",
                          "nothing", "no information", "no content", "core memory", "summary"})
_MONTHS = ("january|february|march|april|may|june|july|august|september|october|november|december|"
           "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec")
_WEEKDAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday"
TIME_PATTERN = re.compile(
    rf"\b(?:(?:1[0-9]|20)\d{{2}}|\d{{1,2}}[:.]\d{{2}}\s*(?:am|pm)?|\d{{1,2}}\s*(?:am|pm)|{_MONTHS}|{_WEEKDAYS}|"
    r"yesterday|today|tonight|tomorrow|morning|afternoon|evening|night|noon|midnight|timestamp|"
    r"(?:day|week|month|year|session|step|turn|chunk)\s*\d+|\d{1,2}/\d{1,2}(?:/\d{2,4})?|"
    r"(?:last|next|this|that|earlier|later)\s+(?:day|week|month|year|weekend|time))\b",
    re.IGNORECASE,
)
_AT_TIME = re.compile(r"^\s*(?:at|on|in|during)\b[^,]{1,60},", re.IGNORECASE)


def rule_valid(memory_type: str, content: str) -> bool:
    """A write's content judged by rule for its type (the fallback of the LLM verdict, SPEC.md §6):
    core: not a placeholder, at least 3 words; episodic: a time and an event (a time expression and at least 3
    other words); semantic: a fact (at least 3 words or a "key: value" pair, not a question, not a timestamped
    event "At <time>, …")."""
    text = content.strip()
    words = text.split()
    if memory_type == CORE_MEMORY:
        return normalize_answer(text) not in PLACEHOLDERS and len(words) >= 3
    if memory_type == EPISODIC_MEMORY:
        time_words = sum(len(m.group(0).split()) for m in TIME_PATTERN.finditer(text))
        return bool(TIME_PATTERN.search(text)) and len(words) - time_words >= 3
    if memory_type == SEMANTIC_MEMORY:
        is_pair = bool(re.match(r"^[^:]{2,80}:\s*\S", text))
        return (len(words) >= 3 or is_pair) and not text.endswith("?") and not _AT_TIME.match(text)
    return False


@dataclass
class Write:
    """One write call of one step and what r4 judges of it."""

    memory_type: str | None
    content: str | None  # the written text; None for a delete (nothing to judge but that it executed)
    executed: bool


def step_writes(calls: Sequence[ToolCall], results: Sequence[ToolResult]) -> list[Write]:
    """The step's write calls (search and unknown calls are not writes), with their content and outcome."""
    writes = []
    for call, result in zip(calls, results):
        if call.name not in WRITE_TOOLS:
            continue
        memory_type = write_memory_type(call)
        args = call.arguments if isinstance(call.arguments, dict) else {}
        content = None if call.name == MEMORY_DELETE else str(args.get("content", args.get("new_content", "")))
        writes.append(Write(memory_type, content, executed=result.ok))
    return writes


def write_validity(writes_per_step: Sequence[Sequence[Write]], judge: Judge | None) -> list[list[bool]]:
    """r4's verdict on every write of every step: invalid when its type is unknown or the call failed; a delete is
    valid when it executed; content by the LLM judge's yes/no when `judge` is an LLM judge (one batched call),
    by `rule_valid` otherwise and wherever the judge gives no yes/no."""
    llm = judge.backend if isinstance(judge, LLMJudge) else None
    verdicts: list[list[bool | None]] = []
    asks: list[tuple[int, int]] = []
    for s, writes in enumerate(writes_per_step):
        row: list[bool | None] = []
        for w, write in enumerate(writes):
            if write.memory_type is None or not write.executed:
                row.append(False)
            elif write.content is None:
                row.append(True)
            elif llm is not None:
                row.append(None)
                asks.append((s, w))
            else:
                row.append(rule_valid(write.memory_type, write.content))
        verdicts.append(row)
    if asks:
        prompts = []
        for s, w in asks:
            write = writes_per_step[s][w]
            prompts.append((VALIDITY_SYSTEM, (f"Memory type: {write.memory_type}\nEntry: {write.content}\n"
                                             f"{VALIDITY_QUESTIONS[write.memory_type]}")))
        for (s, w), reply in zip(asks, llm.complete(prompts)):
            judged = _yes_no(reply)
            write = writes_per_step[s][w]
            verdicts[s][w] = judged if judged is not None else rule_valid(write.memory_type, write.content)
    return [[bool(v) for v in row] for row in verdicts]


def executed_share(results: Sequence[ToolResult]) -> float:
    """r2_t: the fraction of the step's calls that executed; a skipped duplicate insert is not counted as
    executed (the official code counts only calls that changed the memory), and a step without calls gets 0."""
    if not results:
        return 0.0
    return sum(r.ok and r.data.get("status") != "skipped" for r in results) / len(results)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


@dataclass
class MemAlphaScores:
    """The scoring of a batch of chunk-stream rollouts: each trajectory's `step_rewards` and `reward` are set;
    `correct[i]` are trajectory i's per-question scores; `metrics` the batch means."""

    correct: list[list[float]]
    metrics: dict[str, float]


def score_mem_alpha(trajectories: Sequence[Trajectory], episodes_by_id: dict[str, Episode], cfg: RewardConfig,
                    reader: Reader, judge: Judge | None) -> MemAlphaScores:
    """r_t = r1 + r2_t + β·r3 + γ·r4_t for every step of every trajectory (SPEC.md §6), the reader's questions and
    the validity verdicts each in one batched call. Sets `traj.step_rewards`, `traj.reward` (the mean r_t, for
    logging) and `traj.reward_components`."""
    start = time.perf_counter()
    contexts, questions, owners = [], [], []
    for t, traj in enumerate(trajectories):
        if traj.memory_final is None:
            raise ValueError(f"trajectory of episode {traj.episode_id}: no memory_final (not a Mem-α rollout)")
        for q in instance_questions(episodes_by_id[traj.episode_id]):
            contexts.append(memory_context(traj.memory_final, q.question, reader.top_k))
            questions.append(q)
            owners.append(t)
    flat = score_answers(reader, judge, contexts, questions)
    correct: list[list[float]] = [[] for _ in trajectories]
    for t, score in zip(owners, flat):
        correct[t].append(score)
    writes = [[step_writes(s.action.tool_calls, s.tool_results) for s in traj.steps] for traj in trajectories]
    flat_steps = [w for per_traj in writes for w in per_traj]
    flat_valid = write_validity(flat_steps, judge)
    totals: dict[str, list[float]] = {k: [] for k in ("r1", "r2", "r3", "r4", "memory_tokens", "compression_ratio")}
    offset = 0
    for t, traj in enumerate(trajectories):
        episode = episodes_by_id[traj.episode_id]
        valid = flat_valid[offset: offset + len(traj.steps)]
        offset += len(traj.steps)
        r1 = qa_accuracy(correct[t])
        size, source = memory_tokens(traj.memory_final), input_tokens(episode)
        r3 = compression(size, source)
        r2s = [executed_share(s.tool_results) for s in traj.steps]
        r4s = [content_validity(v) for v in valid]
        traj.step_rewards = [step_reward(r1, r2, r3, r4, cfg.mem_alpha_beta, cfg.mem_alpha_gamma)
                             for r2, r4 in zip(r2s, r4s)]
        traj.reward = _mean(traj.step_rewards)
        traj.reward_components = {"r1_qa_accuracy": r1, "r2_call_success": _mean(r2s), "r3_compression": r3,
                                  "r4_content_validity": _mean(r4s), "memory_tokens": float(size),
                                  "input_tokens": float(source)}
        for key, value in (("r1", r1), ("r2", _mean(r2s)), ("r3", r3), ("r4", _mean(r4s)),
                           ("memory_tokens", float(size)), ("compression_ratio", size / source if source else 0.0)):
            totals[key].append(value)
    n = max(len(trajectories), 1)
    metrics = {f"reward/{k}/mean": sum(v) / n for k, v in totals.items()}
    metrics["reward/total/mean"] = sum(t.reward for t in trajectories) / n
    metrics["reward/reader_failures"] = float(reader.failures)
    metrics["timing_s/reward"] = time.perf_counter() - start
    return MemAlphaScores(correct, metrics)
