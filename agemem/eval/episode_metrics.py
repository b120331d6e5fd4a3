"""One evaluation row per episode (SPEC.md §7.1): what `eval_episodes.jsonl` holds and `aggregate` summarises.

Every trajectory gets:
- `judge` (J): the configured judge's 0–1 score of the answer (rule judges offline; the local or HTTP LLM judge
  with the paper's rubric), 0 without an answer;
- the benchmark's official answer metrics (HotpotQA `em`/`f1`, LoCoMo `f1` by its category's rule, LongMemEval
  `accuracy`, synthetic `em`), scored on "" without an answer;
- for agents with a long-term memory, `memory_quality` (MQ: the final LTM against the supporting facts, the
  judge's rubric or the rule fallback's fact coverage) and `joint` = sqrt(J·MQ);
- `answered`, `model_calls`, `prompt_tokens` (the episode's sum over its model calls), `prompt_tokens_per_call`,
  `format_error_rate` (share of its calls that were format errors), `tool_calls/<tool>` and `tool_calls/total`
  (calls executed, failed ones included).
With several sampled rollouts per episode, the episode's row holds each metric's mean over them (so that the
bootstrap treats episodes, not rollouts, as the independent draws).
"""

from collections import Counter
from collections.abc import Sequence
from typing import Any

from agemem.eval.benchmarks import Benchmark
from agemem.eval.metrics import joint
from agemem.records import Episode, Trajectory
from agemem.rewards.judges import ANSWER, Judge, JudgeRequest
from agemem.rewards.quality import memory_quality
from agemem.tools.schemas import TOOL_NAMES


def answer_scores(trajectories: Sequence[Trajectory], episodes_by_id: dict[str, Episode], judge: Judge) -> list[float]:
    """J of each trajectory: the judge's score of its answer (0 without one); one `judge.score` call."""
    requests, positions = [], []
    for traj in trajectories:
        episode = episodes_by_id[traj.episode_id]
        positions.append(len(requests) if traj.answer is not None else None)
        if traj.answer is not None:
            requests.append(JudgeRequest(ANSWER, episode.question, tuple(episode.answers), (traj.answer,),
                                         tuple(episode.supporting_facts)))
    verdicts = judge.score(requests) if requests else []
    return [0.0 if i is None else verdicts[i].score for i in positions]


def trajectory_metrics(traj: Trajectory, episode: Episode, benchmark: Benchmark, judge_score: float,
                       quality: float | None) -> dict[str, float]:
    """The metrics of one rollout (module docstring); `quality` None for an agent without a long-term memory."""
    row = {"judge": judge_score, **benchmark.answer_metrics(traj.answer or "", episode)}
    if quality is not None:
        row["memory_quality"] = quality
        row["joint"] = joint(judge_score, quality)
    calls = len(traj.steps)
    prompt_tokens = sum(len(s.prompt_ids) for s in traj.steps)
    row.update({
        "answered": float(traj.answer is not None),
        "model_calls": float(calls),
        "prompt_tokens": float(prompt_tokens),
        "prompt_tokens_per_call": prompt_tokens / calls if calls else 0.0,
        "format_error_rate": sum(s.action.kind == "format_error" for s in traj.steps) / calls if calls else 0.0,
    })
    executed = Counter(r.name for r in traj.tool_results())
    row.update({f"tool_calls/{name}": float(executed[name]) for name in TOOL_NAMES})
    row["tool_calls/total"] = float(sum(executed.values()))
    return row


def episode_rows(episodes: Sequence[Episode], trajectories: Sequence[Trajectory], samples: int,
                 benchmark: Benchmark, judge: Judge, memory: bool) -> list[dict[str, Any]]:
    """One row per episode from its `samples` trajectories (collected in episode order, `samples` each): the mean
    of each metric, plus `id`, `category`, `gold` and the `predictions` (None where no answer was given)."""
    if len(trajectories) != len(episodes) * samples:
        raise ValueError(f"{len(trajectories)} trajectories for {len(episodes)} episodes × {samples} samples")
    by_id = {e.id: e for e in episodes}
    scores = answer_scores(trajectories, by_id, judge)
    qualities: list[float | None] = list(memory_quality(trajectories, by_id, judge)) if memory else [None] * len(
        trajectories)
    rows = []
    for i, episode in enumerate(episodes):
        part = range(i * samples, (i + 1) * samples)
        metrics = [trajectory_metrics(trajectories[j], episode, benchmark, scores[j], qualities[j]) for j in part]
        mean = {key: sum(m[key] for m in metrics) / samples for key in metrics[0]}
        rows.append({"id": episode.id, "category": episode.category, "gold": episode.answers[0],
                     "predictions": [trajectories[j].answer for j in part], **mean})
    return rows
