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
import shutil
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch
from tqdm import tqdm

from agemem.config import Config
from agemem.eval.success import greedy_success
from agemem.models import load_model, load_tokenizer
from agemem.rewards import build_judge, score_batch
from agemem.rl import (
    build_step_samples,
    count_trainable_steps,
    merge_prefix_chains,
    pack_micro_batches,
    stepwise_advantages,
)
from agemem.rollout.collector import CollectSettings, collect
from agemem.rollout.config import RolloutConfig
from agemem.rollout.factory import build_engine
from agemem.rollout.stats import rollout_metrics
from agemem.runtime import seed_everything
from agemem.train import checkpoint as ckpt
from agemem.train.distributed import (
    all_reduce_sum,
    full_state_dict,
    init_distributed,
    reduce_metrics,
    shutdown_distributed,
)
from agemem.train.logger import MetricsLogger, truncate_after
from agemem.train.setup import (
    batch_indices,
    build_actor,
    export_hf,
    resume_critical_config,
    run_output_dir,
    summary_table,
    training_episodes,
)
from agemem.train.update import recompute_logprobs, update_actor
from data_gen.schema import Episode
from data_gen.sources import build_episodes

log = logging.getLogger("agemem")
# Greedy exact-match success on the held-out tasks (trainer.heldout_tasks).
HELDOUT = "eval/heldout_success"
# Metrics that add up over ranks (the rest are averaged, or max/min for `*/max`, `*/min`).
SUMMED_METRICS = ("actor/samples", "actor/trained_samples", "perf/throughput", "reward/judge_requests",
                  "reward/judge_fallbacks", "reward/judge_cache_hits")


def run_train(cfg: Config) -> None:
    rank, world = init_distributed(cfg.deepspeed)
    if cfg.trainer.tasks_per_step % world:
        raise ValueError(f"trainer.tasks_per_step={cfg.trainer.tasks_per_step} must be a multiple of the "
                         f"{world} ranks (whole groups stay on one rank)")
    check_sample_options(cfg)
    check_training_sampling(cfg.rollout)
    out = run_output_dir(cfg, rank)
    seed_everything(cfg.seed)
    tokenizer = load_tokenizer(cfg.model)
    train_set, val_set = training_episodes(cfg)
    heldout_set = heldout_episodes(cfg)
    episodes_by_id = {e.id: e for e in train_set + val_set}
    actor = build_actor(load_model(cfg.model), cfg)
    reference = load_model(cfg.model).to(actor.device).eval() if cfg.algorithm.kl_coef > 0 else None
    engine = build_engine(cfg.rollout, load_model(cfg.model).to(actor.device), tokenizer)
    judge = build_judge(cfg.judge)
    settings = CollectSettings(cfg.curriculum, cfg.memory, cfg.rollout)
    lora = cfg.trainer.lora_rank > 0
    agg_constant = cfg.algorithm.loss_agg_constant or float(cfg.rollout.max_new_tokens)

    start_step, run_id = 0, None
    ckpt_root = out / "checkpoints"
    folder = ckpt.find_resume_folder(ckpt_root) if cfg.resume == "auto" else None
    if cfg.resume not in ("auto", "never"):
        folder = ckpt.find_resume_folder(Path(cfg.resume))
        if folder is None:
            raise FileNotFoundError(f"resume={cfg.resume!r}: no complete checkpoint there")
    if folder is not None:
        state = ckpt.read_trainer_state(folder)
        ckpt.check_resumable(state["config"], {**resume_critical_config(cfg), "world_size": world})
        actor.load_checkpoint(str(folder), tag="ds")
        ckpt.restore_rng(folder, rank)
        start_step, run_id = state["global_step"], state["logger_run_id"]
        log.info("resumed from %s at step %d", folder, start_step)
    engine.load_weights(full_state_dict(actor, lora).items())
    logger = MetricsLogger(cfg.logger, out, run_id, asdict(cfg), enabled=rank == 0)
    if rank == 0:
        truncate_after(logger.path, start_step)  # steps after the checkpoint are re-run and re-logged once

    history: list[dict[str, float]] = []
    t_run = time.perf_counter()
    if cfg.trainer.eval_every and cfg.trainer.eval_before_training and start_step == 0:
        metrics = {**validate(cfg, engine, tokenizer, val_set, heldout_set, episodes_by_id, judge, rank, world),
                   "timing_s/elapsed": time.perf_counter() - t_run}
        logger.log(0, metrics)
        history.append({"step": 0, **metrics})
    bar = tqdm(range(start_step, cfg.trainer.total_steps), desc="train", disable=rank != 0,
               initial=start_step, total=cfg.trainer.total_steps)
    for step in bar:
        timing: dict[str, float] = {}
        t_step = time.perf_counter()
        # 1. Collect: this rank's whole groups of the step's tasks, each seeded by its position in the run.
        indices = batch_indices(len(train_set), step, cfg.trainer.tasks_per_step, cfg.seed)
        positions = range(step * cfg.trainer.tasks_per_step, (step + 1) * cfg.trainer.tasks_per_step)
        tasks = [train_set[i] for i in indices][rank::world]
        t0 = time.perf_counter()
        trajectories = collect(tasks, cfg.rollout.group_size, engine, settings, tokenizer,
                               episode_seeds=[cfg.seed * 1_000_003 + p for p in positions][rank::world])
        timing["timing_s/gen"] = time.perf_counter() - t0
        # 2. Score.
        scored = score_batch(trajectories, episodes_by_id, cfg.reward, judge)
        rewards = torch.tensor([t.reward for t in trajectories], dtype=torch.float32)
        if cfg.algorithm.shuffle_rewards:  # the control: rewards detached from the behaviour that earned them
            rewards = shuffle_rewards(rewards, cfg.seed * 1_000_003 + step)
        # 3. Advantages, broadcast to every step of every stage; one sample per model call.
        group_ids = [f"{t.episode_id}#{i // cfg.rollout.group_size}" for i, t in enumerate(trajectories)]
        advantages = stepwise_advantages(
            rewards, group_ids, eps=cfg.algorithm.eps, norm_by_std=cfg.algorithm.norm_by_std,
            steps_per_trajectory=count_trainable_steps(trajectories, cfg.algorithm.step_filter),
            normalize_over=cfg.algorithm.normalize_over,
            divide_by_length=cfg.algorithm.divide_by_length,
        )
        samples = build_step_samples(trajectories, advantages, cfg.algorithm.step_filter)
        if cfg.algorithm.merge_prefix_steps:
            samples = merge_prefix_chains(samples)
        # 4. Update: exactly one optimizer step for the batch.
        t0 = time.perf_counter()
        micro = pack_micro_batches([len(s.prompt_ids) + len(s.response_ids) for s in samples],
                                   cfg.trainer.micro_batch_tokens)
        if cfg.algorithm.old_logprobs == "recompute":
            for s, lp in zip(samples, recompute_logprobs(actor.module, samples, micro, tokenizer.pad_token_id,
                                                        cfg.rollout.temperature, actor.device)):
                s.old_logprobs = lp
        if reference is not None:
            for s, lp in zip(samples, recompute_logprobs(reference, samples, micro, tokenizer.pad_token_id,
                                                        cfg.rollout.temperature, actor.device)):
                s.ref_logprobs = lp
        actor_metrics = update_actor(
            actor, samples, cfg.algorithm, token_budget=cfg.trainer.micro_batch_tokens,
            pad_id=tokenizer.pad_token_id, temperature=cfg.rollout.temperature,
            agg_constant=agg_constant, world_size=world,
        )
        timing["timing_s/update"] = time.perf_counter() - t0
        # 5. Push the new weights to the rollout engine.
        t0 = time.perf_counter()
        engine.load_weights(full_state_dict(actor, lora).items())
        timing["timing_s/weight_sync"] = time.perf_counter() - t0
        timing["timing_s/reward"] = scored.metrics.pop("timing_s/reward")
        # 6. Validate.
        done = step + 1
        eval_metrics = {}
        t0 = time.perf_counter()
        if cfg.trainer.eval_every and (done % cfg.trainer.eval_every == 0 or done == cfg.trainer.total_steps):
            eval_metrics = validate(cfg, engine, tokenizer, val_set, heldout_set, episodes_by_id, judge, rank, world)
        timing["timing_s/eval"] = time.perf_counter() - t0
        timing["timing_s/step"] = time.perf_counter() - t_step
        timing["timing_s/elapsed"] = time.perf_counter() - t_run  # since this process started training
        # 7. Log: metrics of the whole batch (averaged over ranks; counts summed; min/max).
        local = {**actor_metrics, **scored.metrics, **rollout_metrics(trajectories), **timing,
                 "critic/score/mean": float(rewards.mean()), "critic/advantages/mean": float(advantages.mean()),
                 "perf/throughput": sum(len(s.response_ids) for s in samples) / timing["timing_s/step"]}
        metrics = {**reduce_metrics(local, SUMMED_METRICS), **eval_metrics}
        logger.log(done, metrics)
        history.append({"step": done, **metrics})
        # 8. Checkpoint.
        if done == cfg.trainer.total_steps or (cfg.trainer.save_every and done % cfg.trainer.save_every == 0):
            save_checkpoint(actor, ckpt_root, done, rank, logger.run_id, cfg, len(train_set))
        bar.set_postfix(score=f"{metrics['critic/score/mean']:.3f}", loss=f"{metrics['actor/pg_loss']:.3f}")
        if rank == 0:
            log.info("step %d/%d score %.3f pg_loss %.4f grad_norm %.3f %.1fs", done, cfg.trainer.total_steps,
                     metrics["critic/score/mean"], metrics["actor/pg_loss"], metrics["actor/grad_norm"],
                     metrics["timing_s/step"])

    if cfg.trainer.export_hf:
        export_hf(actor, tokenizer, out / "hf_model", lora, rank)
    logger.finish()
    if rank == 0:
        print(summary_table(history))
        print(f"outputs: {out.resolve()}  (metrics.jsonl, checkpoints/, hf_model/)")
    shutdown_distributed()


def check_sample_options(cfg: Config) -> None:
    """Merging calls into one sequence leaves only a token-level loss unchanged (agemem.rl.merge_prefix_chains);
    combining identical samples sums their advantages, which a KL term does not follow (combine_duplicates)."""
    if cfg.algorithm.merge_prefix_steps and cfg.algorithm.loss_agg != "token-mean":
        raise ValueError(f"algorithm.merge_prefix_steps=true needs algorithm.loss_agg=token-mean (got "
                         f"{cfg.algorithm.loss_agg!r}): set algorithm.merge_prefix_steps=false")
    if cfg.algorithm.combine_duplicates and cfg.algorithm.kl_coef > 0:
        raise ValueError(f"algorithm.combine_duplicates=true needs algorithm.kl_coef=0 (got "
                         f"{cfg.algorithm.kl_coef}): set algorithm.combine_duplicates=false")


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


def save_checkpoint(actor, root, step: int, rank: int, run_id: str, cfg: Config, n_train: int | None = None) -> None:
    """DeepSpeed state + trainer state + RNG, then (after every rank wrote) the manifest, then `latest`.

    `n_train`: training tasks per epoch (for the recorded epoch; None records none)."""
    import torch.distributed as dist

    folder = ckpt.step_dir(root, step)
    if rank == 0 and folder.exists():  # a leftover of a killed save: start the folder afresh
        shutil.rmtree(folder)
    dist.barrier()
    actor.save_checkpoint(str(folder), tag="ds")  # collective: every rank writes its shards
    world = dist.get_world_size()
    state = {"global_step": step, "epoch": step * cfg.trainer.tasks_per_step // n_train if n_train else None,
             "data_cursor": step * cfg.trainer.tasks_per_step, "logger_run_id": run_id,
             "config": {**resume_critical_config(cfg), "world_size": world}}
    ckpt.save_trainer_files(folder, rank, state)
    dist.barrier()
    if rank == 0:
        ckpt.write_manifest(folder)
        ckpt.point_latest(root, folder)
        ckpt.prune(root, cfg.trainer.keep_last)
    dist.barrier()


def validate(cfg: Config, engine, tokenizer, val_set, heldout_set, episodes_by_id, judge, rank: int,
             world: int) -> dict:
    """Greedy, one rollout per validation task (and held-out task); rank r takes tasks r, r+world, …"""
    tasks = val_set[: cfg.trainer.eval_tasks][rank::world]
    settings = CollectSettings(cfg.curriculum, cfg.memory, replace(cfg.rollout, temperature=0.0))
    trajectories = collect(tasks, 1, engine, settings, tokenizer, seed=cfg.seed) if tasks else []
    scored = score_batch(trajectories, episodes_by_id, cfg.reward, judge) if tasks else []
    n = float(len(trajectories))
    sums = all_reduce_sum([n, sum(b.total for b in scored), sum(b.task for b in scored)])
    metrics = {"eval/score": sums[1] / max(sums[0], 1.0), "eval/task": sums[2] / max(sums[0], 1.0),
               "eval/tasks": sums[0]}
    if heldout_set:
        metrics[HELDOUT] = heldout_success(heldout_set, engine, settings, tokenizer, rank, world)
    return metrics


def heldout_success(heldout_set: list[Episode], engine, settings: CollectSettings, tokenizer, rank: int,
                    world: int) -> float:
    """Greedy exact-match success over all of `heldout_set`; rank r runs tasks r, r+world, …"""
    tasks = heldout_set[rank::world]
    success, _ = greedy_success(tasks, engine, settings, tokenizer)
    n, hits = all_reduce_sum([float(len(tasks)), success * len(tasks)])
    return hits / max(n, 1.0)


def heldout_episodes(cfg: Config, size: int | None = None, seed: int | None = None,
                     asked_by: str | None = None) -> list[Episode]:
    """`size` (default trainer.heldout_tasks) synthetic tasks whose entity ids are never used in training
    (data.heldout=true: the held-out id range, or the ids held out by hash with data.heldout_id_fraction), drawn
    with `seed` (default trainer.heldout_seed). `asked_by` names the setting that asked for them in errors."""
    size = cfg.trainer.heldout_tasks if size is None else size
    if not size:
        return []
    if cfg.data.source != "synthetic":
        asked_by = asked_by or f"trainer.heldout_tasks={size}"
        raise ValueError(f"{asked_by} needs data.source=synthetic (held-out entity ids); got data.source="
                         f"{cfg.data.source!r}")
    data = replace(cfg.data, heldout=True, size=size)
    return build_episodes(data, cfg.trainer.heldout_seed if seed is None else seed).episodes


def shuffle_rewards(rewards: torch.Tensor, seed: int) -> torch.Tensor:
    """The shuffled-reward control: the batch's rewards in a seeded random order, so that a trajectory's reward
    no longer depends on what it did (on several ranks each rank permutes its own share of the batch).

    Shape: rewards (N,) → (N,).
    """
    return rewards[torch.randperm(len(rewards), generator=torch.Generator().manual_seed(seed))]
