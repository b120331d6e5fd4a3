"""GPU check: DeepSpeed ZeRO-2/3 bf16 update throughput, MFU and peak memory, and the hf engine's CUDA generation.

    make gpu-check                                        # one GPU; writes bench/results/gpu.json
    python bench/gpu.py --out bench/results/gpu.json [--wheels .whl] [--models 1.5b,7b:14] [--stages 2,3]
    python bench/gpu.py --dry-run --out /tmp/gpu.json     # the same code on CPU, tiny model (tests/bench)

Models are Qwen2.5-1.5B- and Qwen2.5-7B-shaped `Qwen2Config`s, randomly initialised on the device in bf16 (no
download). Each (model, ZeRO stage) runs in its own process (so one failure, or memory DeepSpeed keeps, cannot
spoil the next): the actor engine is built the way the trainer builds it (`agemem.train.distributed`:
`init_distributed`, `build_ds_config`, `create_actor`), then `--warmup` and `--steps` timed optimizer steps of
forward + backward on random token batches of `--batch` × `--seq` tokens, with the trainer's loss kernel
(`agemem.rl.losses.token_logprobs`). Reported: tokens/s, achieved TFLOP/s = 6·N·tokens/s (N = all parameters;
attention's own FLOPs are not counted), MFU = that / `--peak-flops`, and peak memory (`max_memory_allocated`; on
CPU the process's peak RSS). Then `agemem.rollout.hf_engine.HFEngine` generates `--gen-new` tokens for
`--gen-batch` random prompts of `--gen-prompt` tokens on the 1.5B-shaped model (sampling at temperature 1).

`MODEL:LAYERS` keeps a shape's widths with fewer layers: the full 7B's model states (bf16 weights and gradients,
fp32 master weights, gradients and Adam moments: ~18 bytes a parameter, ~128 GiB) leave too little of an H200's
139.8 GiB for activations and DeepSpeed's buffers, so the default runs 14 of its 28 layers. `--checkpointing` names the models trained with gradient checkpointing.

A GPU node may lack deepspeed and bm25s (and hydra-core, omegaconf, wandb): `bash bench/gpu_wheels.sh .whl` (make
gpu-wheels) fills a folder of wheels here, and `--wheels .whl` installs them there into a temporary folder
(`pip install --no-index --no-deps --target`) before anything imports them. The measurements run with
JAX_PLATFORMS=cpu: bm25s starts JAX at import, and JAX on the GPU would take 75% of its memory.
"""

import argparse
import importlib.metadata
import importlib.util
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# Qwen2.5 shapes (the models' config.json), plus a tiny one for the CPU dry-run.
SHAPES = {
    "1.5b": {"hidden_size": 1536, "intermediate_size": 8960, "num_hidden_layers": 28, "num_attention_heads": 12,
             "num_key_value_heads": 2, "vocab_size": 151936, "tie_word_embeddings": True},
    "7b": {"hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28, "num_attention_heads": 28,
           "num_key_value_heads": 4, "vocab_size": 152064, "tie_word_embeddings": False},
    "tiny": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
             "num_key_value_heads": 2, "vocab_size": 512, "tie_word_embeddings": True},
}
# Settings of a real run and of the CPU dry-run; any flag given on the command line overrides them.
DEFAULTS = {
    "gpu": {"models": "1.5b,7b:14", "stages": "2,3", "checkpointing": "7b", "batch": 8, "seq": 2048, "warmup": 2,
            "steps": 5, "gen_model": "1.5b", "gen_batch": 64, "gen_prompt": 512, "gen_new": 128,
            "job_timeout": 180},
    "dry": {"models": "tiny", "stages": "2,3", "checkpointing": "tiny", "batch": 2, "seq": 32, "warmup": 1,
            "steps": 1, "gen_model": "tiny", "gen_batch": 4, "gen_prompt": 16, "gen_new": 8, "job_timeout": 120},
}
NEEDED = ("deepspeed", "bm25s", "hydra", "omegaconf", "wandb")  # what a GPU node may lack (the check: the first two)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="JSON of every figure (and the command)")
    p.add_argument("--dry-run", action="store_true", help="CPU, tiny model, 1 step: the same code path")
    p.add_argument("--wheels", type=Path, help="folder of wheels to install from if deepspeed etc. are missing")
    p.add_argument("--models", help=f"comma list of SHAPE[:LAYERS] (shapes: {', '.join(SHAPES)})")
    p.add_argument("--stages", help="ZeRO stages, comma list")
    p.add_argument("--checkpointing", help="shapes trained with gradient checkpointing, comma list ('' for none)")
    p.add_argument("--batch", type=int, help="sequences per optimizer step")
    p.add_argument("--seq", type=int, help="tokens per sequence")
    p.add_argument("--warmup", type=int, help="untimed optimizer steps first")
    p.add_argument("--steps", type=int, help="timed optimizer steps")
    p.add_argument("--peak-flops", type=float, default=989e12,
                   help="the device's peak dense bf16 FLOP/s for MFU (H100/H200 SXM: 989e12)")
    p.add_argument("--gen-model", help="shape served by the hf engine ('' skips generation)")
    p.add_argument("--gen-batch", type=int, help="prompts per generate call")
    p.add_argument("--gen-prompt", type=int, help="tokens per prompt")
    p.add_argument("--gen-new", type=int, help="new tokens per prompt")
    p.add_argument("--job-timeout", type=int, help="seconds one measurement may take")
    p.add_argument("--job", help=argparse.SUPPRESS)  # internal: one measurement, run in a child process
    args = p.parse_args(argv)
    for key, value in DEFAULTS["dry" if args.dry_run else "gpu"].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def install_wheels(folder: Path) -> str | None:
    """Install the folder's wheels into a temporary directory when a needed package is missing; returns it."""
    missing = [name for name in NEEDED if importlib.util.find_spec(name) is None]
    if not missing:
        return None
    wheels = sorted(str(w) for w in folder.glob("*.whl"))
    if not wheels:
        raise FileNotFoundError(f"{missing} missing and no wheels in {folder} (bash bench/gpu_wheels.sh {folder})")
    target = tempfile.mkdtemp(prefix="agemem-wheels-")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                    "--disable-pip-version-check", "--target", target, *wheels], check=True)
    sys.path.insert(0, target)
    print(f"installed {len(wheels)} wheels from {folder} into {target} (missing were: {', '.join(missing)})")
    return target


# --- one measurement (runs in a child process) -------------------------------------------------------------------


def build_model(shape: str, layers: int | None, device, dtype):
    """A randomly initialised Qwen2 causal LM of the shape, built directly on the device."""
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    kwargs = dict(SHAPES[shape])
    if layers is not None:
        kwargs["num_hidden_layers"] = layers
    torch.manual_seed(0)
    with torch.device(device):
        return AutoModelForCausalLM.from_config(Qwen2Config(**kwargs), dtype=dtype)


def peak_memory_gib(device) -> float:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_update(job: dict, device) -> dict:
    """Build the actor engine as the trainer does and time optimizer steps on random tokens."""
    import torch

    from agemem.rl.losses import token_logprobs
    from agemem.train.config import DeepSpeedConfig, TrainerConfig
    from agemem.train.distributed import bf16_enabled, build_ds_config, create_actor

    ds_cfg = DeepSpeedConfig(zero_stage=job["stage"], bf16="auto", dist_backend="auto")
    bf16 = bf16_enabled(ds_cfg)
    model = build_model(job["model"], job["layers"], device, torch.bfloat16 if bf16 else torch.float32)
    params = sum(p.numel() for p in model.parameters())  # before ZeRO-3 partitions them away
    if job["checkpointing"]:  # as agemem.train.setup.build_actor does
        model.gradient_checkpointing_enable()
        model.config.use_cache = False
    trainer = TrainerConfig(lr=1e-5)
    engine = create_actor(model, build_ds_config(ds_cfg, trainer, bf16), trainer, lambda step: 1.0)
    engine.train()
    gen = torch.Generator(device).manual_seed(0)
    vocab, batch, seq = SHAPES[job["model"]]["vocab_size"], job["batch"], job["seq"]
    times, loss = [], float("nan")
    for step in range(job["warmup"] + job["steps"]):
        ids = torch.randint(0, vocab, (batch, seq), device=device, generator=gen)
        labels = torch.cat([ids[:, 1:], torch.full_like(ids[:, :1], -100)], dim=1)  # next token; none at the end
        sync(device)
        start = time.perf_counter()
        logits = engine(input_ids=ids, use_cache=False).logits
        mean_logprob = token_logprobs(logits, labels).sum() / (batch * (seq - 1))
        engine.backward(-mean_logprob)
        engine.step()
        sync(device)
        if step >= job["warmup"]:
            times.append(time.perf_counter() - start)
        loss = -mean_logprob.item()
    step_s = sum(times) / len(times)
    tokens_per_s = batch * seq / step_s
    flops = 6 * params * tokens_per_s
    return {"params": params, "dtype": "bf16" if bf16 else "fp32", "engine_zero_stage": engine.zero_optimization_stage(),
            "tokens_per_step": batch * seq,
            "step_s": times, "mean_step_s": step_s, "tokens_per_s": tokens_per_s, "achieved_tflops": flops / 1e12,
            "mfu": flops / job["peak_flops"], "peak_memory_gib": peak_memory_gib(device), "loss": loss}


def measure_generation(job: dict, device) -> dict:
    """Time one `HFEngine.generate` call on random prompts (after a short warm-up call)."""
    import torch

    from agemem.rollout.engine import SamplingParams
    from agemem.rollout.hf_engine import HFEngine

    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    model = build_model(job["model"], job["layers"], device, dtype)
    params = sum(p.numel() for p in model.parameters())
    engine = HFEngine(model, pad_token_id=0, max_batch_size=job["batch"])
    gen = torch.Generator().manual_seed(0)
    vocab = SHAPES[job["model"]]["vocab_size"]
    prompts = [torch.randint(1, vocab, (job["prompt"],), generator=gen).tolist() for _ in range(job["batch"])]
    engine.generate(prompts[:2], SamplingParams(temperature=1.0, max_new_tokens=4, seed=1))  # warm-up
    sync(device)
    start = time.perf_counter()
    out = engine.generate(prompts, SamplingParams(temperature=1.0, max_new_tokens=job["new"], seed=0))
    sync(device)
    seconds = time.perf_counter() - start
    new_tokens = sum(len(g.token_ids) for g in out)
    return {"params": params, "dtype": str(dtype).removeprefix("torch."), "seconds": seconds,
            "new_tokens": new_tokens, "tokens_per_s": new_tokens / seconds,
            "peak_memory_gib": peak_memory_gib(device)}


def device_info(device) -> dict:
    import torch
    import transformers

    info = {"python": sys.version.split()[0], "torch": torch.__version__, "transformers": transformers.__version__,
            "device": device.type}
    if importlib.util.find_spec("deepspeed") is not None:
        info["deepspeed"] = importlib.metadata.version("deepspeed")
    if device.type == "cuda":
        info.update(gpu=torch.cuda.get_device_name(device), cuda=torch.version.cuda,
                    gpu_memory_gib=torch.cuda.get_device_properties(device).total_memory / 2**30)
    return info


def run_job(job: dict) -> dict:
    """One measurement in this process: the update (on a fresh process group) or the generation."""
    import torch

    if job["dry_run"]:
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    if not job["dry_run"] and not torch.cuda.is_available():
        raise RuntimeError("no CUDA device: run with --dry-run on CPU")
    device = torch.device("cpu" if job["dry_run"] else "cuda")
    if job["kind"] == "generate":
        return {**job, **measure_generation(job, device), "env": device_info(device)}
    from agemem.train.config import DeepSpeedConfig
    from agemem.train.distributed import init_distributed, shutdown_distributed

    init_distributed(DeepSpeedConfig(dist_backend="auto"))  # nccl on CUDA, gloo (no shm op build) on CPU
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    result = {**job, **measure_update(job, device), "env": device_info(device)}
    shutdown_distributed()  # not after an error: its barrier would hide the error (and the process ends anyway)
    return result


# --- the parent: one child process per measurement ---------------------------------------------------------------


def plan_jobs(args: argparse.Namespace) -> list[dict]:
    common = {"dry_run": args.dry_run, "peak_flops": args.peak_flops}
    checkpointed = {m for m in args.checkpointing.split(",") if m}
    jobs = []
    if args.gen_model:
        jobs.append({**common, "kind": "generate", "model": args.gen_model, "layers": None,
                     "batch": args.gen_batch, "prompt": args.gen_prompt, "new": args.gen_new})
    for spec in args.models.split(","):
        shape, _, layers = spec.partition(":")
        if shape not in SHAPES:
            raise ValueError(f"--models: unknown shape {shape!r}; valid: {list(SHAPES)}")
        for stage in (int(s) for s in args.stages.split(",")):
            jobs.append({**common, "kind": "update", "model": shape, "layers": int(layers) if layers else None,
                         "full_layers": SHAPES[shape]["num_hidden_layers"], "stage": stage,
                         "checkpointing": shape in checkpointed, "batch": args.batch, "seq": args.seq,
                         "warmup": args.warmup, "steps": args.steps})
    return jobs


def spawn(job: dict, timeout: int, env: dict) -> dict:
    """Run one job in a child process; its result, or its error with the tail of its output."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "job.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--job", json.dumps(job), "--out", str(out)]
        if job["dry_run"]:
            cmd.append("--dry-run")
        start = time.perf_counter()
        try:
            proc = subprocess.run(cmd, env=env, timeout=timeout, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, check=False)
            log, failed, reason = proc.stdout, proc.returncode != 0 or not out.exists(), f"exit {proc.returncode}"
        except subprocess.TimeoutExpired as exc:
            log, failed, reason = exc.stdout or b"", True, f"timed out after {timeout} s"
        wall = time.perf_counter() - start
        if failed:
            tail = "\n".join(log.decode(errors="replace").strip().splitlines()[-40:])
            print(f"FAILED {label(job)} ({reason}):\n{tail}", flush=True)
            return {**job, "error": reason, "log_tail": tail, "wall_s": wall}
        result = json.loads(out.read_text())
        print(f"done {label(job)} in {wall:.0f} s: {result['tokens_per_s']:,.0f} tokens/s, "
              f"peak {result['peak_memory_gib']:.1f} GiB", flush=True)
        return {**result, "wall_s": wall}


def label(job: dict) -> str:
    layers = f" ({job['layers']}/{SHAPES[job['model']]['num_hidden_layers']} layers)" if job["layers"] else ""
    if job["kind"] == "generate":
        return f"generate {job['model']}{layers}"
    ckpt = ", grad. checkpointing" if job["checkpointing"] else ""
    return f"update {job['model']}{layers} ZeRO-{job['stage']}{ckpt}"


def billions(n: int) -> str:
    return f"{n / 1e9:.2f} B" if n >= 1e7 else f"{n:,}"


def markdown(results: list[dict]) -> str:
    lines = ["| model | ZeRO | params | tokens/step | tokens/s | achieved TFLOP/s | MFU | peak memory GiB |",
             "|---|---|---|---|---|---|---|---|"]
    for r in (r for r in results if r["kind"] == "update"):
        if "error" in r:
            lines.append(f"| {label(r)} | {r['stage']} | failed: {r['error']} | | | | | |")
            continue
        lines.append(f"| {label(r).split(' ZeRO')[0].removeprefix('update ')}{', ckpt' * r['checkpointing']} "
                     f"| {r['stage']} | {billions(r['params'])} | {r['tokens_per_step']} | "
                     f"{r['tokens_per_s']:,.0f} | {r['achieved_tflops']:.1f} | {100 * r['mfu']:.1f}% | "
                     f"{r['peak_memory_gib']:.1f} |")
    for r in (r for r in results if r["kind"] == "generate"):
        lines.append("")
        if "error" in r:
            lines.append(f"{label(r)}: failed: {r['error']}")
        else:
            lines.append(f"hf engine generation, {r['model']} ({billions(r['params'])}, {r['dtype']}): "
                         f"{r['batch']} prompts × {r['prompt']} tokens, {r['new']} new tokens each: "
                         f"{r['tokens_per_s']:,.0f} new tokens/s ({r['seconds']:.2f} s), "
                         f"peak memory {r['peak_memory_gib']:.1f} GiB")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.job:  # child: one measurement
        result = run_job(json.loads(args.job))
        args.out.write_text(json.dumps(result, indent=1))
        return 0
    env = dict(os.environ)
    # bm25s (imported by agemem.memory) runs a JAX op at import: on a node with JAX that starts JAX's GPU backend,
    # which takes 75% of the GPU's memory for itself. Keep JAX on the CPU.
    env.setdefault("JAX_PLATFORMS", "cpu")
    if args.dry_run:
        env.setdefault("DS_ACCELERATOR", "cpu")
    site = install_wheels(args.wheels) if args.wheels else None
    env["PYTHONPATH"] = os.pathsep.join(p for p in (site, str(REPO), env.get("PYTHONPATH")) if p)
    command = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(__file__, REPO), *(
        sys.argv[1:] if argv is None else argv)])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    results: list[dict] = []
    for job in plan_jobs(args):
        print(f"running {label(job)} …", flush=True)
        result = spawn(job, args.job_timeout, env)
        if job["kind"] == "update" and not job["checkpointing"] and "OutOfMemoryError" in result.get("log_tail", ""):
            print("out of memory: again with gradient checkpointing", flush=True)
            result = {**spawn({**job, "checkpointing": True}, args.job_timeout, env),
                      "note": "out of memory without gradient checkpointing"}
        results.append(result)
        report = write_report(args.out, command, site is not None, results)  # after each job: partial if killed
    print(f"\n{json.dumps(report['env'])}\n\n{markdown(results)}\n\nwrote {args.out}")
    return 1 if report["errors"] else 0


def write_report(path: Path, command: str, wheels_installed: bool, results: list[dict]) -> dict:
    report = {"command": command, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "env": next((r["env"] for r in results if "env" in r), {}), "wheels_installed": wheels_installed,
              "update": [r for r in results if r["kind"] == "update"],
              "generation": next((r for r in results if r["kind"] == "generate"), None),
              "errors": [label(r) + ": " + r["error"] for r in results if "error" in r]}
    path.write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    sys.exit(main())
