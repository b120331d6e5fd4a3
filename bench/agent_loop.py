"""Agent-loop overhead: the collector's generated tokens/s against the same engine called directly, same prompts.

    python bench/agent_loop.py [--model tiny|smollm2_135m] [--episodes 4] [--group-size 4] [--repeats 3]
        [--threads 1] [--seed 0] [--out bench/results/bench.json]

`agemem.rollout.collector.collect` rolls out `--episodes` synthetic episodes `--group-size` times each on an hf
engine built by `build_engine`, with the CPU default config of `python run.py` (conf/config.yaml: 48 new tokens
per call, 2 rounds per message, a 1,024-token context budget, sampling at temperature 1) and per-episode seeds as
the trainer passes them. A recording engine keeps every call it makes (prompt ids, sampling parameters and seeds,
outputs). The replay then calls the same engine directly with exactly those calls, in order, so it does the same
generation work (its outputs are checked to be identical) without the stages, tools, memory, chat templates and
tokenisation around it. Each pass starts from an emptied prefix cache. After one untimed collection the two passes
alternate `--repeats` times; reported: generated tokens/s of each (median), and the median of the per-repeat
ratios collector / engine (wall and process CPU time), which is the figure (target >= 0.8). Also: the share of the
collector's time spent inside the engine, and the padding of the engine's generation batches (batches as the hf
engine cuts them by `length_partition`: rows x the longest prompt, against the prompts' lengths; that is the K/V
width every decode step of the batch reads). Writes section `agent_loop` (`agent_loop_<model>` for another model)
of bench/results/bench.json with the command.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import measure  # sets the CPU environment before torch is imported


class RecordingEngine:
    """Forwards to an engine; keeps every call (prompts, sampling, outputs) and the seconds spent inside it."""

    def __init__(self, engine):
        self.engine = engine
        self.calls: list[tuple[list[list[int]], object, list]] = []
        self.seconds = 0.0

    def generate(self, prompts, sampling):
        start = time.perf_counter()
        outputs = self.engine.generate(prompts, sampling)
        self.seconds += time.perf_counter() - start
        self.calls.append((prompts, sampling, outputs))
        return outputs

    def load_weights(self, named_tensors):
        self.engine.load_weights(named_tensors)


def reset(engine) -> None:
    """An engine as fresh as a new one: no prefix cache entries, zeroed counters."""
    if engine.prefix_cache is not None:
        engine.prefix_cache.clear()
    engine.prefix_stats = {"reused": 0, "prefilled": 0}


def generation_batches(calls, engine) -> list[list[int]]:
    """The prompt lengths of every batch the hf engine decodes, cut as its `generate` cuts them."""
    from agemem.batching import length_partition
    from agemem.rollout.hf_engine import DECODE_BATCH_POSITIONS, DECODE_ROW_POSITIONS

    batches = []
    for prompts, _, _ in calls:
        lengths = [len(p) for p in prompts]
        for rows in length_partition(lengths, batch_cost=DECODE_BATCH_POSITIONS, row_cost=DECODE_ROW_POSITIONS,
                                     max_rows=engine.max_batch_size):
            batches.append([lengths[i] for i in rows])
    return batches


def run(model: str = "tiny", episodes: int = 4, group_size: int = 4, repeats: int = 3, threads: int = 1,
        seed: int = 0) -> dict:
    """Measure collector vs direct engine calls; the result section (without the command)."""
    measure.set_threads(threads)
    from agemem.models import load_model, load_tokenizer
    from agemem.rollout.collector import collect
    from agemem.rollout.factory import build_engine
    from agemem.seeding import derive_seed
    from agemem.tasks.runtime import collect_settings, prepare_model
    from data_gen.sources import build_episodes

    cfg = measure.compose_config(f"model={model}", f"rollout.group_size={group_size}", f"seed={seed}",
                                 f"data.size={max(episodes, 1)}")
    prepare_model(cfg.model)
    tokenizer = load_tokenizer(cfg.model)
    engine = build_engine(cfg.rollout, load_model(cfg.model), tokenizer)
    settings = collect_settings(cfg)
    tasks = build_episodes(cfg.data, cfg.seed).episodes[:episodes]
    seeds = [derive_seed(cfg.seed, p) for p in range(len(tasks))]  # as the trainer seeds a step's tasks

    def collector() -> RecordingEngine:
        reset(engine)
        recorder = RecordingEngine(engine)
        collect(tasks, group_size, recorder, settings, tokenizer, episode_seeds=seeds)
        return recorder

    recorded = collector()  # untimed: first-call costs, and the calls to replay

    def direct() -> list:
        reset(engine)
        return [engine.generate(prompts, sampling) for prompts, sampling, _ in recorded.calls]

    seconds, outputs = measure.interleaved({"collector": collector, "engine": direct}, repeats)
    replayed = [g.token_ids for out in outputs["engine"] for g in out]
    collected = [g.token_ids for _, _, out in outputs["collector"].calls for g in out]
    expected = [g.token_ids for _, _, out in recorded.calls for g in out]
    tokens = sum(len(t) for t in expected)
    wall, cpu = seconds["wall"], seconds["cpu"]
    inside = outputs["collector"].seconds
    return {
        "model": model, "episodes": len(tasks), "group_size": group_size, "repeats": repeats,
        "settings": {"max_new_tokens": cfg.rollout.max_new_tokens, "max_rounds": cfg.curriculum.max_rounds,
                     "context_budget": cfg.curriculum.context_budget, "temperature": cfg.rollout.temperature,
                     "hf_prefix_reuse": cfg.rollout.hf_prefix_reuse},
        "calls": len(recorded.calls), "prompts": sum(len(p) for p, _, _ in recorded.calls),
        "prompt_tokens": sum(len(x) for p, _, _ in recorded.calls for x in p),
        "generated_tokens": tokens,
        "identical_outputs": replayed == expected and collected == expected,
        "seconds": {kind: {name: measure.rounded(v) for name, v in by.items()} for kind, by in seconds.items()},
        "collector_tokens_per_s": round(tokens / statistics.median(wall["collector"]), 1),
        "engine_tokens_per_s": round(tokens / statistics.median(wall["engine"]), 1),
        "ratio_wall": round(measure.median_ratio(wall["engine"], wall["collector"]), 3),
        "ratio_cpu": round(measure.median_ratio(cpu["engine"], cpu["collector"]), 3),
        "engine_share_of_collector": round(inside / wall["collector"][-1], 3),
        "generation_padding": measure.padding_waste(generation_batches(recorded.calls, engine)),
        "target": ">= 0.8",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny", help="conf/model preset: tiny | smollm2_135m")
    parser.add_argument("--episodes", type=int, default=4, help="synthetic episodes rolled out")
    parser.add_argument("--group-size", type=int, default=4, help="rollouts per episode (K)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes of each (medians reported)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=measure.BENCH_JSON)
    args = parser.parse_args()
    result = {"command": measure.command("agent_loop.py"), "env": measure.environment(args.threads),
              **run(args.model, args.episodes, args.group_size, args.repeats, args.threads, args.seed)}
    print(f"agent loop ({args.model}): collector {result['collector_tokens_per_s']} tok/s, engine "
          f"{result['engine_tokens_per_s']} tok/s: {result['ratio_wall']}x wall, {result['ratio_cpu']}x cpu "
          f"(identical outputs: {result['identical_outputs']}; generation padding "
          f"{result['generation_padding']['waste']:.1%})")
    measure.write_section(args.out, "agent_loop" if args.model == "tiny" else f"agent_loop_{args.model}", result)


if __name__ == "__main__":
    sys.exit(main())
