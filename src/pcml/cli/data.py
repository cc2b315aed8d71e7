"""``pcml data``: inspect HDF5 datasets."""

from __future__ import annotations

import click


@click.group()
def data() -> None:
    """Inspect pcml HDF5 datasets."""
