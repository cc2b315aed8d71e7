"""pcml.train: a plain PyTorch training loop (DDP/gloo under torchrun), checkpoints, run logs."""

from __future__ import annotations

from .checkpoint import (
    FORMAT_VERSION,
    CheckpointError,
    atomic_open,
    atomic_write,
    load_checkpoint,
    save_checkpoint,
)
from .distributed import DistInfo, cleanup_distributed, setup_distributed
from .loop import RESUME_FREE, TrainConfig, TrainResult, eval_step, evaluate, fit, train_step

__all__ = [
    "FORMAT_VERSION",
    "RESUME_FREE",
    "CheckpointError",
    "DistInfo",
    "TrainConfig",
    "TrainResult",
    "atomic_open",
    "atomic_write",
    "cleanup_distributed",
    "eval_step",
    "evaluate",
    "fit",
    "load_checkpoint",
    "save_checkpoint",
    "setup_distributed",
    "train_step",
]
