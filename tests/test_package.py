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


def test_top_level_exports_resolve_to_the_subpackage_objects() -> None:
    import importlib

    for name, module in pcml._EXPORTS.items():
        assert getattr(pcml, name) is getattr(importlib.import_module(module), name), name
    assert sorted(dir(pcml)) == sorted(pcml.__all__)


def test_unknown_attribute_raises_attribute_error() -> None:
    import pytest

    with pytest.raises(AttributeError, match="no_such_name"):
        _ = pcml.no_such_name  # type: ignore[attr-defined]
