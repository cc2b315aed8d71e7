"""Distributed data parallel helpers: one process per device, launched by ``torchrun``.

``torchrun --nproc_per_node=N -m pcml ...`` sets ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT``; :func:`setup_distributed` then joins the process group with
the ``nccl`` backend on GPUs and ``gloo`` on CPUs (so a 2-process CPU run works in CI). Without
``WORLD_SIZE > 1`` everything here is a cheap single-process no-op.

Multi-node users launch the same script with ``torchrun --nnodes=M --node_rank=k
--rdzv_endpoint=HOST:PORT``; Lightning Fabric users can wrap :func:`pcml.train.fit`'s model and
loss themselves. pcml depends on neither.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True, slots=True)
class DistInfo:
    """Where this process sits: ``rank`` in ``[0, world_size)``, its ``device`` and backend."""

    rank: int
    local_rank: int
    world_size: int
    device: torch.device
    backend: str | None

    @property
    def is_main(self) -> bool:
        """True on rank 0, the only rank that writes checkpoints, logs and progress bars."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r} is not an integer") from None


def process_rank() -> int:
    """This process's rank from the ``torchrun`` environment (``RANK``; 0 without torchrun),
    readable before the process group exists — e.g. to log and write artefacts on rank 0 only."""
    return _env_int("RANK", 0)


def is_main_process() -> bool:
    """True unless ``torchrun`` started this process as a rank other than 0."""
    return process_rank() == 0


def _pick_device(device: str, local_rank: int) -> torch.device:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device='cuda' was requested but torch.cuda.is_available() is False")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if device == "cpu":
        return torch.device("cpu")
    raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")


def setup_distributed(device: str = "auto") -> DistInfo:
    """Read the ``torchrun`` environment and, when ``WORLD_SIZE > 1``, join the process group.

    Idempotent: a second call reuses the existing group. The group is destroyed at interpreter
    exit (or earlier by :func:`cleanup_distributed`).
    """
    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", rank)
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"invalid torchrun environment: RANK={rank}, WORLD_SIZE={world_size}")
    dev = _pick_device(device, local_rank)
    if world_size == 1:
        return DistInfo(0, 0, 1, dev, None)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
        atexit.register(cleanup_distributed)
    return DistInfo(rank, local_rank, world_size, dev, str(dist.get_backend()))


def cleanup_distributed() -> None:
    """Leave the process group if one is active."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    """Wait for all ranks (no-op in a single process)."""
    if info.distributed:
        if info.backend == "nccl":
            dist.barrier(device_ids=[info.device.index or 0])
        else:
            dist.barrier()


def all_reduce_sum(values: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Sum a float64 tensor over ranks (returned unchanged in a single process)."""
    if info.distributed:
        values = values.to(info.device)
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values.cpu()
