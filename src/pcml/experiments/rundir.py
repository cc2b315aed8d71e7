"""Run directories: one folder per run holding everything needed to read and reproduce it.

::

    DIR/config.toml        resolved config (TOML, pcml.experiments.config.to_toml)
    DIR/command.txt        the exact command that produced the run (shlex-quoted)
    DIR/metrics.json       the metrics (nested dicts of numbers)
    DIR/table.md           a Markdown summary table (optional)
    DIR/checkpoints/       {name}-last.pt / {name}-best.pt (pcml.train)
    DIR/logs/              {name}.jsonl per-epoch training records (pcml.train)
    DIR/figures/*.png      figures, captions in figures/captions.json ({stem: caption})
    DIR/report.html        one self-contained page (pcml.experiments.report)
    DIR/data/<hash>/*.h5   cached datasets of the runners, verified before reuse (pcml.data)

Every file is written atomically (temp file in the same folder, fsync, ``os.replace``) with
the permissions the umask allows (``0o666 & ~umask``), like any other file the user creates.

Safety:

* **Lock.** :meth:`RunDir.start` takes an exclusive ``fcntl`` lock (``DIR/.pcml.lock``) for as
  long as the :class:`RunDir` lives; a second process starting a run in the same folder fails
  at once with :class:`~pcml._locks.RunDirLocked` (the CLI: one line, exit status 2) instead of
  interleaving logs and training twice. The kernel drops the lock when the process dies.
* **Run identity.** A folder holds one run. What identifies it is the resolved config minus
  the settings that cannot change a result: ``device`` (resume on another device),
  ``num_workers`` and ``checkpoint_every`` (:data:`pcml.train.RESUME_FREE`), at any depth; and
  ``epochs`` may grow (train longer in place: the run continues from its last checkpoint and
  gives the weights of an uninterrupted run of the new length). Progress output, figures and
  the command line are not part of the config at all. Any other difference (seed, data, model,
  learning rate, fewer epochs, ...) is refused naming the differing keys; on a resume the new
  config and command are stored.
* **Links.** Nothing is read or written through a symbolic link that leads out of the run
  directory (``figures/x.png -> /etc/passwd``, a linked ``checkpoints/``): ``ValueError``
  naming the link (:func:`pcml.train.checkpoint.check_inside`).
* **JSON.** :func:`load_json` names the file on malformed JSON and refuses nesting deeper than
  :data:`MAX_JSON_DEPTH` with a clear error (not ``RecursionError``).
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import shlex
import sys
import tomllib
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .._locks import RunDirLocked, RunFileError, acquire, release
from ..train.checkpoint import atomic_write, check_inside
from ..train.loop import RESUME_FREE
from .config import to_toml


class ConfigMismatch(RunFileError, ValueError):
    """The run directory holds a run of another identity (CLI exit status 2)."""

    exit_code = 2


MAX_JSON_DEPTH = 64
"""Deepest nesting of JSON objects/arrays that :func:`load_json` accepts."""

_FIGURE_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def _json_default(obj: Any) -> Any:
    """numpy/torch scalars and arrays → Python numbers/lists; paths → str."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON: {obj!r}")


def write_json_atomic(path: Path | str, obj: Any) -> Path:
    """``json.dumps(obj, indent=2)`` written atomically; numpy/torch values become numbers.

    Non-finite floats are written as ``NaN``/``Infinity`` (read back by Python's ``json``).
    """
    return atomic_write(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def _depth(obj: Any) -> int:
    """Nesting depth of lists/dicts (iterative: no recursion limit)."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        item, d = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, d)
            if d <= MAX_JSON_DEPTH:
                stack.extend(
                    (v, d + 1) for v in (item.values() if isinstance(item, dict) else item)
                )
    return deepest


def _non_finite(obj: Any) -> tuple[str, float] | None:
    """(dotted key, value) of the first NaN/inf float in nested dicts/lists, else None."""
    stack: list[tuple[str, Any]] = [("", obj)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return where or "(top level)", item
        if isinstance(item, dict):
            stack.extend((f"{where}.{k}" if where else str(k), v) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((f"{where}[{i}]", v) for i, v in enumerate(item))
    return None


def parse_json(text: str, where: Path | str) -> Any:
    """``json.loads(text)``; ``ValueError`` naming ``where`` if it is malformed or nested deeper
    than :data:`MAX_JSON_DEPTH`."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{where} is not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})"
        ) from None
    except RecursionError:
        obj = None
        depth = MAX_JSON_DEPTH + 1
    else:
        depth = _depth(obj)
    if depth > MAX_JSON_DEPTH:
        raise ValueError(
            f"{where}: JSON nested deeper than {MAX_JSON_DEPTH} levels; pcml writes at most a few"
        )
    return obj


def load_json(path: Path | str, root: Path | str | None = None) -> Any:
    """The JSON value of the file ``path`` (UTF-8); ``ValueError`` naming the file when it is
    malformed, not UTF-8, too deeply nested, or (given ``root``) a link leading out of ``root``."""
    path = Path(path)
    if root is not None:
        check_inside(root, path, "file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    return parse_json(text, path)


def read_text_inside(root: Path | str, path: Path | str) -> str:
    """The UTF-8 text of ``path``, refusing a link that leads out of ``root`` and naming the
    file if it is not UTF-8."""
    try:
        return check_inside(root, path, "file").read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None


def read_bytes_inside(root: Path | str, path: Path | str) -> bytes:
    """The bytes of ``path``, refusing a link that leads out of ``root``."""
    return check_inside(root, path, "file").read_bytes()


def identity_diff(old: Any, new: Any, where: str = "") -> list[str]:
    """Dotted keys where two resolved configs (plain dicts) differ in the run's identity: keys
    named in :data:`pcml.train.RESUME_FREE` are ignored at any depth and ``epochs`` may grow
    (module docstring)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            if key in RESUME_FREE:
                continue
            name = f"{where}.{key}" if where else str(key)
            if key not in old or key not in new:
                out.append(name)
            elif key == "epochs" and isinstance(old[key], int) and isinstance(new[key], int):
                if new[key] < old[key]:
                    out.append(f"{name} (fewer: {old[key]} -> {new[key]})")
            else:
                out += identity_diff(old[key], new[key], name)
        return out
    return [] if old == new and type(old) is type(new) else [where or "(the config)"]


def write_text_atomic(path: Path | str, text: str) -> Path:
    """UTF-8 ``text`` written atomically to ``path``."""
    return atomic_write(path, text)


def replace_marked_section(doc: Path | str, start: str, end: str, markdown: str) -> Path:
    """Replace the text between the marker lines ``start`` and ``end`` of the markdown file
    ``doc`` (markers kept) by ``markdown``; appended with its markers when absent, the file
    created when missing. Written atomically; the rest of the page is left as it is."""
    doc = Path(doc)
    text = doc.read_text(encoding="utf-8") if doc.exists() else ""
    block = f"{start}\n{markdown.rstrip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip() + ("\n\n" if text else "") + block + "\n"
    return write_text_atomic(doc, text)


def command_line(argv: Sequence[str] | None = None) -> str:
    """The shell command of this process, quoted with ``shlex`` so that pasting it reruns it.

    A console script (``.../bin/pcml``) is shown by its name, ``python -m pcml`` as such, and a
    script file as ``python FILE``.
    """
    argv = list(sys.argv if argv is None else argv)
    if not argv:
        return ""
    prog = Path(argv[0])
    if prog.name == "__main__.py":
        head = ["python", "-m", prog.parent.name]
    elif prog.suffix == ".py":
        head = ["python", argv[0]]
    else:
        head = [prog.name]
    return shlex.join([*head, *argv[1:]])


class RunDir:
    """Paths and atomic writers of one run directory (created on construction)."""

    def __init__(self, path: Path | str, *, create: bool = True) -> None:
        self.path = Path(path)
        self._lock: str | None = None
        if create:
            self.path.mkdir(parents=True, exist_ok=True)
            for folder in (self.checkpoints, self.logs, self.figures):
                self.inside(folder).mkdir(exist_ok=True)
            self.inside(self.path / "data")  # the runners' dataset caches (data/<hash>/)

    def inside(self, path: Path | str) -> Path:
        """``path`` if no symbolic link leads it out of this run directory, else ``ValueError``."""
        return check_inside(self.path, path, "run-directory entry")

    def read_bytes(self, path: Path | str) -> bytes:
        """The bytes of a file of this run (refusing links that leave it)."""
        return read_bytes_inside(self.path, path)

    def read_text(self, path: Path | str) -> str:
        """The UTF-8 text of a file of this run (refusing links that leave it)."""
        return read_text_inside(self.path, path)

    def lock(self) -> None:
        """Hold this folder's exclusive lock while this object lives (module docstring);
        raises :class:`~pcml._locks.RunDirLocked` if another process holds it. Under
        ``torchrun`` only rank 0 (``RANK``) takes it."""
        if int(os.environ.get("RANK", "0") or 0) != 0:
            return  # under torchrun only rank 0 locks (and writes); the ranks run together
        if self._lock is None:
            self.path.mkdir(parents=True, exist_ok=True)
            self._lock = acquire(self.path)
            weakref.finalize(self, release, self._lock)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    @property
    def config_path(self) -> Path:
        return self.path / "config.toml"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.json"

    @property
    def table_path(self) -> Path:
        return self.path / "table.md"

    @property
    def command_path(self) -> Path:
        return self.path / "command.txt"

    @property
    def report_path(self) -> Path:
        return self.path / "report.html"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    @property
    def figures(self) -> Path:
        return self.path / "figures"

    @property
    def captions_path(self) -> Path:
        return self.figures / "captions.json"

    @property
    def command(self) -> str | None:
        """The stored command (``command.txt``), or None if none was written."""
        if not self.command_path.is_file():
            return None
        return self.read_text(self.command_path).strip()

    def write_command(self, argv: Sequence[str] | None = None) -> str:
        """Store :func:`command_line` of ``argv`` (default ``sys.argv``); returns it."""
        cmd = command_line(argv)
        write_text_atomic(self.command_path, cmd + "\n")
        return cmd

    def start(self, cfg: Any, command: str | None = None) -> None:
        """Begin, or resume, the run of ``cfg`` here: take the folder's lock, refuse a
        directory that holds a run of a different identity (module docstring: its checkpoints,
        data and metrics must never mix with this one's), then write ``config.toml`` and, if
        given, ``command.txt`` (both atomically)."""
        self.lock()
        text = to_toml(cfg)
        if self.config_path.is_file():
            old_text = self.read_text(self.config_path)
            if old_text != text:
                try:
                    diff = identity_diff(tomllib.loads(old_text), tomllib.loads(text))
                except tomllib.TOMLDecodeError as err:
                    raise ValueError(f"{self.config_path}: not valid TOML ({err})") from None
                if diff:
                    raise ConfigMismatch(
                        f"{self.path} holds a run with a different config ({self.config_path}: "
                        f"{', '.join(diff)}); use a new --out directory (re-running the same "
                        "command there resumes; device, num_workers, checkpoint_every and more "
                        "epochs may change)"
                    )
        write_text_atomic(self.config_path, text)
        if command:
            write_text_atomic(self.command_path, command + "\n")

    def write_config(self, cfg: Any) -> Path:
        """The resolved config dataclass as TOML."""
        return write_text_atomic(self.config_path, to_toml(cfg))

    def write_metrics(self, metrics: Mapping[str, Any]) -> Path:
        """``metrics.json``; ``ValueError`` naming the metric if any value is NaN or infinite (a
        diverged model or NaN weights must not become a table of ``nan`` with exit status 0;
        a metric that does not apply is ``None``)."""
        bad = _non_finite(json.loads(json.dumps(metrics, default=_json_default)))
        if bad is not None:
            key, value = bad
            raise ValueError(
                f"{self.metrics_path}: metric {key} is {value}; refusing to write non-finite "
                "metrics (did training diverge, or were the weights NaN?)"
            )
        return write_json_atomic(self.metrics_path, metrics)

    def read_metrics(self) -> dict[str, Any]:
        if not self.metrics_path.is_file():
            raise FileNotFoundError(f"{self.path} has no metrics.json")
        data = load_json(self.metrics_path, self.path)
        if not isinstance(data, dict):
            raise ValueError(f"{self.metrics_path} must hold a JSON object, got {type(data)}")
        return data

    def write_table(self, markdown: str) -> Path:
        return write_text_atomic(self.table_path, markdown)

    def captions(self) -> dict[str, str]:
        """``{figure stem: caption}`` from ``figures/captions.json`` (empty if absent)."""
        if not self.captions_path.is_file():
            return {}
        data = load_json(self.captions_path, self.path)
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def save_figure(self, fig: Any, name: str, caption: str | None = None, dpi: int = 120) -> Path:
        """Save a matplotlib figure as ``figures/{name}.png`` (atomically) with its caption."""
        stem = name.removesuffix(".png")
        if not _FIGURE_NAME.fullmatch(stem):
            raise ValueError(f"figure name must match [A-Za-z0-9_.-]+, got {name!r}")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
        path = atomic_write(self.figures / f"{stem}.png", buf.getvalue())
        if caption is not None:
            write_json_atomic(self.captions_path, {**self.captions(), stem: caption})
        return path


__all__ = [
    "MAX_JSON_DEPTH",
    "ConfigMismatch",
    "RunDir",
    "RunDirLocked",
    "command_line",
    "identity_diff",
    "load_json",
    "parse_json",
    "read_bytes_inside",
    "read_text_inside",
    "write_json_atomic",
    "write_text_atomic",
]
