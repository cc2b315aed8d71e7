"""Checks of an experiment command's input, all done before any data are generated.

A user mistake ends the command with exit status 2 and one line on stderr naming the option, the
value and what is allowed (:class:`OneLineUsageError`), never a traceback after minutes of work:

* ``--config FILE``: a regular file of at most :data:`MAX_CONFIG_BYTES`, UTF-8 TOML (not
  ``/dev/zero``, a FIFO, a binary or a huge file);
* the resolved config (profile, then ``--config``, then ``--set`` and the flags): the
  dataclasses' own checks, then :func:`pcml.experiments.config_bounds.validate_config` (the range
  of every numeric field, FNO modes against the grid); the error names the option the value came
  from (``--seed``, ``--set train.lr=...``, ``--config FILE``);
* the device: ``cuda`` only when ``torch.cuda.is_available()``;
* ``--out DIR``: a directory (or creatable as one) in which a file can be created.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

import click

T = TypeVar("T")

#: A config TOML is a few KB; a file larger than this is a mistake (and is not read whole).
MAX_CONFIG_BYTES = 1 << 20


class OneLineUsageError(click.UsageError):
    """A usage error printed as the single line ``Error: ...`` (exit status 2)."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo("Error: " + " ".join(self.format_message().splitlines()), err=True)


def check_config_file(path: Path | None) -> None:
    """``--config``: a regular, small, UTF-8 TOML file (read at most MAX_CONFIG_BYTES + 1)."""
    if path is None:
        return
    try:
        info = path.stat()
    except OSError as err:
        raise OneLineUsageError(f"--config {path}: cannot be read ({err.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise OneLineUsageError(f"--config {path}: not a regular file; expected a TOML file")
    if info.st_size > MAX_CONFIG_BYTES:
        raise OneLineUsageError(
            f"--config {path}: {info.st_size} bytes; expected a TOML file of at most "
            f"{MAX_CONFIG_BYTES} bytes"
        )
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as err:
        raise OneLineUsageError(f"--config {path}: cannot be read ({err.strerror})") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise OneLineUsageError(
            f"--config {path}: more than {MAX_CONFIG_BYTES} bytes; expected a small TOML file"
        )
    try:
        tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise OneLineUsageError(f"--config {path}: not UTF-8 text; expected a TOML file") from None
    except tomllib.TOMLDecodeError as err:
        raise OneLineUsageError(f"--config {path}: not valid TOML ({err})") from None


def check_seed(seed: int | None) -> None:
    """``--seed``: an integer in [0, 2⁶³ − 1] (what torch and numpy both accept)."""
    from ..experiments.config_bounds import SEED_BOUND

    if seed is not None and not SEED_BOUND.contains(seed):
        raise OneLineUsageError(f"--seed {seed}: expected {SEED_BOUND.describe()}")


def check_out(out: Path) -> None:
    """``--out``: an existing directory, or one that can be created, in which files can be
    created (probed with a temporary file in the nearest existing ancestor; nothing is left)."""
    if out.exists() and not out.is_dir():
        raise OneLineUsageError(f"--out {out}: exists and is not a directory")
    probe = out
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise OneLineUsageError(
            f"--out {out}: {probe} is not a directory; expected a writable directory"
        )
    try:
        fd, name = tempfile.mkstemp(prefix=".pcml-write-test-", dir=probe)
    except OSError as err:
        raise OneLineUsageError(
            f"--out {out}: cannot create files in {probe} ({err.strerror}); expected a "
            "writable directory"
        ) from None
    os.close(fd)
    os.unlink(name)


def _devices(cfg: Any, prefix: str = "") -> Iterable[tuple[str, str]]:
    """(dotted key, value) of every ``device`` field of a nested config."""
    import dataclasses

    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            yield from _devices(value, f"{prefix}{f.name}.")
        elif f.name == "device" and isinstance(value, str):
            yield prefix + f.name, value


def check_devices(cfg: Any, origin: Callable[[str], str]) -> None:
    """Every ``device = "cuda"`` of the resolved config needs ``torch.cuda.is_available()``."""
    import torch

    for key, value in _devices(cfg):
        if value == "cuda" and not torch.cuda.is_available():
            raise OneLineUsageError(
                f"{origin(key)}: device 'cuda' but torch.cuda.is_available() is False on this "
                "machine; allowed: 'cpu' or 'auto'"
            )


def _key(item: str) -> str:
    return item.partition("=")[0].strip()


def _origin_finder(
    user_sets: Sequence[str], given_flags: Mapping[str, str], config_file: Path | None
) -> Callable[[str], str]:
    """Which option gave the dotted ``key`` its value: a flag (applied last), a ``--set``,
    ``--config``, else the profile."""
    set_items = {_key(item): item for item in user_sets}

    def origin(key: str) -> str:
        base = key.split("[", 1)[0]
        if base in given_flags:
            return given_flags[base]
        if base in set_items:
            return f"--set {set_items[base]}"
        if config_file is not None:
            return f"--config {config_file} ({base})"
        return f"the profile's {base}"

    return origin


def _message_origin(
    message: str, user_sets: Sequence[str], given_flags: Mapping[str, str], config_file: Path | None
) -> str:
    """The option a free-text config error is about: the flag or ``--set`` whose dotted key (or,
    failing that, whose last part: ``TrainConfig.lr`` for ``train.lr``) the message names, else
    ``--config``, else ``--set``."""
    candidates = [(key, flag) for key, flag in given_flags.items()]
    candidates += [(_key(item), f"--set {item}") for item in reversed(user_sets)]
    for whole in (True, False):
        for key, option in candidates:
            word = key if whole else key.rsplit(".", 1)[-1]
            if word and re.search(rf"(?<![\w]){re.escape(word)}(?![\w])", message):
                return option
    if config_file is not None:
        return f"--config {config_file}"
    return "--set" if user_sets else "the command line"


def resolve_config(
    build: Callable[[], T],
    *,
    out: Path,
    config_file: Path | None,
    sets: Sequence[str],
    overrides: Sequence[str],
    flags: Mapping[str, str],
    seed: int | None = None,
) -> T:
    """The command's config, checked (module docstring) before anything is written.

    ``build()`` merges profile, file and ``sets``: the user's ``--set`` items (``overrides``)
    followed by the flags turned into ``key=value``; ``flags`` maps dotted keys to the flag
    that sets them (``{"seed": "--seed", "train.device": "--device"}``), so that an error
    names what the user typed.
    """
    from ..experiments.config import ConfigRangeError
    from ..experiments.config_bounds import validate_config

    check_seed(seed)
    check_config_file(config_file)
    user_sets = list(overrides)
    flag_values = {_key(item): item.partition("=")[2].strip() for item in sets[len(user_sets) :]}
    given_flags = {
        key: f"{flag} {flag_values[key].strip(chr(34))}"
        for key, flag in flags.items()
        if key in flag_values
    }
    origin = _origin_finder(user_sets, given_flags, config_file)
    try:
        cfg = build()
        validate_config(cfg)
    except ConfigRangeError as err:
        raise OneLineUsageError(
            f"{origin(err.key)}: {err.key} = {err.value!r}; allowed: {err.allowed}"
        ) from None
    except (ValueError, TypeError) as err:
        where = _message_origin(str(err), user_sets, given_flags, config_file)
        raise OneLineUsageError(f"{where}: {err}") from None
    check_devices(cfg, origin)
    check_out(out)
    return cfg
