"""Data-parallel training under ``torchrun``: detection, process group, gradient averaging.

torchrun sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``. Every rank builds the same networks from the
same seed, computes the loss on its slice of the (seed, step)-determined global batch, and gradients are
averaged with one all-reduce per optimisation step. With a per-sample mean loss and equal slices this
equals the single-process gradient of the whole batch. Only rank 0 writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterable

import torch
import torch.distributed as dist
from torch import nn

from vgen.errors import VgenError


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def detect() -> DistInfo:
    """Read torchrun's environment; a plain process is rank 0 of 1."""
    if "WORLD_SIZE" not in os.environ:
        return DistInfo()
    try:
        return DistInfo(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0)))
    except (KeyError, ValueError):
        raise VgenError("RANK/WORLD_SIZE/LOCAL_RANK are malformed; launch with torchrun --nproc_per_node=N -m vgen train") from None


def init(info: DistInfo, device: torch.device) -> None:
    """Join the process group: NCCL on CUDA, gloo on CPU."""
    if info.active and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def device_for(info: DistInfo, device: torch.device) -> torch.device:
    """Under torchrun each rank takes its own GPU (``cuda:LOCAL_RANK``)."""
    if info.active and device.type == "cuda":
        torch.cuda.set_device(info.local_rank)
        return torch.device("cuda", info.local_rank)
    return device


def average_gradients(parameters: Iterable[nn.Parameter], info: DistInfo) -> None:
    """All-reduce-mean the gradients; a parameter with a gradient on any rank gets one on every rank."""
    if not info.active:
        return
    params = [p for p in parameters if p.requires_grad]
    has_grad = torch.tensor([p.grad is not None for p in params], dtype=torch.uint8, device=params[0].device)
    dist.all_reduce(has_grad, op=dist.ReduceOp.MAX)
    grads = []
    for p, flag in zip(params, has_grad.tolist()):
        if flag:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            grads.append(p.grad)
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= info.world_size
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def mean_scalar(value: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """The mean of a scalar over ranks (every rank gets the same value, so skip decisions agree)."""
    if not info.active:
        return value
    value = value.detach().clone().float()
    dist.all_reduce(value)
    return value / info.world_size


def broadcast_object(obj: Any, info: DistInfo) -> Any:
    """Rank 0's value of ``obj`` on every rank (e.g. the run folder it chose)."""
    if not info.active:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(info: DistInfo) -> None:
    if info.active:
        dist.barrier()
