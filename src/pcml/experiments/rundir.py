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

Every file is written atomically (temp file in the same folder, fsync, ``os.replace``).
"""

from __future__ import annotations

import io
import json
import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..train.checkpoint import atomic_write
from .config import to_toml

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


def write_text_atomic(path: Path | str, text: str) -> Path:
    """UTF-8 ``text`` written atomically to ``path``."""
    return atomic_write(path, text)


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
        if create:
            for folder in (self.path, self.checkpoints, self.logs, self.figures):
                folder.mkdir(parents=True, exist_ok=True)

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
        return self.command_path.read_text(encoding="utf-8").strip()

    def write_command(self, argv: Sequence[str] | None = None) -> str:
        """Store :func:`command_line` of ``argv`` (default ``sys.argv``); returns it."""
        cmd = command_line(argv)
        write_text_atomic(self.command_path, cmd + "\n")
        return cmd

    def start(self, cfg: Any, command: str | None = None) -> None:
        """Begin, or resume, the run of ``cfg`` here: refuse a directory that holds a run of a
        different config (its checkpoints, data and metrics must never mix with this one's),
        then write ``config.toml`` and, if given, ``command.txt`` (both atomically)."""
        text = to_toml(cfg)
        if self.config_path.is_file() and self.config_path.read_text(encoding="utf-8") != text:
            raise ValueError(
                f"{self.path} holds a run with a different config ({self.config_path}); use a "
                "new --out directory (re-running the same command there resumes)"
            )
        write_text_atomic(self.config_path, text)
        if command:
            write_text_atomic(self.command_path, command + "\n")

    def write_config(self, cfg: Any) -> Path:
        """The resolved config dataclass as TOML."""
        return write_text_atomic(self.config_path, to_toml(cfg))

    def write_metrics(self, metrics: Mapping[str, Any]) -> Path:
        return write_json_atomic(self.metrics_path, metrics)

    def read_metrics(self) -> dict[str, Any]:
        if not self.metrics_path.is_file():
            raise FileNotFoundError(f"{self.path} has no metrics.json")
        data = json.loads(self.metrics_path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"{self.metrics_path} must hold a JSON object, got {type(data)}")
        return data

    def write_table(self, markdown: str) -> Path:
        return write_text_atomic(self.table_path, markdown)

    def captions(self) -> dict[str, str]:
        """``{figure stem: caption}`` from ``figures/captions.json`` (empty if absent)."""
        if not self.captions_path.is_file():
            return {}
        data = json.loads(self.captions_path.read_text(encoding="utf-8"))
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


__all__ = ["RunDir", "command_line", "write_json_atomic", "write_text_atomic"]
