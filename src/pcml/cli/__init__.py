"""The ``pcml`` command line (click).

Sub-commands live in their own modules and are registered here; each imports its heavy
dependencies inside the command so that ``pcml --help`` stays fast.
"""

from __future__ import annotations

import click

from .._version import __version__
from .boon import boon
from .data import data
from .demo import demo
from .opc import opc
from .probconserv import probconserv
from .report import report


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
