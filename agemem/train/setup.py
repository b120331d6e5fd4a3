"""What the training loop sets up once: the data order, the actor, the output folder, the export, the summary."""

import logging
import math
import random
from dataclasses import asdict
from pathlib import Path
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from agemem.config import Config
from agemem.runtime import output_dir
from agemem.train.distributed import (
    bf16_enabled,
    broadcast_object,
    build_ds_config,
    create_actor,
    full_parameters,
)
from data_gen.schema import Episode
from data_gen.sources import build_episodes
from data_gen.splits import assign_splits, select_split

log = logging.getLogger("agemem")
LR_SCHEDULES = ("constant", "cosine", "linear")
# Config sections whose change makes a resumed run differ from an uninterrupted one (checked on resume).
RESUME_CRITICAL = ("seed", "model", "data", "memory", "curriculum", "reward", "judge", "algorithm", "rollout")
RESUME_CRITICAL_TRAINER = ("tasks_per_step", "lr", "warmup_steps", "lr_schedule", "weight_decay", "grad_clip",
                           "lora_rank", "lora_alpha")


def run_output_dir(cfg: Config, rank: int) -> Path:
    """Rank 0's output folder, shared with every rank (Hydra's timestamped folder may differ across ranks)."""
    return Path(broadcast_object(str(output_dir(cfg.out)) if rank == 0 else None))


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


def training_episodes(cfg: Config) -> tuple[list[Episode], list[Episode]]:
    """Train and validation episodes of the configured source, split by a stable hash of the item id."""
    result = build_episodes(cfg.data, cfg.seed)
    if result.rejections:
        log.warning("%d rows of %s rejected (see task=generate for the reasons)", len(result.rejections),
                    cfg.data.source)
    assign_splits(result.episodes, cfg.data.val_fraction, cfg.data.test_fraction)
    train, val = select_split(result.episodes, "train"), select_split(result.episodes, "val")
    if not train:
        raise ValueError(f"data.source={cfg.data.source!r} produced no training episodes")
    return train, val


def batch_indices(n: int, step: int, batch_size: int, seed: int) -> list[int]:
    """The training-set indices of a step's tasks: epochs of seeded permutations, read in order.

    A pure function of (step, seed): resuming at any step, epoch boundaries included, continues exactly.
    """
    out = []
    for position in range(step * batch_size, (step + 1) * batch_size):
        epoch, offset = divmod(position, n)
        order = list(range(n))
        random.Random(seed * 1_000_003 + epoch).shuffle(order)
        out.append(order[offset])
    return out


def lr_lambda(cfg: Config):
    """Multiplier of the peak LR at each optimizer step: linear warm-up, then constant / cosine / linear."""
    trainer = cfg.trainer
    if trainer.lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"trainer.lr_schedule={trainer.lr_schedule!r}: must be one of {list(LR_SCHEDULES)}")

    def multiplier(step: int) -> float:
        if step < trainer.warmup_steps:
            return (step + 1) / (trainer.warmup_steps + 1)
        progress = (step - trainer.warmup_steps) / max(1, trainer.total_steps - trainer.warmup_steps)
        if trainer.lr_schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
        if trainer.lr_schedule == "linear":
            return max(0.0, 1 - progress)
        return 1.0

    return multiplier


def build_actor(model: PreTrainedModel, cfg: Config):
    """The trainable policy in a DeepSpeed engine: optional LoRA and gradient checkpointing."""
    if cfg.trainer.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.config.use_cache = False
    if cfg.trainer.lora_rank > 0:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=cfg.trainer.lora_rank, lora_alpha=cfg.trainer.lora_alpha,
                                                 target_modules="all-linear", task_type="CAUSAL_LM"))
    bf16 = bf16_enabled(cfg.deepspeed)
    ds_config = build_ds_config(cfg.deepspeed, cfg.trainer, bf16)
    return create_actor(model, ds_config, cfg.trainer, lr_lambda(cfg))


def export_hf(actor, tokenizer: PreTrainedTokenizerBase, folder: Path, lora: bool, rank: int) -> None:
    """`save_pretrained` of the full model (ZeRO-3 gathered, LoRA merged) and the tokenizer."""
    with full_parameters(actor) as module:
        if rank != 0:
            return
        model = module.merge_and_unload() if lora else module
        model.save_pretrained(folder, safe_serialization=True)
        tokenizer.save_pretrained(folder)
    log.info("exported the trained model to %s", folder)


def summary_table(history: list[dict[str, float]]) -> str:
    """The end-of-run table: a few key metrics per step."""
    columns = [("step", "step", "{:.0f}"), ("score", "critic/score/mean", "{:.3f}"),
               ("task", "reward/task/mean", "{:.3f}"), ("pg_loss", "actor/pg_loss", "{:.4f}"),
               ("grad_norm", "actor/grad_norm", "{:.3f}"), ("turns", "num_turns/mean", "{:.1f}"),
               ("eval", "eval/score", "{:.3f}"),
               ("heldout", "eval/heldout_success", "{:.3f}"), ("step_s", "timing_s/step", "{:.1f}")]
    rows = [[name for name, _, _ in columns]]
    for record in history:
        rows.append([fmt.format(record[key]) if key in record else "-" for _, key, fmt in columns])
    widths = [max(len(r[i]) for r in rows) for i in range(len(columns))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])
