"""pcml.train: a plain PyTorch training loop (DDP/gloo under torchrun), checkpoints, run logs."""

from __future__ import annotations

from .checkpoint import (
    FORMAT_VERSION,
    atomic_open,
    atomic_write,
    load_checkpoint,
    save_checkpoint,
)
from .distributed import DistInfo, cleanup_distributed, setup_distributed
from .loop import TrainConfig, TrainResult, eval_step, evaluate, fit, train_step

__all__ = [
    "FORMAT_VERSION",
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
