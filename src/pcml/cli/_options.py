"""Options shared by the ``pcml <method> run`` commands.

Every experiment command takes a profile, a run directory, a TOML file and ``--set`` overrides,
a seed, a device and two output switches; they are declared once here so that the commands
cannot drift apart (same names, same types, same meaning). Each command adds its own options
and help text on top.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
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


def echo_log(message: str) -> None:
    """Progress lines go to stderr, so that stdout holds only the result table."""
    click.echo(message, err=True)
