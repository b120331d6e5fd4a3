"""`python run.py task=eval benchmark=<name> agent=<name> [model.path=<hf folder>] [data.path=<file>]`: evaluate one
agent on one benchmark (SPEC.md §7).

The benchmark's episodes (the first eval.num_episodes) run through the real collector and engine, greedy or with
eval.samples sampled rollouts each, batch by batch. Under torchrun rank r takes episodes r, r+world, …; rank 0
gathers every batch's rows and appends them to `eval_episodes.jsonl`, so a killed eval resumes where it stopped
(episodes with a row are skipped; `resume=never` starts afresh; the settings the rows depend on must not change,
while eval.num_episodes may grow) and ends with the same summary. At the end
`eval_summary.json` holds every aggregate with its n and 95% bootstrap CI (rows in episode order: the same on any
number of ranks), and a table and the output folder are printed.
"""

import dataclasses
import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from tqdm import tqdm
from transformers import PreTrainedTokenizerBase

from agemem.collective import broadcast_object
from agemem.eval.agents import build_agent, scripted_engine
from agemem.eval.benchmarks import BenchmarkEpisodes, benchmark_episodes, get_benchmark
from agemem.eval.env_eval import env_rows, env_settings, episodes_per_batch
from agemem.eval.harness import episode_seed, eval_settings, evaluate_batch
from agemem.eval.mem_alpha import MEM_ALPHA_AGENTS, mem_alpha_rows
from agemem.eval.results import (
    CONFIG,
    ROWS,
    SUMMARY,
    append_rows,
    check_resume_config,
    format_table,
    read_rows,
    summarize,
)
from agemem.models import load_model, load_tokenizer
from agemem.records import Episode
from agemem.rewards import build_judge
from agemem.rewards.judges import Judge
from agemem.rewards.mem_alpha_reader import build_reader
from agemem.rollout.collector import CollectSettings, collect
from agemem.rollout.engine import Engine
from agemem.rollout.env_oracle import EnvOracleEngine
from agemem.rollout.factory import build_engine
from agemem.tasks.config import Config
from agemem.tasks.runtime import collect_settings, prepare_models, run_output_dir, seed_everything
from stages.env_episode import OraclePlans

log = logging.getLogger("agemem")
RESUME_MODES = ("auto", "never")
# Settings that change how fast an eval runs, not its rows: a resumed eval may change them.
SPEED_KEYS = ("eval.num_episodes", "eval.episodes_per_batch", "benchmark.live_envs", "rollout.max_batch_size",
              "rollout.episodes_file", "rollout.num_episodes", "rollout.group_size", "rollout.vllm_gpu_memory_utilization",
              "judge.local.batch_size", "judge.http.max_concurrency", "judge.http.timeout_s", "judge.http.max_retries",
              "judge.http.backoff_s", "judge.http.cache_path")
ROW_SECTIONS = ("seed", "model", "data", "benchmark", "agent", "eval", "memory", "curriculum", "rollout", "judge")


def _flat(prefix: str, value: Any, out: dict[str, Any]) -> dict[str, Any]:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flat(f"{prefix}.{key}" if prefix else key, inner, out)
    else:
        out[prefix] = value
    return out


def row_config(cfg: Config) -> dict[str, Any]:
    """The flattened settings an evaluation's rows depend on (a resume must keep them)."""
    full = dataclasses.asdict(cfg)
    flat: dict[str, Any] = {}
    for section in ROW_SECTIONS:
        _flat(section, full[section], flat)
    return {k: v for k, v in flat.items() if k not in SPEED_KEYS}


def init_ranks() -> tuple[int, int]:
    """(rank, world size): joins the torchrun process group when there is more than one rank (gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1
    if not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), dist.get_world_size()


def gather_rows(rows: list[dict[str, Any]], rank: int, world: int) -> list[dict[str, Any]]:
    """Every rank's rows on rank 0 (rank order); [] on the other ranks."""
    if world == 1:
        return rows
    parts: list[Any] | None = [None] * world if rank == 0 else None
    dist.gather_object(rows, parts, dst=0)
    return [row for part in parts for row in part] if parts is not None else []


def policy_engine(cfg: Config, tokenizer: PreTrainedTokenizerBase) -> Engine:
    """The configured engine serving the policy model (on this rank's GPU when there is one)."""
    model = load_model(cfg.model)
    if cfg.rollout.engine == "hf" and torch.cuda.is_available():
        model = model.to(f"cuda:{torch.cuda.current_device()}")
    return build_engine(cfg.rollout, model, tokenizer)


def _check(cfg: Config) -> None:
    if cfg.resume not in RESUME_MODES:
        raise ValueError(f"resume={cfg.resume!r}: task=eval takes one of {list(RESUME_MODES)}")
    if cfg.eval.episodes_per_batch < 1:
        raise ValueError(f"eval.episodes_per_batch={cfg.eval.episodes_per_batch}: must be >= 1")
    if cfg.eval.samples < 0:
        raise ValueError(f"eval.samples={cfg.eval.samples}: must be >= 0 (0: one greedy rollout per episode)")


def run_eval(cfg: Config) -> None:
    _check(cfg)
    benchmark = get_benchmark(cfg.benchmark.name)
    agent = build_agent(cfg.agent) if benchmark.kind != "mem_alpha" else None  # Mem-α agents: mem_alpha_batch
    rank, world = init_ranks()
    out = run_output_dir(cfg.out, rank)
    built = benchmark_episodes(cfg.benchmark, cfg.data, cfg.eval.num_episodes, cfg.seed)
    episodes = built.episodes
    prepare_models(cfg.model, cfg.judge)  # before seeding: building the tiny model seeds torch itself
    seed_everything(cfg.seed)
    done: list[str] = []
    if rank == 0:
        if cfg.resume == "never":
            (out / ROWS).unlink(missing_ok=True)
        rows = read_rows(out / ROWS)
        check_resume_config(out / CONFIG, row_config(cfg), bool(rows))
        done = [row["id"] for row in rows]
    done_ids = set(broadcast_object(done))
    pending = [e for e in episodes if e.id not in done_ids]
    shares = [pending[r::world] for r in range(world)]
    mine, per_batch = shares[rank], cfg.eval.episodes_per_batch
    tokenizer = load_tokenizer(cfg.model)
    judge = build_judge(cfg.judge)
    if benchmark.kind == "mem_alpha":  # a chunk stream per instance, its questions answered by the frozen reader
        batch_rows = mem_alpha_batch(cfg, tokenizer, judge)
    elif benchmark.kind == "env":  # a task played in its environment; one live environment per rollout
        batch_rows = env_batch(cfg, tokenizer)
        per_batch = episodes_per_batch(per_batch, cfg.benchmark.live_envs, cfg.eval.samples)
    else:
        engine = (scripted_engine(cfg.benchmark.name, tokenizer, mine, cfg.curriculum) if agent.scripted
                  else policy_engine(cfg, tokenizer))
        settings = eval_settings(CollectSettings(cfg.curriculum, cfg.memory, cfg.rollout), agent, cfg.eval.samples,
                                 cfg.eval.stage2)

        def batch_rows(batch: list[Episode]) -> list[dict[str, Any]]:
            return evaluate_batch(batch, engine, settings, tokenizer, samples=cfg.eval.samples, seed=cfg.seed,
                                  benchmark=benchmark, agent=agent, judge=judge)
    if rank == 0 and done_ids:
        log.info("eval: resuming, %d of %d episodes already have a row", len(episodes) - len(pending), len(episodes))
    start = time.perf_counter()
    bar = tqdm(total=len(pending), desc=f"eval {cfg.agent.name} on {cfg.benchmark.name}", unit="episode",
               disable=rank != 0)
    for b in range(math.ceil(max(len(s) for s in shares) / per_batch)):  # every rank runs as many batches
        rows = batch_rows(mine[b * per_batch:(b + 1) * per_batch])
        gathered = gather_rows(rows, rank, world)
        if rank == 0:
            append_rows(out / ROWS, gathered)
            bar.update(len(gathered))
    bar.close()
    if rank == 0:
        _finish(cfg, out, built, benchmark.headline, time.perf_counter() - start)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()


def mem_alpha_batch(cfg: Config, tokenizer: PreTrainedTokenizerBase, judge: Judge):
    """The rows of a batch of Mem-α instances for `agent.name` (agemem/eval/mem_alpha.py): the policy writes its
    memory greedily through the collector (agent=agemem), or a memory-less baseline reads the raw input."""
    name = cfg.agent.name
    if name not in MEM_ALPHA_AGENTS:
        raise ValueError(f"agent.name={name!r}: benchmark={cfg.benchmark.name} takes one of {list(MEM_ALPHA_AGENTS)}")
    if cfg.eval.samples:
        raise ValueError(f"eval.samples={cfg.eval.samples}: Mem-α benchmarks run one greedy rollout per instance")
    reader = build_reader(cfg.reward, cfg.model)
    if name != "agemem":
        return lambda batch: mem_alpha_rows(name, batch, None, reader, judge, cfg.eval.long_context_tokens)
    engine = policy_engine(cfg, tokenizer)
    memory_cfg = dataclasses.replace(cfg, reward=dataclasses.replace(cfg.reward, preset="mem_alpha"))
    settings = collect_settings(memory_cfg)
    settings = dataclasses.replace(settings, rollout=dataclasses.replace(settings.rollout, temperature=0.0))

    def rows(batch: list[Episode]) -> list[dict[str, Any]]:
        trajectories = collect(batch, 1, engine, settings, tokenizer, seed=cfg.seed,
                               episode_seeds=[episode_seed(cfg.seed, e.id) for e in batch]) if batch else []
        return mem_alpha_rows(name, batch, trajectories, reader, judge, cfg.eval.long_context_tokens)

    return rows


def env_batch(cfg: Config, tokenizer: PreTrainedTokenizerBase):
    """The rows of a batch of interactive-benchmark tasks for `agent.name` (agemem/eval/env_eval.py): the policy
    through the env episode, or the oracle's plans through the scripted `EnvOracleEngine`."""
    plans = OraclePlans() if cfg.agent.name == "oracle" else None
    settings = env_settings(cfg.agent, cfg.benchmark, CollectSettings(cfg.curriculum, cfg.memory, cfg.rollout),
                            cfg.eval.samples, plans)
    engine = EnvOracleEngine(tokenizer, plans) if plans is not None else policy_engine(cfg, tokenizer)
    group = max(1, cfg.eval.samples)

    def rows(batch: list[Episode]) -> list[dict[str, Any]]:
        if not batch:
            return []
        trajectories = collect(batch, group, engine, settings, tokenizer, seed=cfg.seed,
                               episode_seeds=[episode_seed(cfg.seed, e.id) for e in batch])
        return env_rows(batch, trajectories, group)

    return rows


def _finish(cfg: Config, out: Path, built: BenchmarkEpisodes, headline: tuple[str, ...], wall_s: float) -> None:
    """Summarise every row of the evaluated episodes, write the summary, print the table and the outputs."""
    order = [e.id for e in built.episodes]
    wanted = set(order)
    rows = [row for row in read_rows(out / ROWS) if row["id"] in wanted]
    info = {"benchmark": cfg.benchmark.name, "agent": cfg.agent.name, "model": cfg.model.name,
            "model_path": cfg.model.path or cfg.model.package, "data_path": cfg.data.path or cfg.benchmark.path,
            "split": cfg.benchmark.split, "judge": cfg.judge.kind, "samples": cfg.eval.samples,
            "stage2": cfg.eval.stage2, "seed": cfg.seed, "items_read": built.items,
            "items_rejected": len(built.rejections), "rejected": built.rejected()}
    if get_benchmark(cfg.benchmark.name).kind == "env":
        info["step_limit"] = cfg.benchmark.step_limit
    summary = summarize(rows, order, info)
    (out / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(format_table(summary, headline))
    if built.rejections:
        print(f"{len(built.rejections)} of the {built.items} input items made no episode (listed with the reason "
              f"under `rejected` in {SUMMARY})")
    print(f"{len(order)} episodes of {cfg.benchmark.name}, agent {cfg.agent.name}, "
          f"{'greedy' if not cfg.eval.samples else f'{cfg.eval.samples} samples each'}; {wall_s:.1f} s this run")
    print(f"outputs: {out.resolve()}  ({ROWS}, {SUMMARY})")
