"""The root config schema. Hydra merges `conf/` into it, so a mistyped key or override is an error naming it.

Each group's schema lives beside the code that reads it; this module composes them and registers the result.
"""

from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore

from agemem.eval.demo_config import DemoConfig
from agemem.memory.config import MemoryConfig
from agemem.models.config import ModelConfig
from agemem.rewards.config import JudgeConfig, RewardConfig
from agemem.rollout.config import RolloutConfig
from agemem.train.config import AlgorithmConfig, DeepSpeedConfig, LoggerConfig, TrainerConfig
from agemem.train.sft_config import SFTConfig
from data_gen.config import DataConfig
from stages.config import CurriculumConfig


@dataclass
class SmokeConfig:
    """`task=smoke`: one chat prompt with the memory tools, completed by the model."""

    # The user message to complete.
    prompt: str = "Alice moved to Paris in 2019. Remember it."
    # Tokens to generate.
    max_new_tokens: int = 48


@dataclass
class Config:
    """Everything a run reads. `python run.py --help` lists the groups and presets."""

    # What to run: smoke | generate | rollout | train | sft | demo.
    task: str = "smoke"
    # Global seed: python, numpy, torch, sampling.
    seed: int = 0
    # Output folder; empty uses Hydra's run folder (outputs/<task>/<date>/<time>).
    out: str = ""
    # Resume training: auto (from <out>/checkpoints/latest if any), never, or a checkpoints folder.
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


def register_configs() -> None:
    """Register the root schema so that `conf/config.yaml` can extend it."""
    ConfigStore.instance().store(name="base_config", node=Config)
