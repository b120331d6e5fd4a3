"""Run-wide set-up shared by every task: seeding, the output folder, building the tiny model, and the config a
resume must match."""

import logging
import random
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agemem.collective import broadcast_object
from agemem.models.config import ModelConfig
from agemem.models.loading import tiny_cache_root
from agemem.models.packaged import ensure_packaged_model
from agemem.models.tiny import ensure_tiny_model
from agemem.rewards.config import JudgeConfig
from agemem.rollout.collector import CollectSettings
from agemem.tasks.config import Config
from agemem.tools.mem_alpha import MEM_ALPHA_TOOL_SCHEMAS
from stages.corpus import tokenizer_corpus
from stages.mem_alpha import chunk_stream_flow

log = logging.getLogger("agemem")
# Config sections whose change makes a resumed run differ from an uninterrupted one (checked on resume).
RESUME_CRITICAL = ("seed", "model", "data", "memory", "curriculum", "mem_alpha", "reward", "judge", "algorithm",
                   "rollout")
RESUME_CRITICAL_TRAINER = ("tasks_per_step", "lr", "warmup_steps", "lr_schedule", "weight_decay", "grad_clip",
                           "lora_rank", "lora_alpha")


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def output_dir(out: str) -> Path:
    """The run's output folder: `out` if given, else Hydra's run folder (or ./outputs outside Hydra)."""
    if out:
        path = Path(out)
    else:
        from hydra.core.hydra_config import HydraConfig

        path = Path(HydraConfig.get().runtime.output_dir) if HydraConfig.initialized() else Path("outputs")
    path.mkdir(parents=True, exist_ok=True)
    return path


def prepare_model(cfg: ModelConfig) -> None:
    """Build the tiny offline model (`model.path=null`) into its cache unless it is there, trained on the
    protocol's text; convert a packaged model (`model.package`) into its cache unless it is there; a model folder
    needs nothing. Every task calls this before loading a model."""
    if cfg.package is not None:
        ensure_packaged_model(cfg.package, tiny_cache_root(cfg))
    elif cfg.path is None:
        ensure_tiny_model(cfg.tiny, tiny_cache_root(cfg), tokenizer_corpus(cfg.tiny.seed))


def prepare_models(model: ModelConfig, judge: JudgeConfig) -> None:
    """`prepare_model` for the policy and, with a local LLM judge on the tiny model, for the judge."""
    prepare_model(model)
    if judge.kind == "llm_local" and judge.local.path is None:
        prepare_model(ModelConfig())


def collect_settings(cfg: Config) -> CollectSettings:
    """How the run's episodes are rolled out: the three AgeMem stages, or with `reward.preset=mem_alpha` Mem-α's
    chunk stream (its own tools, call syntax and prompt; SPEC.md §6)."""
    if cfg.reward.preset != "mem_alpha":
        return CollectSettings(cfg.curriculum, cfg.memory, cfg.rollout)
    curriculum = replace(cfg.curriculum, tool_format=cfg.mem_alpha.tool_format,
                         tools_in_prompt=cfg.mem_alpha.tools_in_prompt)
    return CollectSettings(curriculum, cfg.memory, cfg.rollout, system_prompt="",
                           episode_flow=chunk_stream_flow(cfg.mem_alpha, cfg.rollout.max_new_tokens),
                           tool_schemas=MEM_ALPHA_TOOL_SCHEMAS)


def run_output_dir(out: str, rank: int) -> Path:
    """Rank 0's output folder, shared with every rank (Hydra's timestamped folder may differ across ranks)."""
    return Path(broadcast_object(str(output_dir(out)) if rank == 0 else None))


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else key, inner, out)
    else:
        out[prefix] = value


def resume_critical_config(cfg: Config) -> dict[str, Any]:
    """The flattened config fields a resume must not change (`trainer.total_steps` only with a decaying LR)."""
    full = asdict(cfg)
    flat: dict[str, Any] = {}
    for section in RESUME_CRITICAL:
        _flatten(section, full[section], flat)
    for key in RESUME_CRITICAL_TRAINER:
        flat[f"trainer.{key}"] = full["trainer"][key]
    flat["deepspeed.zero_stage"] = cfg.deepspeed.zero_stage
    if cfg.trainer.lr_schedule != "constant":
        flat["trainer.total_steps"] = cfg.trainer.total_steps
    return flat
