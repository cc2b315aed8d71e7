"""Checkpoints as plain data, written atomically.

A checkpoint is a dict of plain Python data and tensors, so that it loads with
``torch.load(path, weights_only=True)`` (no pickled classes, no code execution on load)::

    {"format_version": 1, "pcml_version": "0.1.0", "model": "pcml.models.fno.FNO",
     "config": {"train": {...}, "model": {...} | None},
     "state_dict": model.state_dict(), "optimizer": opt.state_dict(),
     "scheduler": sched.state_dict() | None, "epoch": int (completed epochs),
     "rng": {"torch": ByteTensor, "data": ByteTensor, "cuda": [ByteTensor, ...]},
     "metrics": {...last epoch record...}, "history": [{...per epoch...}, ...],
     "best": {"epoch": int | None, "val_loss": float | None}}

Every file is written atomically: temp file in the same folder, ``fsync``, ``os.replace``, then
an ``fsync`` of the folder, so a reader (or a run killed with SIGKILL at any instant) sees
either the old complete file or the new complete file, never a torn one.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import torch

from .._version import __version__

FORMAT_VERSION = 1
"""Version of the checkpoint layout above; bumped on incompatible changes."""

_REQUIRED_KEYS = ("format_version", "pcml_version", "model", "config", "state_dict", "epoch")


@contextlib.contextmanager
def atomic_open(path: Path | str, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path``; on clean exit fsync it and ``os.replace`` it
    onto ``path``. On an exception the temporary file is removed and ``path`` is untouched.

    ``mode`` is ``"wb"`` (bytes) or ``"w"`` (UTF-8 text).
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open: mode must be 'wb' or 'w', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        encoding = "utf-8" if mode == "w" else None
        with os.fdopen(fd, mode, encoding=encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path | str, data: bytes | str) -> Path:
    """Write ``data`` (bytes, or str as UTF-8) to ``path`` atomically; returns ``path``."""
    with atomic_open(path, "wb") as fh:
        fh.write(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)


def qualified_name(obj: object) -> str:
    """``module.QualName`` of an object's class, e.g. ``"torch.nn.modules.linear.Linear"``."""
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def save_checkpoint(path: Path | str, payload: Mapping[str, Any]) -> Path:
    """Atomically ``torch.save`` a checkpoint dict (adds ``format_version``/``pcml_version``).

    The payload must hold plain data only (dicts, lists, str, numbers, bool, None, tensors); it
    is checked by loading nothing back, but :func:`load_checkpoint` uses ``weights_only=True``.
    """
    data = {"format_version": FORMAT_VERSION, "pcml_version": __version__, **payload}
    missing = [k for k in _REQUIRED_KEYS if k not in data]
    if missing:
        raise ValueError(f"save_checkpoint: payload lacks required keys {missing}")
    buf = io.BytesIO()
    torch.save(data, buf)
    return atomic_write(path, buf.getvalue())


def load_checkpoint(path: Path | str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``torch.load(weights_only=True)`` and check its layout.

    Raises ``FileNotFoundError`` when ``path`` does not exist and ``ValueError`` when the file
    is not a pcml checkpoint or has a newer ``format_version`` than this pcml understands.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    data = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(data, dict) or any(k not in data for k in _REQUIRED_KEYS):
        raise ValueError(
            f"{path} is not a pcml checkpoint: expected a dict with keys {list(_REQUIRED_KEYS)}"
        )
    if int(data["format_version"]) > FORMAT_VERSION:
        raise ValueError(
            f"{path} has checkpoint format_version {data['format_version']}, newer than the "
            f"{FORMAT_VERSION} this pcml {__version__} reads; upgrade pcml"
        )
    return data


def clone_state(obj: Any) -> Any:
    """Deep copy of nested dicts/lists/tuples with every tensor detached and cloned to CPU.

    Used to snapshot ``state_dict()``s at the end of an epoch: those dicts reference the live
    parameters, which the next optimizer step changes in place.
    """
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: clone_state(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [clone_state(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(clone_state(v) for v in obj)
    return obj
