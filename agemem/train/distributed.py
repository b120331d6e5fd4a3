"""Everything DeepSpeed: process group, the ZeRO config (a pure function), the actor engine, full weights.

Only `agemem/train/` imports deepspeed (DESIGN.md rule 12).
"""

import importlib
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist

from agemem.train.config import BF16_MODES, DeepSpeedConfig, TrainerConfig

log = logging.getLogger("agemem")
ZERO_STAGES = (0, 1, 2, 3)

if TYPE_CHECKING:  # deepspeed is imported where it runs only (a slow import)
    from deepspeed import DeepSpeedEngine


def bf16_enabled(cfg: DeepSpeedConfig) -> bool:
    """Resolve `deepspeed.bf16`: auto is on where CUDA supports bf16 (off on CPU, where it is slow)."""
    if cfg.bf16 not in BF16_MODES:
        raise ValueError(f"deepspeed.bf16={cfg.bf16!r}: must be one of {list(BF16_MODES)}")
    if cfg.bf16 == "auto":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return cfg.bf16 == "true"


def build_ds_config(ds: DeepSpeedConfig, trainer: TrainerConfig, bf16: bool) -> dict[str, Any]:
    """The DeepSpeed JSON. Micro-batching is ours (token-budget packing), so DeepSpeed sees micro-batch 1 and
    no accumulation; the loop marks the accumulation boundary itself (one optimizer step per batch of tasks)."""
    if ds.zero_stage not in ZERO_STAGES:
        raise ValueError(f"deepspeed.zero_stage={ds.zero_stage}: must be one of {list(ZERO_STAGES)}")
    if ds.offload_param and ds.zero_stage != 3:
        raise ValueError("deepspeed.offload_param=true needs deepspeed.zero_stage=3")
    zero: dict[str, Any] = {"stage": ds.zero_stage}
    if ds.offload_optimizer:
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": torch.cuda.is_available()}
    if ds.offload_param:
        zero["offload_param"] = {"device": "cpu", "pin_memory": torch.cuda.is_available()}
    if ds.zero_stage == 3:
        # Gather the full weights on save, so that checkpoints export without zero_to_fp32.
        zero["stage3_gather_16bit_weights_on_model_save"] = True
    return {
        "train_micro_batch_size_per_gpu": 1,
        "gradient_accumulation_steps": 1,
        "gradient_clipping": trainer.grad_clip,
        "zero_optimization": zero,
        "bf16": {"enabled": bf16},
        # A torch AdamW (no FusedAdam JIT build on CPU); offload needs DeepSpeed's CPU Adam instead.
        "zero_force_ds_cpu_optimizer": ds.offload_optimizer,
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }


def init_distributed(ds: DeepSpeedConfig) -> tuple[int, int]:
    """Start (or join) the process group; returns (rank, world size). Works without torchrun (one rank)."""
    import deepspeed

    backend = ds.dist_backend
    if backend == "auto":
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "gloo":
        # Skip DeepSpeed's JIT build of a shared-memory comm op (~40 s) that gloo does not need (ENV.md).
        importlib.import_module("deepspeed.comm.torch")
        sys.modules["deepspeed.comm.torch"].build_shm_op = lambda: None
    os.environ.setdefault("RANK", "0")
    os.environ.setdefault("LOCAL_RANK", "0")
    os.environ.setdefault("WORLD_SIZE", "1")
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(29500 + os.getpid() % 1000))
    deepspeed.init_distributed(dist_backend=backend)
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    return dist.get_rank(), dist.get_world_size()


def shutdown_distributed() -> None:
    """Barrier before destroying the group: avoids a rare abort at exit on one rank (ENV.md)."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def create_actor(model: torch.nn.Module, ds_config: dict[str, Any], trainer: TrainerConfig,
                 lr_lambda: Callable[[int], float]) -> "DeepSpeedEngine":
    """Wrap the model in a DeepSpeed engine with AdamW and the warm-up/decay schedule."""
    import deepspeed

    params = [p for p in model.parameters() if p.requires_grad]
    if ds_config["zero_force_ds_cpu_optimizer"]:
        from deepspeed.ops.adam import DeepSpeedCPUAdam

        optimizer = DeepSpeedCPUAdam(params, lr=trainer.lr, weight_decay=trainer.weight_decay)
    else:
        optimizer = torch.optim.AdamW(params, lr=trainer.lr, weight_decay=trainer.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)
    engine, _, _, _ = deepspeed.initialize(
        model=model, optimizer=optimizer, lr_scheduler=scheduler, config=ds_config
    )
    return engine


@contextmanager
def full_parameters(engine: "DeepSpeedEngine") -> Iterator[torch.nn.Module]:
    """The actor's module with full (gathered) parameters for the duration of the block (ZeRO-3 partitions them)."""
    import deepspeed

    if engine.zero_optimization_stage() == 3:
        with deepspeed.zero.GatheredParameters(list(engine.module.parameters()), modifier_rank=None):
            yield engine.module
    else:
        yield engine.module


def full_state_dict(engine: "DeepSpeedEngine", lora: bool) -> dict[str, torch.Tensor]:
    """A CPU copy of the full weights (names as in the HF state dict; LoRA merged when present)."""
    with full_parameters(engine) as module:
        if lora:  # peft: fold the adapters in, so the rollout engine loads plain base weights
            return _merged_lora_state(module)
        return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


@torch.no_grad()
def _merged_lora_state(peft_model) -> dict[str, torch.Tensor]:
    """Base weights with the LoRA deltas folded in, under the base model's names. The sums are new tensors:
    peft's merge_adapter/unmerge_adapter would add each delta to the frozen base weights and subtract it again,
    leaving float rounding in them at every weight push."""
    from peft.tuners.lora import LoraLayer

    base = peft_model.get_base_model()
    deltas: dict[str, torch.Tensor] = {}
    for name, module in base.named_modules():
        if isinstance(module, LoraLayer):
            for adapter in (a for a in module.active_adapters if a in module.lora_A):
                key, delta = f"{name}.weight", module.get_delta_weight(adapter)
                deltas[key] = deltas[key] + delta if key in deltas else delta
    out = {}
    for name, tensor in base.state_dict().items():
        if "lora_" in name:
            continue
        name = name.replace(".base_layer.", ".")
        merged = tensor.detach() + deltas[name].to(tensor.dtype) if name in deltas else tensor.detach()
        out[name] = merged.to("cpu", copy=True)
    return out
