"""What the training loop sets up once: option checks, the data order, the actor, the export, the summary."""

import logging
import math
import random
from pathlib import Path
from typing import TYPE_CHECKING

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from agemem.rollout.config import RolloutConfig
from agemem.seeding import derive_seed
from agemem.train.config import AlgorithmConfig, DeepSpeedConfig, TrainerConfig
from agemem.train.distributed import bf16_enabled, build_ds_config, create_actor, full_parameters

if TYPE_CHECKING:  # deepspeed is imported where it runs only (a slow import)
    from deepspeed import DeepSpeedEngine

log = logging.getLogger("agemem")
LR_SCHEDULES = ("constant", "cosine", "linear")


def batch_indices(n: int, step: int, batch_size: int, seed: int) -> list[int]:
    """The training-set indices of a step's tasks: epochs of seeded permutations, read in order.

    A pure function of (step, seed): resuming at any step, epoch boundaries included, continues exactly.
    """
    out = []
    for position in range(step * batch_size, (step + 1) * batch_size):
        epoch, offset = divmod(position, n)
        order = list(range(n))
        random.Random(derive_seed(seed, epoch)).shuffle(order)
        out.append(order[offset])
    return out


def lr_lambda(trainer: TrainerConfig, updates_per_step: int = 1):
    """Multiplier of the peak LR at each optimizer step: linear warm-up, then constant / cosine / linear, over
    training steps (`trainer.warmup_steps`, `trainer.total_steps`) of `updates_per_step` optimizer steps each."""
    if trainer.lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"trainer.lr_schedule={trainer.lr_schedule!r}: must be one of {list(LR_SCHEDULES)}")
    if trainer.warmup_steps < 0:
        raise ValueError(f"trainer.warmup_steps={trainer.warmup_steps}: must be >= 0 (0: no warm-up)")

    def multiplier(update: int) -> float:
        step = update // updates_per_step
        if step < trainer.warmup_steps:
            return (step + 1) / (trainer.warmup_steps + 1)
        progress = (step - trainer.warmup_steps) / max(1, trainer.total_steps - trainer.warmup_steps)
        if trainer.lr_schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
        if trainer.lr_schedule == "linear":
            return max(0.0, 1 - progress)
        return 1.0

    return multiplier


def build_actor(model: PreTrainedModel, trainer: TrainerConfig, deepspeed: DeepSpeedConfig,
                updates_per_step: int = 1) -> "DeepSpeedEngine":
    """The trainable policy in a DeepSpeed engine: optional LoRA and gradient checkpointing; the LR schedule counts
    training steps of `updates_per_step` optimizer steps."""
    if trainer.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.config.use_cache = False
    if trainer.lora_rank > 0:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=trainer.lora_rank, lora_alpha=trainer.lora_alpha,
                                                 target_modules="all-linear", task_type="CAUSAL_LM"))
    ds_config = build_ds_config(deepspeed, trainer, bf16_enabled(deepspeed))
    return create_actor(model, ds_config, trainer, lr_lambda(trainer, updates_per_step))


def export_hf(actor: "DeepSpeedEngine", tokenizer: PreTrainedTokenizerBase, folder: Path, lora: bool, rank: int) -> None:
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
    columns = [("step", "step", "{:.0f}"), ("reward", "reward/total/mean", "{:.3f}"),
               ("task", "reward/task/mean", "{:.3f}"), ("pg_loss", "actor/pg_loss", "{:.4f}"),
               ("grad_norm", "actor/grad_norm", "{:.3f}"), ("turns", "rollout/num_turns/mean", "{:.1f}"),
               ("eval", "eval/score", "{:.3f}"),
               ("heldout", "eval/heldout_success", "{:.3f}"), ("step_s", "timing_s/step", "{:.1f}")]
    rows = [[name for name, _, _ in columns]]
    for record in history:
        rows.append([fmt.format(record[key]) if key in record else "-" for _, key, fmt in columns])
    widths = [max(len(r[i]) for r in rows) for i in range(len(columns))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


def check_sample_options(algorithm: AlgorithmConfig) -> None:
    """Merging calls into one sequence leaves only a token-level loss unchanged (agemem.rl.merge_prefix_chains);
    combining identical samples sums their advantages, which a KL term does not follow (combine_duplicates)."""
    if algorithm.merge_prefix_steps and algorithm.loss_agg != "token-mean":
        raise ValueError(f"algorithm.merge_prefix_steps=true needs algorithm.loss_agg=token-mean (got "
                         f"{algorithm.loss_agg!r}): set algorithm.merge_prefix_steps=false")
    if algorithm.combine_duplicates and algorithm.kl_coef > 0:
        raise ValueError(f"algorithm.combine_duplicates=true needs algorithm.kl_coef=0 (got "
                         f"{algorithm.kl_coef}): set algorithm.combine_duplicates=false")
    if algorithm.ppo_epochs < 1 or algorithm.ppo_mini_batches < 1:
        raise ValueError(f"algorithm.ppo_epochs={algorithm.ppo_epochs}, algorithm.ppo_mini_batches="
                         f"{algorithm.ppo_mini_batches}: both must be >= 1")
    # Summed advantages give the same gradient only while identical samples share one unclipped ratio: true of the
    # single on-policy step, not once the clip can bind.
    if algorithm.combine_duplicates and algorithm.ppo_epochs * algorithm.ppo_mini_batches > 1:
        raise ValueError(f"algorithm.combine_duplicates=true needs one optimizer step per batch (got "
                         f"algorithm.ppo_epochs={algorithm.ppo_epochs}, algorithm.ppo_mini_batches="
                         f"{algorithm.ppo_mini_batches}): set algorithm.combine_duplicates=false")


def check_training_sampling(rollout: RolloutConfig) -> None:
    """The policy-gradient ratio π_θ/π_old compares the trainer's full-softmax log-probs at `temperature` with the
    engine's: sampling must be exactly that distribution. Greedy decoding has no log-probs to train on, and
    top-p/top-k renormalise the engine's distribution, which the trainer's softmax does not (a biased ratio)."""
    if rollout.temperature <= 0:
        raise ValueError(f"rollout.temperature={rollout.temperature}: greedy decoding is for evaluation; training "
                         "samples from the policy (set rollout.temperature > 0, e.g. 1.0 or the official 0.6)")
    if rollout.top_p < 1.0 or rollout.top_k > 0:
        raise ValueError(f"rollout.top_p={rollout.top_p}, rollout.top_k={rollout.top_k}: truncated sampling is not "
                         "supported in training (the engine's renormalised log-probs would not match the trainer's "
                         "full softmax in the PPO ratio); use rollout.top_p=1.0 rollout.top_k=0")
