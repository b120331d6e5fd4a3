"""Score trajectories: every term of SPEC.md §4, all judge calls of a batch in one `judge.score` call.

`score_batch` first lists what needs judging for every trajectory (the answer, each stage-1 entry, the retrieved
set), sends the whole list to the judge at once (concurrent over HTTP, batched on a local model), then assembles
each `RewardBreakdown` from the verdicts and the rule-based terms. It sets `trajectory.reward` and
`trajectory.reward_components`, and reports `timing_s/reward` and `reward/<component>/mean`.
"""

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

from agemem.records import Episode, Trajectory
from agemem.rewards import official_terms, paper_terms
from agemem.rewards.config import RewardConfig
from agemem.rewards.judges import (
    ANSWER,
    CACHE,
    FALLBACK,
    LLM,
    RELEVANCE,
    STORAGE,
    Judge,
    JudgeRequest,
    RuleJudge,
    Verdict,
)
from agemem.rewards.presets import OFFICIAL, PAPER, check_preset, official_total, paper_total


@dataclass
class RewardBreakdown:
    """R(τ) and every term it is made of (SPEC.md §4; paper eqs. 16–26), under the configured preset."""

    total: float  # R(τ) under the configured formula
    task: float  # R_task ∈ [0, 1], or the no-answer reward (−1)
    context: float  # R_context = mean(compression, preventive, preservation)
    compression: float  # max(0, 1 − T_used/T_max)
    preventive: float  # paper: 1[Summary/Filter succeeded below the budget]; official: and no overflow
    preservation: float  # 1[the query's key terms are in the context the model saw when answering]
    memory: float  # R_memory = mean(storage, maintenance, relevance)
    storage: float  # paper: N_high_quality / max(1, N_total) over stage-1 entries; official: judge or fallback
    maintenance: float  # 1[some Update/Delete succeeded]
    relevance: float  # relevance of the retrieved entries to q (paper: 0 when none; official: judge or fallback)
    tool_efficiency: float  # the official code's R_tool ∈ [−0.5, 1] (0 under the paper preset, which has none)
    penalty: float  # penalty_rounds + penalty_overflow
    penalty_rounds: float  # paper: stage 3 ran out of rounds unanswered; official: stage-3 rounds ≥ max_rounds
    penalty_overflow: float  # the context exceeded the budget (official: chars/4 of the final context)

    def components(self) -> dict[str, float]:
        """Every term but the total, by name (what `Trajectory.reward_components` holds)."""
        parts = asdict(self)
        del parts["total"]
        return parts


class ScoredBatch(list):
    """The breakdowns of a batch (a plain list, in trajectory order) plus the batch's metrics."""

    def __init__(self, breakdowns: Sequence[RewardBreakdown], metrics: dict[str, float]):
        super().__init__(breakdowns)
        self.metrics = metrics


@dataclass
class _Slots:
    """Where one trajectory's judge requests sit in the batch's request list."""

    task: int | None = None
    storage: list[int] = field(default_factory=list)
    relevance: int | None = None


def _plan(traj: Trajectory, episode: Episode, preset: str, requests: list[JudgeRequest]) -> _Slots:
    """Append the trajectory's judge requests to `requests`; return their positions. The paper judges each
    stage-1 entry and every retrieved entry; the official code the first 10 added entries and retrieved items."""
    q, golds, facts = episode.question, tuple(episode.answers), tuple(episode.supporting_facts)
    slots = _Slots()
    if traj.answer is not None:
        slots.task = len(requests)
        requests.append(JudgeRequest(ANSWER, q, golds, (traj.answer,), facts))
    if preset == PAPER:
        entries, retrieved = paper_terms.stored_entries(traj), paper_terms.retrieved_entries(traj)
    else:
        entries = official_terms.added_entries(traj)[: official_terms.JUDGED_SAMPLE]
        retrieved = official_terms.retrieved_items(traj)
    for entry in entries:
        slots.storage.append(len(requests))
        requests.append(JudgeRequest(STORAGE, q, golds, (entry,), facts))
    if retrieved:
        slots.relevance = len(requests)
        requests.append(JudgeRequest(RELEVANCE, q, golds, tuple(retrieved), facts))
    return slots


def _assemble_paper(
    traj: Trajectory, episode: Episode, slots: _Slots, verdicts: list[Verdict], cfg: RewardConfig
) -> RewardBreakdown:
    """The paper's terms (eqs. 17–26) and total (eq. 16)."""
    task = paper_terms.task_reward(traj.answer, None if slots.task is None else verdicts[slots.task].score,
                                   cfg.no_answer_reward)
    used = paper_terms.used_context_tokens(traj, cfg.token_estimate)
    compression = paper_terms.compression_reward(used, traj.context_budget)
    preventive = paper_terms.preventive_reward(traj)
    preservation = paper_terms.preservation_reward(episode.question, traj.answer_context())
    context = paper_terms.context_reward(compression, preventive, preservation)
    storage = paper_terms.storage_reward([verdicts[i].score for i in slots.storage], cfg.storage_threshold)
    maintenance = paper_terms.maintenance_reward(traj)
    relevance = paper_terms.relevance_reward(None if slots.relevance is None else verdicts[slots.relevance].score)
    memory = paper_terms.memory_reward(storage, maintenance, relevance)
    p_rounds, p_overflow = paper_terms.penalties(traj, cfg.penalty_rounds, cfg.penalty_overflow)
    penalty = p_rounds + p_overflow
    return RewardBreakdown(
        total=paper_total(task, context, memory, penalty, cfg),
        task=task, context=context, compression=compression, preventive=preventive, preservation=preservation,
        memory=memory, storage=storage, maintenance=maintenance, relevance=relevance, tool_efficiency=0.0,
        penalty=penalty, penalty_rounds=p_rounds, penalty_overflow=p_overflow,
    )


def _from_llm(verdict: Verdict) -> bool:
    """A verdict an LLM gave (fresh or cached): the official code's LLM override applies only then."""
    return verdict.source in (LLM, CACHE)


def _assemble_official(
    traj: Trajectory, episode: Episode, slots: _Slots, verdicts: list[Verdict], cfg: RewardConfig
) -> RewardBreakdown:
    """The official code's terms (agemem/rewards/official_terms.py) and clipped total. Storage and relevance use
    the LLM's verdicts when an LLM judge gave them, else the official rule fallbacks (as the code does without a
    chat client or when the call fails)."""
    score = None if slots.task is None else verdicts[slots.task].score
    task = paper_terms.task_reward(traj.answer, score, cfg.no_answer_reward)
    compression, preventive = official_terms.compression(traj), official_terms.preventive(traj)
    preservation = official_terms.preservation(episode.question, traj.answer_context())
    context = (compression + preventive + preservation) / 3
    judged = [verdicts[i] for i in slots.storage]
    llm_storage = [v.score for v in judged] if judged and all(map(_from_llm, judged)) else None
    storage = official_terms.storage(llm_storage, official_terms.added_entries(traj), cfg.storage_threshold)
    maintenance = paper_terms.maintenance_reward(traj)
    relevance_verdict = None if slots.relevance is None else verdicts[slots.relevance]
    if relevance_verdict is not None and _from_llm(relevance_verdict):
        relevance = relevance_verdict.score
    else:
        relevance = official_terms.relevance_fallback(traj)
    memory = (storage + maintenance + relevance) / 3
    tool = official_terms.tool_term(traj)
    p_rounds, p_overflow = official_terms.penalties(traj, cfg.penalty_rounds, cfg.penalty_overflow)
    penalty = p_rounds + p_overflow
    return RewardBreakdown(
        total=official_total(score if traj.answer is not None else None, tool, context, memory, penalty, cfg),
        task=task, context=context, compression=compression, preventive=preventive, preservation=preservation,
        memory=memory, storage=storage, maintenance=maintenance, relevance=relevance, tool_efficiency=tool,
        penalty=penalty, penalty_rounds=p_rounds, penalty_overflow=p_overflow,
    )


ASSEMBLE = {PAPER: _assemble_paper, OFFICIAL: _assemble_official}


def batch_metrics(breakdowns: Sequence[RewardBreakdown], verdicts: Sequence[Verdict]) -> dict[str, float]:
    """`reward/<term>/mean` for the total and every term, plus judge request / fallback / cache-hit counts."""
    metrics: dict[str, float] = {}
    if breakdowns:
        for name in asdict(breakdowns[0]):
            metrics[f"reward/{name}/mean"] = sum(getattr(b, name) for b in breakdowns) / len(breakdowns)
        totals = [b.total for b in breakdowns]
        metrics["reward/total/min"], metrics["reward/total/max"] = min(totals), max(totals)
    metrics["reward/judge_requests"] = float(len(verdicts))
    metrics["reward/judge_fallbacks"] = float(sum(v.source == FALLBACK for v in verdicts))
    metrics["reward/judge_cache_hits"] = float(sum(v.source == CACHE for v in verdicts))
    return metrics


def score_batch(
    trajectories: Sequence[Trajectory], episodes_by_id: Mapping[str, Episode], reward_cfg: RewardConfig, judge: Judge
) -> ScoredBatch:
    """Score every trajectory; all judge requests of the batch go to `judge.score` in one call.

    Sets `reward` and `reward_components` on each trajectory. The result is a list of `RewardBreakdown` (in
    trajectory order) with `.metrics`: `timing_s/reward` (whole call), `timing_s/reward_judge` (the judge call),
    `reward/<term>/mean`, `reward/total/min|max`, `reward/judge_requests|judge_fallbacks|judge_cache_hits`.
    """
    start = time.perf_counter()
    assemble = ASSEMBLE[check_preset(reward_cfg.preset)]
    missing = sorted({t.episode_id for t in trajectories} - set(episodes_by_id))
    if missing:
        raise KeyError(f"no episode for trajectories of episode id(s) {missing[:5]}")
    requests: list[JudgeRequest] = []
    plans = [_plan(t, episodes_by_id[t.episode_id], reward_cfg.preset, requests) for t in trajectories]
    judge_start = time.perf_counter()
    verdicts = judge.score(requests) if requests else []
    judge_time = time.perf_counter() - judge_start
    breakdowns = []
    for traj, slots in zip(trajectories, plans):
        breakdown = assemble(traj, episodes_by_id[traj.episode_id], slots, verdicts, reward_cfg)
        traj.reward, traj.reward_components = breakdown.total, breakdown.components()
        breakdowns.append(breakdown)
    metrics = batch_metrics(breakdowns, verdicts)
    metrics["timing_s/reward_judge"] = judge_time
    metrics["timing_s/reward"] = time.perf_counter() - start
    return ScoredBatch(breakdowns, metrics)


def score(
    trajectory: Trajectory, episode: Episode, reward_cfg: RewardConfig, judge: Judge | None = None
) -> RewardBreakdown:
    """Score one trajectory (a batch of one); `judge` defaults to the token-F1 rule judge."""
    judge = judge if judge is not None else RuleJudge()
    return score_batch([trajectory], {trajectory.episode_id: episode}, reward_cfg, judge)[0]
