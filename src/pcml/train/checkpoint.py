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
either the old complete file or the new complete file, never a torn one. Files are created with
mode ``0o666`` masked by the process umask (as ``open`` does), not ``mkstemp``'s ``0o600``.

:func:`load_checkpoint` raises :class:`CheckpointError` (a ``ValueError``) naming the file for a
truncated or corrupted file, a foreign one, or one whose weights or optimizer state hold NaN/inf;
it never suggests ``weights_only=False``. :func:`move_aside` renames such a file so that the stage
can be retrained. :func:`check_inside` refuses paths that symbolic links lead out of a folder.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import secrets
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import torch

from .._locks import RunFileError
from .._version import __version__

FORMAT_VERSION = 1
"""Version of the checkpoint layout above; bumped on incompatible changes."""

_REQUIRED_KEYS = ("format_version", "pcml_version", "model", "config", "state_dict", "epoch")


class CheckpointError(RunFileError, ValueError):
    """A checkpoint file that cannot be used; ``path`` is the file, ``reason`` the problem."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path, self.reason = Path(path), reason
        super().__init__(f"checkpoint {self.path}: {reason}")


class LinkOutsideError(RunFileError, ValueError):
    """A path that a symbolic link leads out of its run directory (CLI exit status 2)."""

    exit_code = 2


def check_inside(root: Path | str, path: Path | str, what: str = "path") -> Path:
    """``path`` if it (all symbolic links resolved) lies inside ``root`` (resolved); otherwise
    ``ValueError`` naming both. Links inside the folder, or a linked ``root`` itself, are fine."""
    root, path = Path(root), Path(path)
    real_root, real = root.resolve(), path.resolve()
    if real != real_root and real_root not in real.parents:
        raise LinkOutsideError(
            f"{what} {path} leads outside {root} (it resolves to {real}, through a symbolic "
            "link); pcml does not read or write through links that leave a run directory - "
            "remove the link"
        )
    return path


def _create_temp(folder: Path, name: str) -> tuple[int, Path]:
    """``os.open(O_CREAT | O_EXCL, 0o666)``: like ``mkstemp`` but the umask applies."""
    while True:
        tmp = folder / f".{name}.{secrets.token_hex(6)}.tmp"
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:  # pragma: no cover - 48 random bits
            continue


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
    fd, tmp = _create_temp(path.parent, path.name)
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


def load_checkpoint(
    path: Path | str, map_location: str | torch.device = "cpu", *, check_finite: bool = True
) -> dict[str, Any]:
    """Load a checkpoint with ``torch.load(weights_only=True)`` and check its layout.

    Raises ``FileNotFoundError`` when ``path`` does not exist and :class:`CheckpointError` (a
    ``ValueError``) naming the file when it cannot be read (truncated, corrupted, pickled
    objects), is not a pcml checkpoint, has a newer ``format_version`` than this pcml
    understands, or (``check_finite``) holds a NaN/inf weight or optimizer value.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except PermissionError:
        raise
    except Exception as err:  # torch raises RuntimeError, UnpicklingError, EOFError, OSError...
        raise CheckpointError(
            path,
            f"not a readable pcml checkpoint (truncated, corrupted, or holding objects other "
            f"than plain data and tensors; {type(err).__name__})",
        ) from None
    if not isinstance(data, dict) or any(k not in data for k in _REQUIRED_KEYS):
        raise CheckpointError(
            path, f"not a pcml checkpoint: expected a dict with keys {list(_REQUIRED_KEYS)}"
        )
    if int(data["format_version"]) > FORMAT_VERSION:
        raise CheckpointError(
            path,
            f"has format_version {data['format_version']}, newer than the {FORMAT_VERSION} this "
            f"pcml {__version__} reads; upgrade pcml",
        )
    if check_finite:
        for part in ("state_dict", "optimizer"):
            bad = _first_non_finite(data.get(part), part)
            if bad is not None:
                raise CheckpointError(
                    path,
                    f"{bad} holds NaN/inf values; the run that wrote it diverged or the file was "
                    "altered",
                )
    return data


def _first_non_finite(obj: Any, where: str) -> str | None:
    """The name of the first floating tensor/number in ``obj`` holding a NaN or inf."""
    if isinstance(obj, torch.Tensor):
        if obj.is_floating_point() or obj.is_complex():
            n = int((~torch.isfinite(obj)).sum())
            if n:
                return f"{where} ({n} of {obj.numel()} values)"
        return None
    if isinstance(obj, float):
        return None if math.isfinite(obj) else where
    if isinstance(obj, Mapping):
        items: Any = obj.items()
    elif isinstance(obj, list | tuple):
        items = enumerate(obj)
    else:
        return None
    for k, v in items:
        if where.startswith("optimizer") and k == "param_groups":
            continue  # hyperparameters (lr, betas, ...), not state
        bad = _first_non_finite(v, f"{where}[{k!r}]")
        if bad is not None:
            return bad
    return None


def move_aside(path: Path | str) -> Path:
    """Rename ``path`` to ``{path}.corrupt-{UTC time}`` (kept for inspection); returns the new
    path."""
    path = Path(path)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    os.replace(path, target)
    _fsync_dir(path.parent)
    return target


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
