"""Prefix reuse in the hf engine (issue 20 item 2): one HotpotQA rollout through the real collector, with and without.

    python bench/prefix_reuse.py [--model smollm2_135m|tiny] [--episodes 4] [--group-size 2] [--max-new-tokens 48]
        [--context-budget 8192] [--max-rounds 5] [--threads 2] [--repeats 1] [--out bench/results/prefix_reuse.json]

The same episodes, config and seed are collected by `collect` on an hf engine built by `build_engine` with
`rollout.hf_prefix_reuse=false`, then `true` (the order alternates over --repeats: the 2-core machines drift, so
only ratios within one run count). Every trajectory's every step must have the same prompt and response ids
either way (asserted), and the response log-probs agree to fp32 rounding (the largest difference is reported). The
table gives each run's wall and CPU time (the process's, which other jobs on a shared machine inflate far less
than the wall time), prompt tokens read and computed, and the speed-ups; the JSON (one entry per --label, default
the model) keeps the command. The ratio grows with the context per call against the tokens generated per call:
decoding costs the same either way (`--distractors 8` makes longer contexts, as the issue's 8,192-token runs). Data: `../shared/data/hotpotqa/hotpot_dev_distractor_100.jsonl` through data_gen (`data=hotpotqa`).
"""

import argparse
import json
import platform
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from statistics import mean

import torch
import transformers

from agemem import PROJECT_ROOT
from agemem.memory.config import MemoryConfig
from agemem.models import ModelConfig, load_model, load_tokenizer
from agemem.records import Trajectory
from agemem.rollout.collector import CollectSettings, collect
from agemem.rollout.config import RolloutConfig
from agemem.rollout.factory import build_engine
from agemem.tasks.runtime import prepare_model
from data_gen.config import DataConfig
from data_gen.sources import build_episodes
from stages.config import CurriculumConfig

HOTPOTQA = PROJECT_ROOT.parent / "shared" / "data" / "hotpotqa" / "hotpot_dev_distractor_100.jsonl"


def rollout(args: argparse.Namespace, model_cfg: ModelConfig, reuse: bool, episodes, tokenizer) -> dict:
    """Collect once on a fresh engine; the trajectories, wall and CPU time, and the engine's prefix counters."""
    rollout_cfg = RolloutConfig(temperature=args.temperature, max_new_tokens=args.max_new_tokens,
                                group_size=args.group_size, hf_prefix_reuse=reuse)
    settings = CollectSettings(
        CurriculumConfig(max_rounds=args.max_rounds, num_distractors=args.distractors,
                         context_budget=args.context_budget),
        MemoryConfig(similarity="lexical", summarizer="extractive"), rollout_cfg)
    engine = build_engine(rollout_cfg, load_model(model_cfg), tokenizer)
    calls = [0]
    start, start_cpu = time.perf_counter(), time.process_time()
    trajectories = collect(episodes, args.group_size, engine, settings, tokenizer, seed=args.seed,
                           progress=lambda n: calls.__setitem__(0, calls[0] + n))
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - start_cpu
    return {"trajectories": trajectories, "seconds": seconds, "cpu_seconds": cpu_seconds, "calls": calls[0],
            "prompt_tokens": sum(engine.prefix_stats.values()), "prefilled_tokens": engine.prefix_stats["prefilled"],
            "generated_tokens": sum(len(s.response_ids) for t in trajectories for s in t.steps),
            "cache_bytes": engine.prefix_cache.nbytes if engine.prefix_cache is not None else 0}


def compare(fresh: list[Trajectory], reused: list[Trajectory]) -> float:
    """Assert the same ids step by step; the largest log-prob difference."""
    assert len(fresh) == len(reused)
    worst = 0.0
    for a, b in zip(fresh, reused):
        assert len(a.steps) == len(b.steps), (a.episode_id, a.group_index)
        for x, y in zip(a.steps, b.steps):
            assert x.prompt_ids == y.prompt_ids and x.response_ids == y.response_ids, (a.episode_id, a.group_index)
            worst = max([worst, *(abs(p - q) for p, q in zip(x.response_logprobs, y.response_logprobs))])
    return worst


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2_135m", help="a packaged model (model.package) or 'tiny'")
    parser.add_argument("--episodes", type=int, default=4)
    parser.add_argument("--group-size", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--context-budget", type=int, default=8192)
    parser.add_argument("--max-rounds", type=int, default=5)
    parser.add_argument("--distractors", type=int, default=3)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1, help="pairs of runs, alternating which goes first")
    parser.add_argument("--data", default=str(HOTPOTQA))
    parser.add_argument("--out", default="bench/results/prefix_reuse.json")
    parser.add_argument("--label", default="", help="the JSON entry to write (default: --model)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model_cfg = ModelConfig() if args.model == "tiny" else ModelConfig(name=args.model, package=args.model)
    prepare_model(model_cfg)
    tokenizer = load_tokenizer(model_cfg)
    episodes = build_episodes(DataConfig(source="hotpotqa", path=args.data), seed=0).episodes[: args.episodes]
    runs: dict[bool, list[dict]] = {False: [], True: []}
    for repeat in range(args.repeats):
        for reuse in ((False, True) if repeat % 2 == 0 else (True, False)):
            runs[reuse].append(rollout(args, model_cfg, reuse, episodes, tokenizer))
            last = runs[reuse][-1]
            print(f"  reuse={reuse!s:<5} {last['seconds']:8.1f} s wall {last['cpu_seconds']:8.1f} s CPU  "
                  f"{last['calls']} calls", flush=True)
    worst = max(compare(f["trajectories"], r["trajectories"]) for f in runs[False] for r in runs[True])
    rows = {}
    for reuse, name in ((False, "without reuse"), (True, "with prefix reuse")):
        first = runs[reuse][0]
        rows[name] = {
            "seconds": [round(r["seconds"], 2) for r in runs[reuse]],
            "cpu_seconds": [round(r["cpu_seconds"], 2) for r in runs[reuse]],
            "calls": first["calls"], "prompt_tokens": first["prompt_tokens"],
            "prefilled_tokens": first["prefilled_tokens"], "generated_tokens": first["generated_tokens"],
            "cache_mib_at_end": round(first["cache_bytes"] / 2**20, 1),
        }
    speedups = [f["seconds"] / r["seconds"] for f, r in zip(runs[False], runs[True])]
    cpu_speedups = [f["cpu_seconds"] / r["cpu_seconds"] for f, r in zip(runs[False], runs[True])]
    trajectories = runs[False][0]["trajectories"]
    steps = [s for t in trajectories for s in t.steps]
    print(f"\n{args.model}: {len(episodes)} HotpotQA episodes × {args.group_size} rollouts, {len(steps)} calls "
          f"(prompts {sum(len(s.prompt_ids) for s in steps) / len(steps):.0f} tokens on average, longest "
          f"{max(len(s.prompt_ids) for s in steps)}), max_new_tokens {args.max_new_tokens}, T={args.temperature}, "
          f"{args.threads} threads")
    print(f"{'run':<20}{'wall s':>9}{'CPU s':>9}{'prompt tokens':>15}{'prefilled':>11}{'generated':>11}"
          f"{'speed-up wall':>15}{'CPU':>6}")
    for name, row in rows.items():
        wall, cpu = (1.0, 1.0) if name == "without reuse" else (mean(speedups), mean(cpu_speedups))
        print(f"{name:<20}{mean(row['seconds']):9.1f}{mean(row['cpu_seconds']):9.1f}{row['prompt_tokens']:15,}"
              f"{row['prefilled_tokens']:11,}{row['generated_tokens']:11,}{wall:15.2f}{cpu:6.2f}")
    print(f"same trajectories (prompt and response ids of all {len(steps)} steps): yes; "
          f"max |Δ log-prob| {worst:.2e}")
    result = {
        "command": "python " + shlex.join(sys.argv),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "env": {"python": platform.python_version(), "torch": torch.__version__,
                "transformers": transformers.__version__, "threads": args.threads},
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "label")},
        "calls": len(steps),
        "mean_prompt_tokens": round(sum(len(s.prompt_ids) for s in steps) / len(steps), 1),
        "runs": rows,
        "speedup_wall": [round(s, 2) for s in speedups],
        "speedup_cpu": [round(s, 2) for s in cpu_speedups],
        "identical_ids": True,
        "max_abs_logprob_diff": worst,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    results = json.loads(out.read_text()) if out.exists() else {}  # one entry per model: the last run of each
    results[args.label or args.model] = result
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"written: {out} [{args.label or args.model!r}]")


if __name__ == "__main__":
    main()
