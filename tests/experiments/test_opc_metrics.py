"""Operator-ProbConserv metrics against their definitions."""

from __future__ import annotations

import math

import pytest
import torch

from pcml.experiments.opc.metrics import Z95, calibration_curve, operator_metrics


def _calibrated(n_fn: int = 4000, n: int = 8) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    mean = torch.randn(n_fn, n, generator=g, dtype=torch.float64)
    var = torch.rand(n_fn, n, generator=g, dtype=torch.float64) + 0.5
    y = mean + var.sqrt() * torch.randn(n_fn, n, generator=g, dtype=torch.float64)
    return mean, var, y


def test_calibrated_gaussian() -> None:
    mean, var, y = _calibrated()
    w = torch.full((4,), 0.25, dtype=torch.float64)
    b = torch.zeros(mean.shape[0], 2, dtype=torch.float64)
    m = operator_metrics(mean, var, y, w, b)
    assert abs(m["coverage"] - 0.95) < 0.01
    assert m["rmsce"] < 0.02
    assert m["piw"] == pytest.approx(float((2 * Z95 * var.sqrt()).mean()))
    assert m["mse"] == pytest.approx(float(var.mean()), rel=0.05)
    p, freq = calibration_curve(mean, var, y)
    assert max(abs(a - b) for a, b in zip(p, freq, strict=True)) < 0.02
    # an overconfident model is flagged
    over = operator_metrics(mean, var / 16, y, w, b)
    assert over["coverage"] < 0.5 and over["rmsce"] > 0.1 and over["nll"] > m["nll"]


def test_nmerci_and_conservation_by_hand() -> None:
    mean = torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.0, 2.0]], dtype=torch.float64)
    y = torch.tensor([[1.0, 0.0], [1.0, 3.0], [0.0, 0.0]], dtype=torch.float64)
    var = torch.tensor([[1.0, 1.0], [4.0, 0.0], [1.0, 3.0]], dtype=torch.float64) + 0.0
    var[1, 1] = 1e-30
    mae = torch.tensor([1.0, 2.0, 2.0])
    s = torch.tensor([math.sqrt(2.0), math.sqrt(4.0), math.sqrt(4.0)])
    q = torch.quantile(mae / s, 0.95)
    expected = float(((q * s).mean() - mae.mean()) / (mae.max() - mae.mean()))
    g = torch.tensor([0.5, 0.5], dtype=torch.float64)  # n_x = 2, n_t = 1
    b = torch.tensor([[0.0], [1.0], [2.0]], dtype=torch.float64)
    m = operator_metrics(mean, var, y, g, b)
    assert m["nmerci"] == pytest.approx(expected)
    # masses G μ = 0, 1, 1 against b = 0, 1, 2: Σ|.| per function 0, 0, 1 → mean 1/3
    assert m["ce"] == pytest.approx(1 / 3)
    assert m["ce_rel"] == pytest.approx(1 / 3)  # |1 − 2| / (1 + 2)
    with pytest.raises(ValueError, match="equal shapes"):
        operator_metrics(mean, var[:2], y, g, b)
