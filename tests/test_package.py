"""The package imports, reports its version and its CLI answers."""

from __future__ import annotations

from click.testing import CliRunner

import pcml
from pcml.cli import main


def test_version_matches_cli() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert pcml.__version__ in result.output


def test_help_lists_commands() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "data" in result.output
