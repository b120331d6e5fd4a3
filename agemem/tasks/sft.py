"""`task=sft`: supervised fine-tuning on the scripted expert's demonstrations through the same DeepSpeed engine.

The demonstrations are expert rollouts through the real collector, turned into the trainer's step samples; the
loss is the token-mean negative log-likelihood of the target (response) tokens only. Validation runs full greedy
episodes every `sft.eval_every` steps and stops `sft.steps_past_threshold` steps (the rate annealed) after it
first reaches `sft.success_threshold`, or earlier at `sft.stop_success`. The result is saved as a checkpoint in
the trainer's format and as a transformers folder (`hf_model/`) that `model.path=` loads.
"""

import logging
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace

import torch
from tqdm import tqdm

from agemem.collective import all_reduce_sum
from agemem.eval.validation import (
    HELDOUT,
    HELDOUT_TEMPERATURE,
    heldout_episodes,
    heldout_success,
    validate_mem_alpha,
)
from agemem.models import load_model, load_tokenizer
from agemem.records import Episode
from agemem.rewards import build_judge
from agemem.rewards.mem_alpha_reader import build_reader
from agemem.rl import build_step_samples, merge_prefix_chains
from agemem.rollout.collector import collect
from agemem.rollout.engine import Engine
from agemem.rollout.expert import ExpertEngine
from agemem.rollout.factory import build_engine
from agemem.rollout.mem_alpha_expert import MemAlphaExpertEngine
from agemem.tasks.config import Config
from agemem.tasks.runtime import (
    collect_settings,
    prepare_models,
    resume_critical_config,
    run_output_dir,
    seed_everything,
)
from agemem.train.checkpoint import save_checkpoint
from agemem.train.distributed import full_state_dict, init_distributed, shutdown_distributed
from agemem.train.logger import MetricsLogger
from agemem.train.setup import LR_SCHEDULES, build_actor, export_hf
from agemem.train.sft_config import SFTConfig
from agemem.train.update import sft_update
from data_gen.splits import train_val_episodes

log = logging.getLogger("agemem")


def validation_episodes(cfg: Config, val_set: list[Episode]) -> list[Episode]:
    """The tasks SFT validates on: the validation split's first sft.eval_tasks, or as many tasks with entity ids
    never seen in training (sft.eval_unseen_ids), drawn like the held-out tasks but from another seed."""
    if cfg.sft.eval_unseen_ids:
        return heldout_episodes(cfg.data, cfg.sft.eval_tasks, cfg.trainer.heldout_seed + 1,
                                "sft.eval_unseen_ids=true")
    return val_set[: cfg.sft.eval_tasks]


def validation_success(cfg: Config, engine: Engine, tokenizer, settings, val: list[Episode], rank: int,
                       world: int, temperature: float = 0.0) -> float:
    """Validation success over `val` (all ranks) at `temperature` (0: greedy; else sampled from
    trainer.heldout_seed): exact-match answers for AgeMem; for Mem-α the frozen reader's accuracy from the final
    memory (`eval/qa_accuracy`)."""
    seed = cfg.trainer.heldout_seed
    if cfg.reward.preset == "mem_alpha":
        return validate_mem_alpha(engine, tokenizer, settings, val, {e.id: e for e in val}, cfg.reward,
                                  build_reader(cfg.reward, cfg.model), build_judge(cfg.judge), seed, rank,
                                  world, temperature)["eval/qa_accuracy"]
    return heldout_success(val, engine, settings, tokenizer, rank, world, temperature, seed)


def sft_stop_step(sft: SFTConfig, step: int, success: float, stop_at: int | None) -> int | None:
    """The step SFT stops at after a validation of `success` at `step` (None: not yet known). The first validation
    at or above `sft.success_threshold` sets it `sft.steps_past_threshold` steps ahead; from then on a validation
    at or above `sft.stop_success` (when > 0) moves it to the current step."""
    if stop_at is None and success >= sft.success_threshold:
        stop_at = step + sft.steps_past_threshold
    if stop_at is not None and 0 < sft.stop_success <= success:
        stop_at = step
    return stop_at


def anneal_to_zero(scheduler: torch.optim.lr_scheduler.LambdaLR, start: int, steps: int) -> None:
    """Multiply the schedule by a linear decay from 1 at optimizer step `start` + 1 to 1/`steps` at `start` +
    `steps`: once copying has clicked, a constant high rate makes validation swing (0.36 → 0.09 within 60 steps,
    docs/LOG.md session 10); decaying it lets the model settle instead."""

    def decayed(schedule: Callable[[int], float]) -> Callable[[int], float]:
        return lambda s: schedule(s) * max(0.0, (start + steps - s) / steps)

    scheduler.lr_lambdas = [decayed(schedule) for schedule in scheduler.lr_lambdas]
    for group, base, schedule in zip(scheduler.optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas,
                                     strict=True):
        group["lr"] = base * schedule(scheduler.last_epoch)  # the next update already uses the decayed rate


def run_sft(cfg: Config) -> None:
    if cfg.sft.lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"sft.lr_schedule={cfg.sft.lr_schedule!r}: must be one of {list(LR_SCHEDULES)}")
    rank, world = init_distributed(cfg.deepspeed)
    out = run_output_dir(cfg.out, rank)
    prepare_models(cfg.model, cfg.judge)  # before seeding: building the tiny model seeds torch itself
    seed_everything(cfg.seed)
    tokenizer = load_tokenizer(cfg.model)
    train_set, val_set = train_val_episodes(cfg.data, cfg.seed)
    settings = collect_settings(cfg)
    mem_alpha = cfg.reward.preset == "mem_alpha"
    expert = (MemAlphaExpertEngine(tokenizer, cfg.mem_alpha.tool_format, cfg.sft.expert_store_rate) if mem_alpha
              else ExpertEngine(tokenizer))
    demos = collect(train_set[: cfg.sft.demo_tasks][rank::world], 1, expert, settings, tokenizer)
    samples = build_step_samples(demos, [1.0] * len(demos))
    log.info("%d expert demonstrations (%d model calls) from %d tasks", len(demos), len(samples), len(demos))
    if cfg.algorithm.merge_prefix_steps:  # the SFT loss is a token mean: merging leaves it unchanged
        samples = merge_prefix_chains(samples)
    sft_cfg = replace(cfg, trainer=replace(cfg.trainer, lr=cfg.sft.lr, total_steps=cfg.sft.max_steps,
                                           warmup_steps=0, lr_schedule=cfg.sft.lr_schedule))
    actor = build_actor(load_model(cfg.model), sft_cfg.trainer, cfg.deepspeed)
    engine = build_engine(cfg.rollout, load_model(cfg.model).to(actor.device), tokenizer)
    logger = MetricsLogger(cfg.logger, out, None, {}, enabled=rank == 0)
    rng = random.Random(cfg.seed * 7919 + rank)
    val = validation_episodes(cfg, val_set)
    start, step, success = time.perf_counter(), 0, 0.0
    stop_at: int | None = None  # set when validation first reaches the threshold
    recent: deque[float] = deque(maxlen=cfg.sft.eval_every)  # the last eval_every training losses
    bar = tqdm(range(1, cfg.sft.max_steps + 1), desc="sft", disable=rank != 0)
    for step in bar:
        batch = [samples[rng.randrange(len(samples))] for _ in range(cfg.sft.batch_size // world)]
        lr = actor.get_lr()[0]  # the rate this step's update uses
        loss = sft_update(actor, batch, cfg.trainer.micro_batch_tokens, tokenizer.pad_token_id, world)
        metrics = {"sft/loss": all_reduce_sum([loss])[0] / world, "sft/lr": lr,
                   "timing_s/elapsed": time.perf_counter() - start}
        recent.append(metrics["sft/loss"])
        ready = not cfg.sft.eval_below_loss or sum(recent) / len(recent) < cfg.sft.eval_below_loss
        if (step % cfg.sft.eval_every == 0 and ready) or step == cfg.sft.max_steps:
            engine.load_weights(full_state_dict(actor, cfg.trainer.lora_rank > 0).items())
            metrics["eval/success"] = success = validation_success(cfg, engine, tokenizer, settings, val, rank, world)
            log.info("sft step %d loss %.4f val success %.3f", step, metrics["sft/loss"], success)
        logger.log(step, metrics)
        bar.set_postfix(loss=f"{metrics['sft/loss']:.3f}", success=f"{success:.2f}")
        if "eval/success" in metrics:
            before, stop_at = stop_at, sft_stop_step(cfg.sft, step, success, stop_at)
            if before is None and stop_at is not None and stop_at > step:  # the threshold, with steps to go past it
                anneal_to_zero(actor.lr_scheduler, step, stop_at - step)
        if stop_at is not None and step >= stop_at:
            break
    if cfg.trainer.heldout_tasks:  # the SFT model's held-out success: where the RL runs (task=demo) start from
        engine.load_weights(full_state_dict(actor, cfg.trainer.lora_rank > 0).items())
        heldout_set = heldout_episodes(cfg.data, cfg.trainer.heldout_tasks, cfg.trainer.heldout_seed,
                                       f"trainer.heldout_tasks={cfg.trainer.heldout_tasks}")
        heldout = validation_success(cfg, engine, tokenizer, settings, heldout_set, rank, world,
                                     cfg.trainer.heldout_temperature)
        logger.log(step, {HELDOUT: heldout, HELDOUT_TEMPERATURE: cfg.trainer.heldout_temperature,
                          "timing_s/elapsed": time.perf_counter() - start})
        log.info("sft: held-out success %.3f on %d tasks", heldout, cfg.trainer.heldout_tasks)
    save_checkpoint(actor, out / "checkpoints", step, rank, logger.run_id, resume_critical_config(sft_cfg),
                    sft_cfg.trainer.tasks_per_step, sft_cfg.trainer.keep_last)
    export_hf(actor, tokenizer, out / "hf_model", cfg.trainer.lora_rank > 0, rank)
    logger.finish()
    if rank == 0:
        print(f"sft: {step} steps, validation success {success:.3f} (threshold {cfg.sft.success_threshold})")
        print(f"outputs: {out.resolve()}  (hf_model/ loads with model.path=…, checkpoints/, metrics.jsonl)")
    shutdown_distributed()
