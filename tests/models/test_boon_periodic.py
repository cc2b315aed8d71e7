"""BOON on closed periodic grids: the operator runs on the N − 1 distinct nodes (open grid).

Checked as math: the output is the FNO on the open grid with node 0 copied to the endpoint; it is
exactly equivariant under cyclic shifts of the data (the article's per-layer end averaging,
``periodic="average"``, is not); an input whose duplicated endpoint differs from node 0 is refused
(nothing is dropped silently); mixed periodic and Dirichlet axes keep both guarantees. Both the
article's elimination mode and the default extension mode.
"""

from __future__ import annotations

import functools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pcml.constraints.boundary import BoundaryConditions, Dirichlet, Periodic
from pcml.models.boon import BOON as _BOON
from pcml.models.fno import FNO

F64 = torch.float64
BOON = functools.partial(_BOON, mode="channelwise")
PER = {"x": (Periodic("closed"), Periodic("closed"))}


def _fno(ndim: int, seed: int, embed: bool = True) -> FNO:
    torch.manual_seed(seed)
    modes = {1: (4,), 3: (2, 2, 3)}[ndim]
    padding = 0 if ndim == 1 else (0, 0, 2)
    pe = "grid" if embed else None
    return FNO(
        modes, 1, 1, 5, n_layers=3, projection_channels=8, padding=padding, positional_embedding=pe
    ).to(F64)


def _closed(u: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Append node 0 along ``dim`` (a closed periodic grid)."""
    return torch.cat([u, u.narrow(dim, 0, 1)], dim=dim)


@settings(max_examples=10)
@given(seed=st.integers(0, 10_000), n=st.integers(10, 40), batch=st.integers(1, 3))
def test_open_periodic_is_fno_on_distinct_nodes(seed, n, batch) -> None:
    fno = _fno(1, seed)
    model = BOON(fno, PER)
    a = _closed(torch.randn(batch, 1, n - 1, dtype=F64))
    out = model(a)
    assert out.shape == (batch, 1, n)
    assert torch.equal(out, _closed(fno(a[..., :-1])))
    assert torch.equal(out[..., 0], out[..., -1])


@settings(max_examples=10)
@given(seed=st.integers(0, 10_000), n=st.integers(12, 40), shift=st.integers(1, 11))
def test_open_periodic_commutes_with_cyclic_shifts(seed, n, shift) -> None:
    """Without the (non-periodic) grid channel the FNO is circulant on the open grid, so BOON
    commutes with cyclic shifts of the period (to round-off); the article's averaging on the
    closed grid does not (FFT period N·h ≠ data period (N − 1)h)."""
    fno = _fno(1, seed, embed=False)
    u = torch.randn(2, 1, n - 1, dtype=F64)
    shifted = _closed(torch.roll(u, shift, -1))
    ref = _closed(torch.roll(BOON(fno, PER)(_closed(u))[..., :-1], shift, -1))
    assert torch.allclose(BOON(fno, PER)(shifted), ref, rtol=0, atol=1e-12)
    avg = BOON(fno, PER, periodic="average")
    ref_avg = _closed(torch.roll(avg(_closed(u))[..., :-1], shift, -1))
    assert (avg(shifted) - ref_avg).abs().max() > 1e-6


@pytest.mark.parametrize("mode", ["channelwise", "extension"])
def test_closed_input_with_unequal_ends_is_refused(mode: str) -> None:
    fno = _fno(1, 3)
    a = _closed(torch.randn(2, 1, 15, dtype=F64))
    b = a.clone()
    b[..., -1] += 1.0
    model = _BOON(fno, PER, mode=mode)  # type: ignore[arg-type]
    out = model(a)
    assert torch.equal(out[..., 0], out[..., -1])
    with pytest.raises(ValueError, match="last node must repeat the first"):
        model(b)
    with pytest.raises(ValueError, match="closed periodic axis 'x' needs >= 3"):
        model(torch.randn(1, 1, 2, dtype=F64))
    with pytest.raises(ValueError, match="periodic"):
        BOON(fno, PER, periodic="closed")  # type: ignore[arg-type]
    avg = BOON(fno, PER, periodic="average")
    out = avg(a)
    assert torch.equal(out[..., 0], out[..., -1])
    with pytest.raises(ValueError, match="average"):
        BOON(fno, {"x": (Periodic(), Periodic())}, periodic="average")


@pytest.mark.parametrize("mode", ["channelwise", "extension"])
def test_mixed_dirichlet_and_closed_periodic_axes(mode: str) -> None:
    """Grid (x, y, t): x Dirichlet with values resolved over (y, t), y periodic (closed grid)."""
    b, nx, ny, nt = 2, 10, 9, 6
    c = Periodic("closed")
    bcs = BoundaryConditions({"x": (Dirichlet(), Dirichlet()), "y": (c, c)})
    model = _BOON(_fno(3, 1), bcs, mode=mode)  # type: ignore[arg-type]
    a = _closed(torch.randn(b, 1, nx, ny - 1, nt, dtype=F64), dim=3)
    lo = _closed(torch.randn(b, ny - 1, nt, dtype=F64), dim=1)
    hi = torch.randn(b, 1, nt, dtype=F64)  # broadcast along y
    out = model(a, {"x": (lo, hi)})
    assert out.shape == (b, 1, nx, ny, nt)
    assert torch.equal(out[:, :, :, 0], out[:, :, :, -1])
    assert torch.equal(out[:, 0, 0], lo) and torch.equal(out[:, 0, -1], hi.expand(b, ny, nt))
    b2 = a.clone()
    b2[:, :, :, -1] += 1.0
    with pytest.raises(ValueError, match="closed periodic axis 'y'"):
        model(b2, {"x": (lo, hi)})
    assert torch.isfinite(out).all()
