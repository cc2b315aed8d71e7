"""Field metrics: relative L2 (neuralop's ratio, per sample over all non-batch dims), boundary
error per BC kind against closed forms, near-boundary relative L2."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pcml.constraints.boundary import BoundaryConditions, Dirichlet, Neumann, Periodic
from pcml.metrics.fields import boundary_error, near_boundary_relative_l2, relative_l2

F64 = torch.float64


@settings(max_examples=20)
@given(b=st.integers(1, 4), c=st.integers(1, 3), n=st.integers(2, 12), seed=st.integers(0, 999))
def test_relative_l2_matches_numpy(b, c, n, seed) -> None:
    rng = np.random.default_rng(seed)
    y = rng.normal(size=(b, c, n, 3))
    yh = y + rng.normal(scale=0.1, size=y.shape)
    per = np.linalg.norm((yh - y).reshape(b, -1), axis=1) / (
        np.linalg.norm(y.reshape(b, -1), axis=1) + 1e-8
    )
    t, th = torch.tensor(y), torch.tensor(yh)
    np.testing.assert_allclose(relative_l2(th, t, "none").numpy(), per, rtol=1e-12)
    np.testing.assert_allclose(relative_l2(th, t).item(), per.mean(), rtol=1e-12)
    np.testing.assert_allclose(relative_l2(th, t, "sum").item(), per.sum(), rtol=1e-12)


def test_relative_l2_edge_cases() -> None:
    z = torch.zeros(2, 1, 4)
    assert relative_l2(z, z).item() == 0.0
    assert torch.isfinite(relative_l2(torch.ones(2, 1, 4), z))
    with pytest.raises(ValueError, match="same shape"):
        relative_l2(torch.ones(2, 1, 4), torch.ones(2, 1, 5))
    with pytest.raises(ValueError, match="reduction"):
        relative_l2(z, z, "max")  # type: ignore[arg-type]


def test_boundary_error_closed_forms() -> None:
    """u = x² on [0, 1]: u_x(0) = 0, u_x(1) = 2. The first-order stencil errs by exactly h at both
    ends; the 4th-order reference stencil is exact on a quadratic."""
    n = 21
    h = 1.0 / (n - 1)
    x = torch.linspace(0, 1, n, dtype=F64)
    u = (x**2).expand(2, 1, n).clone()
    bcs = BoundaryConditions({"x": (Neumann(1), Neumann(1))})
    err = boundary_error(u, bcs, {"x": (0.0, 2.0)})
    torch.testing.assert_close(err["x.lower.neumann_stencil"], torch.full((2,), h, dtype=F64))
    torch.testing.assert_close(err["x.upper.neumann_stencil"], torch.full((2,), h, dtype=F64))
    assert err["x.lower.neumann_reference"].max() < 1e-10
    assert err["x.upper.neumann_reference"].max() < 1e-10
    # Dirichlet: node errors; periodic: |u0 − u_{N−1}| = 1
    dir_err = boundary_error(
        u, {"x": (Dirichlet(), Dirichlet())}, {"x": (0.5, torch.tensor([1.0, 3.0]))}
    )
    torch.testing.assert_close(dir_err["x.lower.dirichlet"], torch.full((2,), 0.5, dtype=F64))
    torch.testing.assert_close(dir_err["x.upper.dirichlet"], torch.tensor([0.0, 2.0], dtype=F64))
    per = boundary_error(u, {"x": (Periodic(), Periodic())})
    torch.testing.assert_close(per["x.periodic"], torch.ones(2, dtype=F64))


def test_boundary_error_space_time_and_reduce() -> None:
    u = torch.zeros(1, 2, 6, 4, dtype=F64)
    vals = torch.tensor([[0.0, 1.0, 2.0, 3.0]], dtype=F64)  # one value per frame
    bcs = BoundaryConditions({"x": (Dirichlet(), None)})
    mean = boundary_error(u, bcs, {"x": (vals, None)})["x.lower.dirichlet"]
    mx = boundary_error(u, bcs, {"x": (vals, None)}, reduce="max")["x.lower.dirichlet"]
    torch.testing.assert_close(mean, torch.tensor([1.5], dtype=F64))
    torch.testing.assert_close(mx, torch.tensor([3.0], dtype=F64))


def test_near_boundary_relative_l2() -> None:
    y = torch.randn(3, 1, 20, dtype=F64)
    yh = y.clone()
    yh[:, :, 8:12] += 1.0  # error only in the middle
    assert near_boundary_relative_l2(yh, y, width=5).item() == 0.0
    idx = [0, 1, 2, 17, 18, 19]
    yh2 = y + 0.1
    expect = relative_l2(yh2[:, :, idx], y[:, :, idx], "none")
    torch.testing.assert_close(near_boundary_relative_l2(yh2, y, width=3, reduction="none"), expect)
    with pytest.raises(ValueError, match="width"):
        near_boundary_relative_l2(y, y, width=11)
