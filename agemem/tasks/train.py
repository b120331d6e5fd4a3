"""`task=train`: step-wise GRPO on DeepSpeed ZeRO (SPEC.md §5). One loop, read top to bottom:

    for each step:  1 collect (B tasks × K rollouts, this rank's share)  2 score  3 advantages + samples
                    4 update (one optimizer step)  5 push weights to the rollout engine  6 validate
                    7 log  8 checkpoint

A step's metrics are written before its checkpoint: a run killed in between resumes from the previous
checkpoint and re-logs the step (metrics.jsonl is cut back to the checkpoint's step), so every step is logged
exactly once.

Each task's rollouts are seeded by the task's position in the run (not by the rank that rolls it out), so a run
gives the same result on any number of ranks, and a resumed run the same as an uninterrupted one.
"""

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from tqdm import tqdm
from transformers import PreTrainedTokenizerBase

from agemem.collective import reduce_metrics
from agemem.eval.validation import HELDOUT, heldout_episodes, validate, validate_mem_alpha
from agemem.models import load_model, load_tokenizer
from agemem.records import Episode, Trajectory
from agemem.rewards import Judge, build_judge, score_batch
from agemem.rewards.mem_alpha_reader import Reader, build_reader, score_mem_alpha
from agemem.rl import (
    build_step_samples,
    count_trainable_steps,
    merge_prefix_chains,
    per_step_advantages,
    shuffle_rewards,
    stepwise_advantages,
)
from agemem.rl.samples import kept_steps
from agemem.rollout.collector import CollectSettings, collect
from agemem.rollout.engine import Engine
from agemem.rollout.factory import build_engine
from agemem.rollout.stats import rollout_metrics
from agemem.seeding import derive_seed
from agemem.tasks.config import Config
from agemem.tasks.runtime import (
    collect_settings,
    prepare_models,
    resume_critical_config,
    run_output_dir,
    seed_everything,
)
from agemem.tools.mem_alpha import TOOL_NAMES as MEM_ALPHA_TOOL_NAMES
from agemem.tools.schemas import TOOL_NAMES as AGEMEM_TOOL_NAMES
from agemem.train import checkpoint as ckpt
from agemem.train.distributed import full_state_dict, init_distributed, shutdown_distributed
from agemem.train.logger import MetricsLogger, truncate_after
from agemem.train.setup import (
    batch_indices,
    build_actor,
    check_sample_options,
    check_training_sampling,
    export_hf,
    summary_table,
)
from agemem.train.update import attach_recomputed_logprobs, update_actor
from data_gen.splits import train_val_episodes

if TYPE_CHECKING:  # deepspeed is imported where it runs only (a slow import)
    from deepspeed import DeepSpeedEngine

log = logging.getLogger("agemem")
# Metrics that add up over ranks (the rest are averaged, or max/min for `*/max`, `*/min`).
SUMMED_METRICS = ("actor/samples", "actor/trained_samples", "perf/throughput", "reward/judge_requests",
                  "reward/judge_fallbacks", "reward/judge_cache_hits")


@dataclass
class Run:
    """What a training run holds from start to end (set up once by `start_run`)."""

    cfg: Config
    rank: int
    world: int
    out: Path
    tokenizer: PreTrainedTokenizerBase
    train_set: list[Episode]
    val_set: list[Episode]
    heldout_set: list[Episode]
    episodes_by_id: dict[str, Episode]
    actor: "DeepSpeedEngine"  # the policy in its DeepSpeed engine
    reference: torch.nn.Module | None  # the frozen initial policy for the KL term (algorithm.kl_coef > 0)
    engine: Engine
    judge: Judge
    settings: CollectSettings
    reader: Reader | None  # Mem-α's frozen reader (reward.preset=mem_alpha), else None


def run_train(cfg: Config) -> None:
    run = start_run(cfg)
    start_step, run_id = ckpt.resume(run.actor, cfg.resume, run.out / "checkpoints", resume_critical_config(cfg),
                                     run.rank, run.world)
    run.engine.load_weights(full_state_dict(run.actor, cfg.trainer.lora_rank > 0).items())
    logger = MetricsLogger(cfg.logger, run.out, run_id, asdict(cfg), enabled=run.rank == 0)
    if run.rank == 0:
        truncate_after(logger.path, start_step)  # steps after the checkpoint are re-run and re-logged once
    history: list[dict[str, float]] = []
    t_run = time.perf_counter()
    if cfg.trainer.eval_every and cfg.trainer.eval_before_training and start_step == 0:
        metrics = {**validate_run(run), "timing_s/elapsed": time.perf_counter() - t_run}
        logger.log(0, metrics)
        history.append({"step": 0, **metrics})
    bar = tqdm(range(start_step, cfg.trainer.total_steps), desc="train", disable=run.rank != 0,
               initial=start_step, total=cfg.trainer.total_steps)
    for step in bar:
        t_step = time.perf_counter()
        local, timing = train_step(run, step)  # phases 1-5
        done = step + 1
        # 6. Validate.
        t0 = time.perf_counter()
        eval_metrics = {}
        if cfg.trainer.eval_every and (done % cfg.trainer.eval_every == 0 or done == cfg.trainer.total_steps):
            eval_metrics = validate_run(run)
        timing["timing_s/eval"] = time.perf_counter() - t0
        timing["timing_s/step"] = time.perf_counter() - t_step
        timing["timing_s/elapsed"] = time.perf_counter() - t_run  # since this process started training
        # 7. Log: metrics of the whole batch (averaged over ranks; counts summed; min/max).
        local["perf/throughput"] /= timing["timing_s/step"]
        metrics = {**reduce_metrics({**local, **timing}, SUMMED_METRICS), **eval_metrics}
        logger.log(done, metrics)
        history.append({"step": done, **metrics})
        # 8. Checkpoint.
        t0 = time.perf_counter()
        if done == cfg.trainer.total_steps or (cfg.trainer.save_every and done % cfg.trainer.save_every == 0):
            ckpt.save_checkpoint(run.actor, run.out / "checkpoints", done, run.rank, logger.run_id,
                                 resume_critical_config(cfg), cfg.trainer.tasks_per_step, cfg.trainer.keep_last,
                                 len(run.train_set))
        checkpoint_s = time.perf_counter() - t0  # after the step's log line: reported in the progress bar
        bar.set_postfix(reward=f"{metrics['reward/total/mean']:.3f}", loss=f"{metrics['actor/pg_loss']:.3f}",
                        ckpt_s=f"{checkpoint_s:.1f}")
        if run.rank == 0:
            log.info("step %d/%d reward %.3f pg_loss %.4f grad_norm %.3f %.1fs", done, cfg.trainer.total_steps,
                     metrics["reward/total/mean"], metrics["actor/pg_loss"], metrics["actor/grad_norm"],
                     metrics["timing_s/step"])
    if cfg.trainer.export_hf:
        export_hf(run.actor, run.tokenizer, run.out / "hf_model", cfg.trainer.lora_rank > 0, run.rank)
    logger.finish()
    if run.rank == 0:
        print(summary_table(history))
        print(f"outputs: {run.out.resolve()}  (metrics.jsonl, checkpoints/, hf_model/)")
    shutdown_distributed()


def train_step(run: Run, step: int) -> tuple[dict[str, float], dict[str, float]]:
    """Phases 1-5 of one step on this rank's share of the batch: (its metrics, its phase timings)."""
    cfg, timing = run.cfg, {}
    # 1. Collect: this rank's whole groups of the step's tasks, each seeded by its position in the run.
    t0 = time.perf_counter()
    indices = batch_indices(len(run.train_set), step, cfg.trainer.tasks_per_step, cfg.seed)
    positions = range(step * cfg.trainer.tasks_per_step, (step + 1) * cfg.trainer.tasks_per_step)
    tasks = [run.train_set[i] for i in indices][run.rank :: run.world]
    trajectories = collect(tasks, cfg.rollout.group_size, run.engine, run.settings, run.tokenizer,
                           episode_seeds=[derive_seed(cfg.seed, p) for p in positions][run.rank :: run.world])
    timing["timing_s/gen"] = time.perf_counter() - t0
    # 2. Score (timed inside: judge and reader calls, batched).
    if run.reader is not None:
        reward_metrics = score_mem_alpha(trajectories, run.episodes_by_id, cfg.reward, run.reader, run.judge).metrics
    else:
        reward_metrics = score_batch(trajectories, run.episodes_by_id, cfg.reward, run.judge).metrics
    timing["timing_s/reward"] = reward_metrics.pop("timing_s/reward")
    # 3. Advantages, then one sample per model call.
    t0 = time.perf_counter()
    advantages = (mem_alpha_advantages if run.reader is not None else terminal_advantages)(run, trajectories, step)
    samples = build_step_samples(trajectories, advantages, cfg.algorithm.step_filter)
    if cfg.algorithm.merge_prefix_steps:
        samples = merge_prefix_chains(samples)
    timing["timing_s/advantages"] = time.perf_counter() - t0
    # 4. Update: one optimizer step for the batch (or algorithm.ppo_epochs × ppo_mini_batches).
    t0 = time.perf_counter()
    pad_id, budget, temperature = run.tokenizer.pad_token_id, cfg.trainer.micro_batch_tokens, cfg.rollout.temperature
    attach_recomputed_logprobs(samples, run.actor, run.reference, cfg.algorithm, token_budget=budget, pad_id=pad_id,
                               temperature=temperature)
    actor_metrics = update_actor(
        run.actor, samples, cfg.algorithm, token_budget=budget, pad_id=pad_id, temperature=temperature,
        agg_constant=cfg.algorithm.loss_agg_constant or float(cfg.rollout.max_new_tokens), world_size=run.world,
    )
    timing["timing_s/update"] = time.perf_counter() - t0
    # 5. Push the new weights to the rollout engine.
    t0 = time.perf_counter()
    run.engine.load_weights(full_state_dict(run.actor, cfg.trainer.lora_rank > 0).items())
    timing["timing_s/weight_sync"] = time.perf_counter() - t0
    tools = MEM_ALPHA_TOOL_NAMES if run.reader is not None else AGEMEM_TOOL_NAMES
    local = {**actor_metrics, **reward_metrics, **rollout_metrics(trajectories, tools),
             "actor/advantages/mean": float(torch.as_tensor(
                 advantages if isinstance(advantages, torch.Tensor) else [a for per in advantages for a in per]
             ).float().mean()),
             "perf/throughput": float(sum(len(s.response_ids) for s in samples))}  # ÷ step time by the caller
    return local, timing


def terminal_advantages(run: Run, trajectories: list[Trajectory], step: int) -> torch.Tensor:
    """AgeMem (Eq. 6): the group-normalised terminal reward of each trajectory, shared by its steps. Shape: (N,)."""
    alg = run.cfg.algorithm
    rewards = torch.tensor([t.reward for t in trajectories], dtype=torch.float32)
    if alg.shuffle_rewards:  # the control: rewards detached from the behaviour that earned them
        rewards = shuffle_rewards(rewards, derive_seed(run.cfg.seed, step))
    return stepwise_advantages(
        rewards, [t.group_id for t in trajectories], eps=alg.eps, norm_by_std=alg.norm_by_std,
        steps_per_trajectory=count_trainable_steps(trajectories, alg.step_filter),
        normalize_over=alg.normalize_over, divide_by_length=alg.divide_by_length,
    )


def mem_alpha_advantages(run: Run, trajectories: list[Trajectory], step: int) -> list[list[float]]:
    """Mem-α (SPEC.md §6): each kept step's own reward r_t, normalised over all chunk-step samples of its group's K
    rollouts. N lists of one advantage per kept step."""
    alg = run.cfg.algorithm
    rewards = [[t.step_rewards[i] for i, _ in kept_steps(t, alg.step_filter)] for t in trajectories]
    if alg.shuffle_rewards:  # the control: every step's reward moved to a random step of the batch
        flat = shuffle_rewards(torch.tensor([r for rs in rewards for r in rs]), derive_seed(run.cfg.seed, step))
        sizes = [len(rs) for rs in rewards]
        rewards = [chunk.tolist() for chunk in torch.split(flat, sizes)] if flat.numel() else [[] for _ in sizes]
    return per_step_advantages(rewards, [t.group_id for t in trajectories], eps=alg.eps,
                               norm_by_std=alg.norm_by_std)


def start_run(cfg: Config) -> Run:
    """Check the options, then set up the process group, data, models, engine and judge of a training run."""
    rank, world = init_distributed(cfg.deepspeed)
    if cfg.trainer.tasks_per_step % world:
        raise ValueError(f"trainer.tasks_per_step={cfg.trainer.tasks_per_step} must be a multiple of the "
                         f"{world} ranks (whole groups stay on one rank)")
    check_sample_options(cfg.algorithm)
    check_training_sampling(cfg.rollout)
    out = run_output_dir(cfg.out, rank)
    prepare_models(cfg.model, cfg.judge)  # before seeding: building the tiny model seeds torch itself
    seed_everything(cfg.seed)
    tokenizer = load_tokenizer(cfg.model)
    train_set, val_set = train_val_episodes(cfg.data, cfg.seed)
    heldout_set = heldout_episodes(cfg.data, cfg.trainer.heldout_tasks, cfg.trainer.heldout_seed,
                                   f"trainer.heldout_tasks={cfg.trainer.heldout_tasks}")
    actor = build_actor(load_model(cfg.model), cfg.trainer, cfg.deepspeed,
                        cfg.algorithm.ppo_epochs * cfg.algorithm.ppo_mini_batches)
    reference = load_model(cfg.model).to(actor.device).eval() if cfg.algorithm.kl_coef > 0 else None
    engine = build_engine(cfg.rollout, load_model(cfg.model).to(actor.device), tokenizer)
    reader = build_reader(cfg.reward, cfg.model) if cfg.reward.preset == "mem_alpha" else None
    return Run(cfg, rank, world, out, tokenizer, train_set, val_set, heldout_set,
               {e.id: e for e in train_set + val_set}, actor, reference, engine, build_judge(cfg.judge),
               collect_settings(cfg), reader)


def validate_run(run: Run) -> dict[str, float]:
    """Greedy validation of the current policy (eval/score, eval/task) and its held-out success (greedy, or at
    trainer.heldout_temperature); for Mem-α its reader accuracy, compression and memory size, and the reader's
    accuracy on the held-out streams."""
    if run.reader is not None:
        policy, scorers = (run.engine, run.tokenizer, run.settings), (run.cfg.reward, run.reader, run.judge)
        val = run.val_set[: run.cfg.trainer.eval_tasks]
        metrics = validate_mem_alpha(*policy, val, run.episodes_by_id, *scorers, run.cfg.seed, run.rank,
                                     run.world) if val else {}
        if run.heldout_set:  # Mem-α's held-out success: the reader's accuracy on streams of unseen entity ids
            metrics[HELDOUT] = validate_mem_alpha(*policy, run.heldout_set, {e.id: e for e in run.heldout_set},
                                                  *scorers, run.cfg.trainer.heldout_seed, run.rank, run.world,
                                                  run.cfg.trainer.heldout_temperature)["eval/qa_accuracy"]
        return metrics
    return validate(run.engine, run.tokenizer, run.settings, run.val_set[: run.cfg.trainer.eval_tasks],
                    run.heldout_set, run.episodes_by_id, run.cfg.reward, run.judge, run.cfg.seed, run.rank,
                    run.world, run.cfg.trainer.heldout_temperature, run.cfg.trainer.heldout_seed)
