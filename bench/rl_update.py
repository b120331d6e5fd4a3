"""RL bookkeeping: the actor update's tokens/s against a raw forward+backward of the same samples; padding waste.

    python bench/rl_update.py [--episodes 1] [--group-size 4] [--repeats 3] [--threads 1] [--seed 0]
        [--profile] [--out bench/results/bench.json]

The samples are real: the collector rolls out `--episodes` synthetic episodes `--group-size` times on the tiny
model with the CPU default config of `python run.py` (conf/config.yaml), and the trainer's own code turns them into
step samples (`build_step_samples` with seeded random advantages, then `merge_prefix_chains`, on by default). Three
passes over those samples, one optimizer step each, alternate `--repeats` times after an untimed one of each:

- update: what step 4 of `agemem/tasks/train.py` runs, `attach_recomputed_logprobs` + `update_actor`, on a
  DeepSpeed ZeRO-2 engine (gloo, one rank, fp32) built by `agemem.train.setup.build_actor` from the run's config;
  the trainer's default `algorithm.old_logprobs=engine` (the engine's recorded log-probs, no extra forward);
- update, old_logprobs=recompute: the same with the actor's forward pass that recomputes the old log-probs;
- raw: a plain copy of the same model (no DeepSpeed) on the same micro-batches, collated once outside the timing:
  forward, token-mean cross-entropy on the response tokens, backward, and one torch AdamW step (the optimizer the
  trainer gives DeepSpeed) - the least any trainer does with these samples.

Reported: tokens/s of each (real prompt + response tokens of the samples per second; median), and the median of
the per-repeat ratios update / raw (wall and process CPU time; target >= 0.85 for the default update). Padding
waste of the update's micro-batches (`pack_micro_batches` under `trainer.micro_batch_tokens`): padded positions
(rows x the longest sample) against real ones (target <= 10%). `--profile` adds the cProfile top functions of one
update pass. Writes section `rl_update` of bench/results/bench.json with the command.
"""

import argparse
import cProfile
import io
import pstats
import statistics
import sys
from dataclasses import replace
from pathlib import Path

import measure  # sets the CPU environment before torch is imported


def build_samples(cfg, episodes: int, group_size: int):
    """Real step samples: collected trajectories, seeded random advantages, the trainer's sample building."""
    import torch

    from agemem.models import load_model, load_tokenizer
    from agemem.rl import build_step_samples, merge_prefix_chains
    from agemem.rollout.collector import collect
    from agemem.rollout.factory import build_engine
    from agemem.seeding import derive_seed
    from agemem.tasks.runtime import collect_settings, prepare_model
    from data_gen.sources import build_episodes

    prepare_model(cfg.model)
    tokenizer = load_tokenizer(cfg.model)
    engine = build_engine(cfg.rollout, load_model(cfg.model), tokenizer)
    tasks = build_episodes(cfg.data, cfg.seed).episodes[:episodes]
    trajectories = collect(tasks, group_size, engine, collect_settings(cfg), tokenizer,
                           episode_seeds=[derive_seed(cfg.seed, p) for p in range(len(tasks))])
    advantages = torch.randn(len(trajectories), generator=torch.Generator().manual_seed(cfg.seed))
    samples = build_step_samples(trajectories, advantages, cfg.algorithm.step_filter)
    calls = len(samples)
    if cfg.algorithm.merge_prefix_steps:
        samples = merge_prefix_chains(samples)
    return samples, calls, tokenizer


def raw_step(model, optimizer, batches) -> float:
    """Forward, token-mean NLL of the response tokens, backward, one AdamW step; returns the loss."""
    import torch

    model.train()
    tokens = sum(float(b["loss_mask"].sum()) for b in batches)
    total = 0.0
    for batch in batches:
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        nll = torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), batch["labels"].flatten(),
                                                reduction="none")
        loss = (nll * batch["loss_mask"].flatten()).sum() / tokens
        loss.backward()
        total += loss.item()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return total


def run(episodes: int = 1, group_size: int = 4, repeats: int = 3, threads: int = 1, seed: int = 0,
        profile: bool = False) -> dict:
    """Measure the update against raw forward+backward; the result section (without the command)."""
    measure.set_threads(threads)
    import torch

    from agemem.models import load_model
    from agemem.rl import collate, pack_micro_batches
    from agemem.train.distributed import init_distributed
    from agemem.train.setup import build_actor
    from agemem.train.update import attach_recomputed_logprobs, update_actor

    cfg = measure.compose_config(f"rollout.group_size={group_size}", f"seed={seed}", f"data.size={episodes}")
    init_distributed(cfg.deepspeed)
    samples, calls, tokenizer = build_samples(cfg, episodes, group_size)
    pad_id, budget, temperature = tokenizer.pad_token_id, cfg.trainer.micro_batch_tokens, cfg.rollout.temperature
    lengths = [len(s.prompt_ids) + len(s.response_ids) for s in samples]
    micro = pack_micro_batches(lengths, budget)
    actor = build_actor(load_model(cfg.model), cfg.trainer, cfg.deepspeed)
    raw_model = load_model(cfg.model)
    raw_optimizer = torch.optim.AdamW(raw_model.parameters(), lr=cfg.trainer.lr, weight_decay=cfg.trainer.weight_decay)
    raw_batches = [collate([samples[i] for i in m], pad_id) for m in micro]
    recompute = replace(cfg.algorithm, old_logprobs="recompute")

    def update(alg) -> dict:
        batch = [replace(s) for s in samples]  # attach_recomputed_logprobs sets old_logprobs on these
        attach_recomputed_logprobs(batch, actor, None, alg, token_budget=budget, pad_id=pad_id,
                                   temperature=temperature)
        return update_actor(actor, batch, alg, token_budget=budget, pad_id=pad_id, temperature=temperature,
                            agg_constant=alg.loss_agg_constant or float(cfg.rollout.max_new_tokens), world_size=1)

    passes = {"update": lambda: update(cfg.algorithm), "update_recompute": lambda: update(recompute),
              "raw": lambda: raw_step(raw_model, raw_optimizer, raw_batches)}
    for step in passes.values():  # untimed: first-call costs
        step()
    seconds, outputs = measure.interleaved(passes, repeats)
    tokens = sum(lengths)
    wall, cpu = seconds["wall"], seconds["cpu"]
    result = {
        "model": cfg.model.name, "episodes": episodes, "group_size": group_size, "repeats": repeats,
        "zero_stage": actor.zero_optimization_stage(), "model_calls": calls, "samples": len(samples),
        "merge_prefix_steps": cfg.algorithm.merge_prefix_steps, "micro_batch_tokens": budget,
        "tokens": tokens, "response_tokens": sum(len(s.response_ids) for s in samples),
        "micro_batches": int(outputs["update"]["actor/micro_batches"]),
        "seconds": {kind: {name: measure.rounded(v) for name, v in by.items()} for kind, by in seconds.items()},
        "tokens_per_s": {name: round(tokens / statistics.median(v), 1) for name, v in wall.items()},
        "ratio_wall": round(measure.median_ratio(wall["raw"], wall["update"]), 3),
        "ratio_cpu": round(measure.median_ratio(cpu["raw"], cpu["update"]), 3),
        "ratio_recompute_wall": round(measure.median_ratio(wall["raw"], wall["update_recompute"]), 3),
        "ratio_recompute_cpu": round(measure.median_ratio(cpu["raw"], cpu["update_recompute"]), 3),
        "update_padding": measure.padding_waste([[lengths[i] for i in m] for m in micro]),
        "target": ">= 0.85 (update / raw); <= 10% padding",
    }
    if profile:
        profiler = cProfile.Profile()
        profiler.runcall(update, cfg.algorithm)
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(15)
        result["profile_top_tottime"] = [line.strip() for line in text.getvalue().splitlines() if line.strip()][-16:]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=1, help="synthetic episodes rolled out for the samples")
    parser.add_argument("--group-size", type=int, default=4, help="rollouts per episode (K)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes of each (medians reported)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", action="store_true", help="add cProfile's top functions of one update")
    parser.add_argument("--out", type=Path, default=measure.BENCH_JSON)
    args = parser.parse_args()
    result = {"command": measure.command("rl_update.py"), "env": measure.environment(args.threads),
              **run(args.episodes, args.group_size, args.repeats, args.threads, args.seed, args.profile)}
    print(f"rl update: {result['samples']} samples, {result['tokens']} tokens, {result['micro_batches']} micro-batches; "
          f"tokens/s {result['tokens_per_s']}; update/raw {result['ratio_wall']}x wall, {result['ratio_cpu']}x cpu; "
          f"with recompute {result['ratio_recompute_wall']}x wall, {result['ratio_recompute_cpu']}x cpu; "
          f"padding {result['update_padding']['waste']:.1%}")
    for line in result.get("profile_top_tottime", []):
        print(line)
    measure.write_section(args.out, "rl_update", result)


if __name__ == "__main__":
    sys.exit(main())
