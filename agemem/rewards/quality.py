"""Memory quality (AgeMem paper Fig. 2, "MQ"): the final LTM's entries against the episode's supporting facts.

With the rule judge, MQ is the fraction of supporting facts that some stored entry holds (at least
`judge.overlap_threshold` of the fact's content words); with an LLM judge, the paper's 0–1 rubric (App. C.2)
comparing the stored entries with the expected facts. An empty memory scores 0 without asking the judge.
"""

from collections.abc import Mapping, Sequence

from agemem.records import Episode, Trajectory
from agemem.rewards.judges import MEMORY_QUALITY, Judge, JudgeRequest


def stored_contents(traj: Trajectory) -> list[str]:
    """The contents of the LTM entries at the end of the trajectory."""
    return [str(entry["content"]) for entry in traj.ltm_final]


def memory_quality(
    trajectories: Sequence[Trajectory], episodes_by_id: Mapping[str, Episode], judge: Judge
) -> list[float]:
    """MQ ∈ [0, 1] of each trajectory's final LTM; all judge requests go out in one `judge.score` call."""
    requests, positions = [], []
    for traj in trajectories:
        episode = episodes_by_id[traj.episode_id]
        entries = tuple(stored_contents(traj))
        positions.append(len(requests) if entries else None)
        if entries:
            requests.append(
                JudgeRequest(
                    MEMORY_QUALITY, episode.question, tuple(episode.answers), entries, tuple(episode.supporting_facts)
                )
            )
    verdicts = judge.score(requests) if requests else []
    return [0.0 if i is None else verdicts[i].score for i in positions]


def memory_quality_metrics(values: Sequence[float]) -> dict[str, float]:
    """`memory/quality/mean` over a batch (0 for an empty batch)."""
    return {"memory/quality/mean": sum(values) / len(values) if values else 0.0}
