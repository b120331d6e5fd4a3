"""The root config schema. Hydra merges `conf/` into it, so a mistyped key or override is an error naming it.

Each group's schema lives beside the code that reads it; this module composes them and registers the result.
"""

from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore

from agemem.eval.config import AgentConfig, BenchmarkConfig, EvalConfig
from agemem.memory.config import MemoryConfig
from agemem.models.config import ModelConfig
from agemem.rewards.config import JudgeConfig, RewardConfig
from agemem.rollout.config import RolloutConfig
from agemem.tasks.demo_config import DemoConfig
from agemem.train.config import AlgorithmConfig, DeepSpeedConfig, LoggerConfig, TrainerConfig
from agemem.train.sft_config import SFTConfig
from data_gen.config import DataConfig
from stages.config import CurriculumConfig, MemAlphaConfig


@dataclass
class SmokeConfig:
    """`task=smoke`: one chat prompt with the memory tools, completed by the model."""

    # The user message to complete.
    prompt: str = "Alice moved to Paris in 2019. Remember it."
    # Tokens to generate.
    max_new_tokens: int = 48


@dataclass
class ReportConfig:
    """`task=report`: which runs, and where the report goes (the PNGs go beside it, in `out`)."""

    # Evaluation run folders (eval_summary.json) and training run folders (metrics.jsonl), or folders above them.
    inputs: list[str] = field(default_factory=list)
    # The report's file name inside the output folder.
    file: str = "report.md"


@dataclass
class Config:
    """Everything a run reads. `python run.py --help` lists the groups and presets."""

    # What to run: smoke | generate | rollout | train | sft | demo | eval | report.
    task: str = "smoke"
    # Global seed: python, numpy, torch, sampling.
    seed: int = 0
    # Output folder; empty uses Hydra's run folder (outputs/<task>/<date>/<time>).
    out: str = ""
    # Resume training: auto (from <out>/checkpoints/latest if any), never, or a checkpoints folder; task=eval:
    # auto (continue <out>/eval_episodes.jsonl) or never (start it afresh).
    resume: str = "auto"
    # The policy model.
    model: ModelConfig = field(default_factory=ModelConfig)
    # Generation engine and sampling.
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    # Episode source.
    data: DataConfig = field(default_factory=DataConfig)
    # LTM index and STM operations.
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    # The three stages: rounds, distractors, budgets.
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)
    # Mem-α's chunk-stream rollout (used when reward.preset=mem_alpha): its memory and call syntax.
    mem_alpha: MemAlphaConfig = field(default_factory=MemAlphaConfig)
    # Reward formula and weights.
    reward: RewardConfig = field(default_factory=RewardConfig)
    # Answer / memory judge.
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    # Step-wise GRPO: advantages, loss, KL.
    algorithm: AlgorithmConfig = field(default_factory=AlgorithmConfig)
    # The training loop.
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    # DeepSpeed ZeRO.
    deepspeed: DeepSpeedConfig = field(default_factory=DeepSpeedConfig)
    # Metrics sinks.
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    # Supervised warm start (task=sft).
    sft: SFTConfig = field(default_factory=SFTConfig)
    # Settings of task=smoke.
    smoke: SmokeConfig = field(default_factory=SmokeConfig)
    # The CPU learning demo (task=demo, experiment=cpu_demo).
    demo: DemoConfig = field(default_factory=DemoConfig)
    # task=eval: the benchmark evaluated.
    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)
    # task=eval: the agent evaluated.
    agent: AgentConfig = field(default_factory=AgentConfig)
    # task=eval: episodes, sampling, stage 2.
    eval: EvalConfig = field(default_factory=EvalConfig)
    # task=report: the run folders reported on.
    report: ReportConfig = field(default_factory=ReportConfig)


def choice_fields() -> dict[str, tuple[str, ...]]:
    """Every string option that names one of a fixed set, by its dotted key, with the valid values (each list lives
    with the code that reads the option; imported here lazily, so that the schema stays light)."""
    from agemem.eval.agents import AGENTS
    from agemem.eval.benchmarks import BENCHMARKS
    from agemem.memory.ltm import INDEXES
    from agemem.memory.similarity import SIMILARITIES
    from agemem.memory.state import SUMMARIZERS
    from agemem.models.loading import DTYPES
    from agemem.rewards.judges import JUDGES
    from agemem.rewards.judges.local_backend import DEVICES
    from agemem.rewards.matching import RULE_METRICS
    from agemem.rewards.mem_alpha_reader import EXTRACTIVE_MATCHES, READERS
    from agemem.rewards.paper_terms import TOKEN_ESTIMATES
    from agemem.rewards.presets import PAPER_WEIGHTS, PRESETS
    from agemem.rl.advantages import NORMALIZE_OVER
    from agemem.rl.losses import AGG_MODES, KL_KINDS
    from agemem.rl.samples import STEP_FILTERS
    from agemem.rollout.factory import ENGINES
    from agemem.rollout.hf_engine import DECODERS
    from agemem.tools.parser import VALID_FORMATS
    from agemem.train.config import BF16_MODES, DIST_BACKENDS, OLD_LOGPROBS
    from agemem.train.logger import BACKENDS, MODES
    from agemem.train.setup import LR_SCHEDULES
    from data_gen.sources import SOURCES
    from data_gen.splits import SPLITS
    from stages.ltm_construction import VARIANTS
    from stages.mem_alpha import PROMPT_STYLES as MEM_ALPHA_PROMPT_STYLES
    from stages.turn import PROMPT_STYLES

    return {
        "model.dtype": tuple(DTYPES), "rollout.engine": ENGINES, "rollout.hf_decoder": DECODERS,
        "data.source": tuple(SOURCES), "data.split": ("all", *SPLITS), "memory.index": INDEXES,
        "memory.similarity": SIMILARITIES, "memory.summarizer": SUMMARIZERS, "curriculum.stage1_variant": VARIANTS,
        "curriculum.tool_format": VALID_FORMATS, "curriculum.prompt_style": PROMPT_STYLES,
        "reward.preset": (*PRESETS, "mem_alpha"), "reward.paper_weights": tuple(PAPER_WEIGHTS),
        "reward.token_estimate": TOKEN_ESTIMATES, "judge.kind": tuple(JUDGES), "judge.rule_metric": tuple(RULE_METRICS),
        "judge.local.dtype": tuple(DTYPES), "judge.local.device": DEVICES,
        "algorithm.normalize_over": NORMALIZE_OVER, "algorithm.kl_estimator": KL_KINDS, "algorithm.loss_agg": AGG_MODES,
        "algorithm.old_logprobs": OLD_LOGPROBS, "algorithm.step_filter": STEP_FILTERS,
        "trainer.lr_schedule": LR_SCHEDULES, "sft.lr_schedule": LR_SCHEDULES,
        "deepspeed.bf16": BF16_MODES, "deepspeed.dist_backend": DIST_BACKENDS, "logger.backend": BACKENDS,
        "logger.mode": MODES, "benchmark.name": tuple(BENCHMARKS), "benchmark.split": ("all", *SPLITS),
        "agent.name": (*AGENTS, "long_context"), "mem_alpha.tool_format": VALID_FORMATS,
        "mem_alpha.prompt_style": MEM_ALPHA_PROMPT_STYLES, "reward.reader": READERS,
        "reward.reader_match": EXTRACTIVE_MATCHES,
        "reward.reader_local.device": DEVICES, "reward.reader_local.dtype": tuple(DTYPES),
    }


def check_choices(cfg: Config) -> None:
    """A ValueError naming the first option whose value is not one of its valid values, and listing them: a typo
    in a choice fails at start-up, before any model is loaded, not when the code that reads it first runs."""
    for key, valid in choice_fields().items():
        value: object = cfg
        for part in key.split("."):
            value = getattr(value, part)
        if value not in valid:
            raise ValueError(f"{key}={value!r}: must be one of {list(valid)}")


def register_configs() -> None:
    """Register the root schema so that `conf/config.yaml` can extend it."""
    ConfigStore.instance().store(name="base_config", node=Config)
