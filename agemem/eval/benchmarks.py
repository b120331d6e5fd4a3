"""The benchmarks of `task=eval`: where each one's episodes come from and how an answer is scored (SPEC.md §7.1).

A benchmark names a data source (data_gen/sources.py), its official answer metrics (agemem/eval/metrics.py) and
the metric its table leads with. Every benchmark also gets the shared per-episode metrics (J by the configured
judge, memory quality, prompt tokens, tool calls, format errors: agemem/eval/episode_metrics.py). The interactive
benchmarks (ALFWorld, ScienceWorld, BabyAI, PDDL: kind "env") take their tasks from agemem/envs and are scored by
the environment (agemem/eval/env_eval.py).
"""

from collections.abc import Callable
from dataclasses import dataclass, replace

from agemem.eval.config import BenchmarkConfig
from agemem.eval.env_eval import ENV_HEADLINES, env_episodes
from agemem.eval.metrics import hotpot_row, locomo_row, longmemeval_row
from agemem.records import Episode
from agemem.rewards.matching import exact_match
from data_gen.config import DataConfig
from data_gen.errors import Rejection
from data_gen.sources import build_episodes
from data_gen.splits import assign_splits, select_split


def _hotpotqa(prediction: str, episode: Episode) -> dict[str, float]:
    row = hotpot_row(prediction, episode.answers)
    return {"em": row["em"], "f1": row["f1"]}


def _locomo(prediction: str, episode: Episode) -> dict[str, float]:
    return locomo_row(prediction, episode.answers[0], episode.category)


def _longmemeval(prediction: str, episode: Episode) -> dict[str, float]:
    return longmemeval_row(prediction, episode.answers[0], episode.id)


def _synthetic(prediction: str, episode: Episode) -> dict[str, float]:
    return {"em": exact_match(prediction, episode.answers)}  # the trainer's held-out success


@dataclass(frozen=True)
class Benchmark:
    """One benchmark: its data source, its official answer metrics, the metrics its table leads with."""

    source: str  # data.source of its episodes
    answer_metrics: Callable[[str, Episode], dict[str, float]]  # (prediction, episode) → official metrics
    headline: tuple[str, ...]  # metrics first in the table; the first is reported per category too
    # agemem: one question per episode, answered by the agent; mem_alpha: a chunk stream and several questions
    # answered by the frozen reader from what the agent kept (agemem/eval/mem_alpha.py); env: an interactive
    # benchmark's task, played in its environment (agemem/eval/env_eval.py).
    kind: str = "agemem"


def _read_by_reader(prediction: str, episode: Episode) -> dict[str, float]:
    raise ValueError("Mem-α benchmarks are scored by the reader (agemem/eval/mem_alpha.py), not per answer")


def _scored_by_env(prediction: str, episode: Episode) -> dict[str, float]:
    raise ValueError("interactive benchmarks are scored by their environment (agemem/eval/env_eval.py), not per "
                     "answer")


MEM_ALPHA_HEADLINE = ("accuracy", "memory_tokens", "compression")
BENCHMARKS: dict[str, Benchmark] = {
    "hotpotqa": Benchmark("hotpotqa", _hotpotqa, ("judge", "em", "f1", "memory_quality", "joint")),
    "locomo": Benchmark("locomo", _locomo, ("f1", "judge", "memory_quality", "joint")),
    "longmemeval": Benchmark("longmemeval", _longmemeval,
                             ("accuracy", "abstention_accuracy", "judge", "memory_quality", "joint")),
    "synthetic": Benchmark("synthetic", _synthetic, ("em", "judge", "memory_quality", "joint")),
    **{f"mem_alpha_{source}": Benchmark(f"mem_alpha_{source}", _read_by_reader, MEM_ALPHA_HEADLINE, "mem_alpha")
       for source in ("synthetic", "hotpotqa", "locomo", "longmemeval")},
    **{env: Benchmark(env, _scored_by_env, headline, "env") for env, headline in ENV_HEADLINES.items()},
}


def get_benchmark(name: str) -> Benchmark:
    """The benchmark called `name`; an unknown one raises ValueError naming `benchmark.name` and the valid ones."""
    if name not in BENCHMARKS:
        raise ValueError(f"benchmark.name={name!r}: must be one of {sorted(BENCHMARKS)}")
    return BENCHMARKS[name]


def benchmark_data(benchmark: BenchmarkConfig, data: DataConfig, num_episodes: int) -> DataConfig:
    """The data settings the benchmark's episodes are built with: its source, `data.path` or else the benchmark's
    file, the held-out synthetic ids. `data.source` must be left at its default or name the same source."""
    source = get_benchmark(benchmark.name).source
    if data.source not in ("synthetic", source):
        raise ValueError(f"data.source={data.source!r} conflicts with benchmark={benchmark.name} (whose episodes "
                         f"come from data.source={source!r}): leave data= out, benchmark= picks the source")
    path = data.path or benchmark.path
    synthetic = source in ("synthetic", "mem_alpha_synthetic")  # generated, not read from a file
    if not synthetic and not path:
        raise ValueError(f"benchmark={benchmark.name} needs an input file: data.path=<file> (or benchmark.path)")
    size = num_episodes if synthetic and num_episodes > 0 else data.size
    return replace(data, source=source, path=path if not synthetic else None, size=size,
                   heldout=benchmark.heldout if synthetic else data.heldout)


@dataclass
class BenchmarkEpisodes:
    """The episodes evaluated, and the source items that made none (each accounted for with its reason)."""

    episodes: list[Episode]  # the first eval.num_episodes of the split, in input order
    rejections: list[Rejection]  # items of the input that produced no episode (e.g. no supporting paragraph)
    items: int  # source rows read (0 for synthetic; an interactive benchmark's number of tasks)

    def rejected(self) -> list[dict[str, str | int]]:
        """The rejections as JSON objects: line, item id, field, reason."""
        return [{"line": r.line, "id": r.item_id, "field": r.field, "reason": r.reason} for r in self.rejections]


def benchmark_episodes(benchmark: BenchmarkConfig, data: DataConfig, num_episodes: int,
                       seed: int) -> BenchmarkEpisodes:
    """The episodes evaluated: the benchmark's split, the first `num_episodes` (0: all), ids checked unique; and
    the input's rejected items."""
    if num_episodes < 0:
        raise ValueError(f"eval.num_episodes={num_episodes}: must be >= 0 (0 evaluates every episode)")
    if get_benchmark(benchmark.name).kind == "env":
        episodes, tasks = env_episodes(benchmark, num_episodes)
        return BenchmarkEpisodes(episodes, [], tasks)
    data = benchmark_data(benchmark, data, num_episodes)
    result = build_episodes(data, seed)
    episodes = result.episodes
    assign_splits(episodes, data.val_fraction, data.test_fraction)
    episodes = select_split(episodes, benchmark.split)
    if num_episodes:
        episodes = episodes[:num_episodes]
    if not episodes:
        raise ValueError(f"benchmark={benchmark.name} benchmark.split={benchmark.split!r}: no episode to evaluate")
    seen: set[str] = set()
    for episode in episodes:
        if episode.id in seen:
            raise ValueError(f"benchmark={benchmark.name}: episode id {episode.id!r} occurs twice (rows are keyed "
                             "by episode id)")
        seen.add(episode.id)
    return BenchmarkEpisodes(episodes, result.rejections, result.rows)
