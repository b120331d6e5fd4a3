"""Collectives on plain numbers over the ranks of a torch.distributed run (one rank without a process group):
what evaluation and training share to report one figure for the whole run."""

from typing import Any

import torch
import torch.distributed as dist


def all_reduce_sum(values: list[float]) -> list[float]:
    """Sum plain numbers over ranks (float64 on the right device for the backend)."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return list(values)
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def all_reduce_max_floats(values: list[float]) -> list[float]:
    """The element-wise maximum of plain numbers over ranks."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return list(values)
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tensor.tolist()


def reduce_metrics(local: dict[str, float], summed: tuple[str, ...] = ()) -> dict[str, float]:
    """One rank's metrics → the whole batch's: `*/max` and `*/min` by max and min, the `summed` keys (counts,
    rates) by sum, everything else averaged (every rank holds the same number of tasks). Collective."""
    keys = sorted(local)
    world = dist.get_world_size() if dist.is_initialized() else 1
    sums = dict(zip(keys, all_reduce_sum([local[k] for k in keys])))
    extremes = [k for k in keys if k.endswith(("/max", "/min"))]
    signs = [1.0 if k.endswith("/max") else -1.0 for k in extremes]
    maxima = all_reduce_max_floats([sign * local[k] for sign, k in zip(signs, extremes)])
    out = {k: v if k in summed else v / world for k, v in sums.items()}
    out.update({k: sign * v for k, sign, v in zip(extremes, signs, maxima)})
    return out


def all_reduce_max(value: int) -> int:
    """The maximum of an integer over ranks."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return value
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    tensor = torch.tensor([value], dtype=torch.long, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return int(tensor.item())


def broadcast_object(obj: Any) -> Any:
    """Rank 0's object on every rank."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
