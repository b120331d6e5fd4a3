"""Schemas of `task=eval`: the `benchmark` and `agent` config groups and the `eval` section (SPEC.md §7)."""

from dataclasses import dataclass, field


@dataclass
class BenchmarkConfig:
    """What task=eval evaluates on: the episodes of one benchmark (agemem/eval/benchmarks.py)."""

    # Benchmark: synthetic | hotpotqa | locomo | longmemeval (episodes from the data source of that name: the `data`
    # group's other settings apply), mem_alpha_* (chunk streams), or an interactive one: alfworld | scienceworld |
    # babyai | pddl (tasks from agemem/envs, agemem/eval/env_eval.py).
    name: str = "synthetic"
    # Input file used when data.path is not set; null: data.path is required (except for synthetic). ALFWorld: a
    # folder of games (game.tw-pddl, searched recursively); PDDL: a folder of <domain>.pddl + <domain>/ problems.
    path: str | None = None
    # Split evaluated: all | train | val | test (each item's split by a hash of its id, data.val/test_fraction).
    split: str = "all"
    # Synthetic: entity ids never used in training (data.heldout; data.heldout_id_fraction picks them by hash).
    heldout: bool = True
    # Interactive benchmarks: steps per episode, valid or not (AgentBoard: 30); agent=oracle plays up to its plan's
    # length when that is longer.
    step_limit: int = 30
    # ScienceWorld: task types; BabyAI: levels (empty: the environment's defaults); ALFWorld / PDDL: only the games
    # of these task types / problems of these domains under benchmark.path (empty: all).
    tasks: list[str] = field(default_factory=list)
    # BabyAI: the seeds played on each level (empty: 0-4).
    seeds: list[int] = field(default_factory=list)
    # ScienceWorld: test variations played per task type (1-3).
    variations: int = 3
    # Interactive benchmarks: environments alive at once (a ScienceWorld one is a JVM); eval batches are cut to it.
    live_envs: int = 16


@dataclass
class AgentConfig:
    """Who answers the benchmark's episodes (agemem/eval/agents.py lists the agents)."""

    # agemem (the policy with the six memory tools: the base model is "noRL", a trained folder via model.path) |
    # no_memory (no tools: the material stays in the context, cut from the oldest) | rag | mem0 | amem (automatic
    # memories retrieved before the question) | oracle (a harness check).
    name: str = "agemem"
    # A final output without an <answer> tag counts with its text (less <think> blocks) as the answer; same for all.
    lenient_answer: bool = False
    # rag/mem0/amem: the agent's model extracts Mem0's facts / writes A-Mem's notes (else rule-based, offline).
    llm_extraction: bool = False
    # rag/mem0/amem: memories retrieved (top-k) and put in the context before the question.
    top_k: int = 3
    # mem0: word-set Jaccard with the nearest stored fact at or above which a new fact updates it instead of adding.
    dedup_threshold: float = 0.6
    # amem: links a new note makes (both ways) to its nearest notes by keyword overlap.
    max_links: int = 2
    # amem: keywords of a rule-based note (its most frequent content words).
    num_keywords: int = 5


@dataclass
class EvalConfig:
    """How task=eval runs: how many episodes, greedy or sampled, stage 2 on or off."""

    # Episodes evaluated: the first N of the benchmark's split; 0 evaluates all of them.
    num_episodes: int = 0
    # 0: one greedy rollout per episode; N > 0: N rollouts sampled at rollout.temperature (one seed per episode
    # and rollout), the episode's row holding their means.
    samples: int = 0
    # Run stage 2 (distractors) in evaluation; off like the official eval (the context is still reset after
    # stage 1).
    stage2: bool = False
    # Episodes each rank collects together in one lock-step batch; their rows are appended when it ends, so a
    # killed eval loses at most one batch.
    episodes_per_batch: int = 16
    # Mem-α benchmarks, agent=long_context: the reader sees the raw input cut to its last this many tokens.
    long_context_tokens: int = 32768
