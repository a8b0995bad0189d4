"""Training on several processes with PyTorch's own engine: ``torchrun`` and
``DistributedDataParallel`` (DDP).

``torchrun --nproc_per_node=N -m gan_course train ...`` starts N copies of the command; each
learns its rank from the environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``) and
:func:`init_from_torchrun` joins them into one process group (NCCL between GPUs, gloo
between CPU processes). From then on:

- every rank holds the same G and D; DDP averages each update's gradients over the ranks,
  so all ranks take the same optimiser steps and keep identical weights;
- every rank draws the *same* random numbers from the loop's seeded generator (the data
  permutation and the noise of the whole batch) and keeps its own share of each batch:
  rank r of N takes rows ``r*B/N .. (r+1)*B/N`` of every batch of ``B = cfg.batch_size``,
  so the N processes together compute one batch of B, as a single process would;
- only rank 0 writes checkpoints and sample grids and shows progress; any rank can stop
  the run (Ctrl-C, a non-finite loss, the time budget) and all ranks agree on it at the
  next bookkeeping step, so none is left waiting in a collective.

Batch norm: on GPUs the models' batch-norm layers become ``SyncBatchNorm``, which computes
each batch's statistics over the whole batch of B across the ranks. That keeps the
algorithm the one a single process runs (the recipes were measured with statistics over
64 samples; with 8 GPUs, per-rank statistics would be over 8). ``SyncBatchNorm`` exists only
for GPUs, so CPU processes (gloo, as in the tests) keep per-rank statistics, with the
running averages of rank 0 broadcast at every forward pass (DDP's ``broadcast_buffers``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Dist:
    """Where this process stands: its rank among ``world_size`` processes."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def shard(self, t: torch.Tensor) -> torch.Tensor:
        """This rank's rows of a batch drawn for all ranks (the whole batch in one process)."""
        if not self.active:
            return t
        n = len(t) // self.world_size
        return t[self.rank * n:(self.rank + 1) * n]

    def mean(self, t: torch.Tensor) -> torch.Tensor:
        """The mean of ``t`` over the ranks (``t`` itself in one process)."""
        if not self.active:
            return t
        t = t.clone()
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.SUM)
        return t / self.world_size

    def any(self, flag: bool, device: torch.device) -> bool:
        """True on every rank if ``flag`` is true on any rank (one small collective)."""
        if not self.active:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=device)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        return bool(t.item())

    def broadcast_buffers(self, module: nn.Module) -> None:
        """Give every rank rank 0's buffers (batch-norm running statistics)."""
        if self.active:
            for b in module.buffers():
                torch.distributed.broadcast(b, src=0)

    def barrier(self) -> None:
        if self.active:
            torch.distributed.barrier()


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def init_from_torchrun(device: str | None = None) -> tuple[Dist, torch.device | None]:
    """Join the process group torchrun set up, once; return this rank and its device.

    Outside torchrun (or with one process) this does nothing and returns ``(Dist(), None)``
    (the caller then picks the device as usual). Under torchrun on GPUs each process takes
    ``cuda:LOCAL_RANK``; ``device="cpu"`` forces CPU processes with gloo.
    """
    if not launched_by_torchrun():
        return Dist(), None
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device != "cpu" and torch.cuda.is_available()
    if device is not None and device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for but torch sees no CUDA GPU on this machine; "
                           "leave --device out to use the CPU.")
    if use_cuda:
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(f"this rank's LOCAL_RANK is {local_rank} but the machine has "
                               f"{torch.cuda.device_count()} GPUs; use --nproc_per_node at most that.")
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    else:
        dev = torch.device("cpu")
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend="nccl" if use_cuda else "gloo",
                                             device_id=dev if use_cuda else None)
    return current(), dev


def current() -> Dist:
    """This process's :class:`Dist` from the initialised process group (or a single process)."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return Dist()
    return Dist(torch.distributed.get_rank(), torch.distributed.get_world_size(),
                int(os.environ.get("LOCAL_RANK", "0")))


def wrap(module: nn.Module, dist: Dist, device: torch.device) -> nn.Module:
    """``module`` for the updates: a DDP wrapper that averages gradients over the ranks, or
    ``module`` itself in one process. Converts batch norm to SyncBatchNorm on GPUs (in place:
    the caller's module is the one trained)."""
    if not dist.active:
        return module
    from torch.nn.parallel import DistributedDataParallel as DDP

    sync_bn = device.type == "cuda"
    if sync_bn:
        # converts the batch-norm children in place (the course's models are never a bare
        # batch-norm layer, for which it would return a new module instead)
        assert nn.SyncBatchNorm.convert_sync_batchnorm(module) is module
    # buffers (batch-norm running statistics) are synced at the start either way; at every
    # forward pass only where batch norm is per rank (with SyncBatchNorm they agree already)
    return DDP(module, device_ids=[device.index] if device.type == "cuda" else None,
               forward_sync_buffers=not sync_bn)


def shutdown() -> None:
    """Leave the process group (at the end of a torchrun command)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
