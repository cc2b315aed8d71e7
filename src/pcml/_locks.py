"""Exclusive per-directory locks (``fcntl.flock``), held by a process while it writes a run.

``acquire(folder)`` locks ``folder/.pcml.lock`` without waiting; another *process* holding it
raises :class:`RunDirLocked` (naming the folder and, when known, that process's id). Within one
process the lock is re-entrant (counted), so sequential and nested users of one folder share it;
the last ``release`` closes the file, and the kernel releases the lock if the process dies, so a
killed run never leaves a stale lock. The file is opened ``O_CLOEXEC``: processes started with
``exec`` do not inherit it. :func:`die_with_parent` ties a child process's life to its
parent's (the demo's background run). This module imports nothing heavy: the CLI catches
:class:`RunFileError` (the base of this and of ``pcml.train.CheckpointError``,
``pcml.train.checkpoint.LinkOutsideError`` and ``pcml.experiments.rundir.ConfigMismatch``) and
prints one line.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import sys
from pathlib import Path

LOCK_NAME = ".pcml.lock"

_HELD: dict[str, list[int]] = {}  # resolved folder -> [fd, count]


class RunFileError(Exception):
    """Base of errors about a run's files (lock, identity, links, checkpoints) that the CLI
    prints as one line and exits with ``exit_code`` (2: the command cannot run as given)."""

    exit_code = 1


class RunDirLocked(RunFileError, RuntimeError):
    """Another process holds the lock of ``path``; the CLI exits with status 2."""

    exit_code = 2

    def __init__(self, path: Path, holder: str) -> None:
        self.path = path
        super().__init__(
            f"{path} is in use by another pcml process{holder}; wait for it to finish or "
            "choose another --out directory"
        )


def acquire(folder: Path | str) -> str:
    """Lock ``folder`` (which must exist) for this process; returns the key for :func:`release`."""
    folder = Path(folder)
    key = str(folder.resolve())
    entry = _HELD.get(key)
    if entry is not None:
        entry[1] += 1
        return key
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(folder / LOCK_NAME, flags, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = ""
        with contextlib.suppress(OSError):
            pid = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        os.close(fd)
        raise RunDirLocked(folder, f" (pid {pid})" if pid.isdigit() else "") from None
    except BaseException:
        os.close(fd)
        raise
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _HELD[key] = [fd, 1]
    return key


def release(key: str) -> None:
    """Undo one :func:`acquire`; the last one unlocks (closing the file)."""
    entry = _HELD.get(key)
    if entry is None:
        return
    entry[1] -= 1
    if entry[1] <= 0:
        del _HELD[key]
        os.close(entry[0])  # closing the last descriptor releases the flock


def die_with_parent(parent: int, sig: int = signal.SIGINT) -> None:
    """Linux: have the kernel send ``sig`` to this process when its parent dies
    (``prctl(PR_SET_DEATHSIG)``; SIGINT lets a training run save its checkpoint first), and
    exit at once if the parent ``parent`` is already gone. A no-op on other systems. Called
    first thing in a child (not as a ``preexec_fn``, which can deadlock in threaded parents)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, int(sig), 0, 0, 0)  # PR_SET_DEATHSIG = 1
    if os.getppid() != parent:
        os._exit(1)
