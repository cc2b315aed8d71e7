"""Shared test configuration: fixed seeds, CPU only, Agg backend, bounded hypothesis runs."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import pytest
import torch
from hypothesis import HealthCheck, settings

settings.register_profile(
    "pcml",
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("pcml")


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
