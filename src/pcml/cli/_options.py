"""Options shared by the ``pcml <method> run`` commands.

Every experiment command takes a profile, a run directory, a TOML file and ``--set`` overrides,
a seed, a device and two output switches; they are declared once here so that the commands
cannot drift apart (same names, same types, same meaning). Each command adds its own options
and help text on top.
"""

from __future__ import annotations

import contextlib
import shlex
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

PROFILES = ("smoke", "quick", "paper")


def profile_option(help_text: str) -> Callable[[F], F]:
    """``--profile {smoke,quick,paper}``, default quick."""
    return click.option(
        "--profile",
        type=click.Choice(PROFILES),
        default="quick",
        show_default=True,
        help=help_text,
    )


def out_option(help_text: str) -> Callable[[F], F]:
    """``--out DIR`` (required): the run directory."""
    return click.option(
        "--out",
        type=click.Path(file_okay=False, path_type=Path),
        required=True,
        help=help_text,
    )


def config_options(config_help: str, set_help: str) -> Callable[[F], F]:
    """``--config FILE`` (TOML applied on top of the profile) and repeatable ``--set KEY=VALUE``;
    the values arrive as ``config_file`` and ``overrides``."""

    def decorate(f: F) -> F:
        f = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=set_help)(f)
        return click.option(
            "--config",
            "config_file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            default=None,
            help=config_help,
        )(f)

    return decorate


def doc_option(help_text: str) -> Callable[[F], F]:
    """``--doc FILE``: a markdown page whose marked section(s) the command rewrites."""
    return click.option(
        "--doc",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help=help_text,
    )


def run_dirs_argument() -> Callable[[F], F]:
    """``RUN_DIRS...``: one or more existing run directories."""
    return click.argument(
        "run_dirs",
        nargs=-1,
        required=True,
        type=click.Path(exists=True, file_okay=False, path_type=Path),
    )


def run_options(seed_help: str, device_help: str) -> Callable[[F], F]:
    """``--seed N``, ``--device {auto,cpu,cuda}``, ``--no-progress`` and ``--no-figures``."""

    def decorate(f: F) -> F:
        f = click.option(
            "--no-figures", is_flag=True, help="Skip the PNG figures and report.html."
        )(f)
        f = click.option("--no-progress", is_flag=True, help="Hide the training progress bars.")(f)
        f = click.option(
            "--device", type=click.Choice(["auto", "cpu", "cuda"]), default=None, help=device_help
        )(f)
        return click.option("--seed", type=int, default=None, help=seed_help)(f)

    return decorate


def toml_names(csv: str) -> str:
    """``"a, b,,c"`` -> the TOML list literal ``["a", "b", "c"]`` for a ``--set`` override."""
    names: Iterable[str] = (m.strip() for m in csv.split(","))
    return "[" + ", ".join(f'"{m}"' for m in names if m) + "]"


def _is_main_process() -> bool:
    from ..train.distributed import is_main_process

    return is_main_process()


def echo_log(message: str) -> None:
    """Progress lines go to stderr, so that stdout holds only the result table; under
    ``torchrun`` only rank 0 logs (one copy of every line)."""
    if _is_main_process():
        click.echo(message, err=True)


def echo_result(text: Callable[[], str]) -> None:
    """Print the result (``text()``, read lazily) on stdout — on rank 0 only under torchrun."""
    if _is_main_process():
        click.echo(text())


@contextlib.contextmanager
def rank_run_dir(out: Path) -> Iterator[tuple[Path, bool]]:
    """``(directory to run in, is rank 0)`` for an experiment command.

    Without ``torchrun`` and on rank 0 this is ``out``: rank 0 alone writes the run directory
    (config, data, checkpoints, metrics, figures, report) and holds its lock. A rank ``r > 0``
    trains its share of every batch (DDP) but runs in a private scratch directory, deleted at
    the end, that starts with a copy of ``out/checkpoints``: every rank then resumes each model
    from the same epoch as rank 0 (``fit`` reads ``{name}-last.pt`` before its first collective,
    and rank 0 writes those files only from inside the collectives), and nothing of rank r
    reaches ``out``. Its data are regenerated there from the same seeds, hence identical.
    """
    if _is_main_process():
        yield out, True
        return
    from ..train.distributed import process_rank

    scratch = Path(tempfile.mkdtemp(prefix=f"pcml-rank{process_rank()}-"))
    try:
        if (out / "checkpoints").is_dir():
            shutil.copytree(out / "checkpoints", scratch / "run" / "checkpoints", symlinks=False)
        yield scratch / "run", False
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def command_line(
    head: Iterable[str],
    config_file: Path | None,
    overrides: Iterable[str],
    flags: Iterable[tuple[str, object]],
    no_progress: bool,
    no_figures: bool,
) -> str:
    """The shell line that reruns a command (for command.txt): ``head`` (``pcml ... --out DIR``),
    ``--config``, every ``--set``, the flags that were given (value not None), the switches."""
    argv = list(head)
    if config_file is not None:
        argv += ["--config", str(config_file)]
    for item in overrides:
        argv += ["--set", item]
    argv += [x for flag, value in flags if value is not None for x in (flag, str(value))]
    argv += ["--no-progress"] * no_progress + ["--no-figures"] * no_figures
    return shlex.join(argv)


def run_experiment(
    run: Callable[..., Any], cfg: Any, out: Path, command: str, no_progress: bool, no_figures: bool
) -> Any:
    """``run(cfg, directory, ...)`` of an experiment command in ``out`` (under torchrun: rank 0 in
    ``out``, the other ranks in scratch, figures on rank 0 only; :func:`rank_run_dir`)."""
    with rank_run_dir(out) as (run_out, main_rank):
        return run(
            cfg,
            run_out,
            command=command,
            progress=not no_progress,
            figures=not no_figures and main_rank,
            log=echo_log,
        )
