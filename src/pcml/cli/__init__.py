"""The ``pcml`` command line (click).

Sub-commands live in their own modules and are registered here; each imports its heavy
dependencies inside the command so that ``pcml --help`` stays fast.
"""

from __future__ import annotations

import click

from .._locks import RunFileError
from .._version import __version__
from .boon import boon
from .data import data
from .demo import demo
from .opc import opc
from .probconserv import probconserv
from .report import report


class _CannotRun(click.ClickException):
    exit_code = 2


class _Main(click.Group):
    """Prints errors about a run's files (a locked run directory, another run's config, a link
    leaving it, a corrupt checkpoint: ``pcml._locks.RunFileError``) as one line, exiting with
    the error's status (2 where the command cannot run as given); a diverged training
    (``FloatingPointError`` from :func:`pcml.train.fit`) is one line with status 1."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except RunFileError as err:
            cls = _CannotRun if err.exit_code == 2 else click.ClickException
            raise cls(str(err)) from None
        except FloatingPointError as err:  # training diverged (pcml.train.fit): exit 1, one line
            raise click.ClickException(f"training diverged: {err}") from None


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pcml")
def main() -> None:
    """pcml: physics-constrained machine learning (ProbConserv conservation laws, BOON
    boundary conditions) for surrogate models of PDEs."""


main.add_command(boon)
main.add_command(data)
main.add_command(demo)
main.add_command(opc)
main.add_command(probconserv)
main.add_command(report)

__all__ = ["main"]
