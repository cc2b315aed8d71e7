"""BOON, the article's elimination modes (channelwise / reference / none): exact BCs on the output,
exact hidden-layer elimination, analytic = probed blocks. (Default extension mode: test_boon.py.)"""

from __future__ import annotations

import functools
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from pcml.constraints.boundary import (
    BoundaryConditions,
    Dirichlet,
    Neumann,
    Periodic,
    axis_coords,
    wall_values,
)
from pcml.constraints.stencils import OneSidedStencil
from pcml.models.boon import BOON as _BOON
from pcml.models.boon import _gelu_with_ends
from pcml.models.boon_correction import boundary_blocks, eliminate, reference_scalars
from pcml.models.fno import FNO

F64 = torch.float64
BOON = functools.partial(_BOON, mode="channelwise")
CLOSED = Periodic("closed")


def _closed(a: torch.Tensor, dim: int = 2) -> torch.Tensor:
    """a with its last node along ``dim`` replaced by the first (a closed periodic grid)."""
    n = a.shape[dim]
    return torch.cat([a.narrow(dim, 0, n - 1), a.narrow(dim, 0, 1)], dim=dim)


def _fno(ndim: int, hidden: int, seed: int, dtype: torch.dtype = F64, pad_t: int = 0) -> FNO:
    torch.manual_seed(seed)
    modes = {1: (4,), 2: (3, 3), 3: (2, 2, 3)}[ndim]
    padding = (0,) * (ndim - 1) + (pad_t,) if ndim > 1 else 0
    return FNO(modes, 1, 1, hidden, n_layers=3, projection_channels=8, padding=padding).to(dtype)


def _neumann_residual(u: torch.Tensor, order: int, side: str, g: torch.Tensor, coords) -> float:
    """max |D u − g| / (Σ_j |w_j u_j| + |g|): the relation's error relative to its terms."""
    w = OneSidedStencil(order).weights(coords, side)  # type: ignore[arg-type]
    du = w.apply(u, 2)
    scale = sum(abs(wj) * u.select(2, n).abs() for n, wj in zip(w.nodes, w.weights, strict=True))
    return ((du - g) / (scale + g.abs())).abs().max().item()


@settings(max_examples=12)
@given(
    seed=st.integers(0, 10_000),
    batch=st.integers(1, 3),
    n=st.integers(12, 40),
    hidden=st.integers(1, 6),
    mode=st.sampled_from(["channelwise", "reference", "none"]),
    dtype=st.sampled_from([torch.float32, F64]),
)
def test_dirichlet_outputs_are_bitwise_1d(seed, batch, n, hidden, mode, dtype) -> None:
    model = BOON(_fno(1, hidden, seed, dtype), {"x": (Dirichlet(), Dirichlet())}, mode=mode)
    a = torch.randn(batch, 1, n, dtype=dtype)
    lo, hi = torch.randn(batch, dtype=dtype), torch.randn(batch, dtype=dtype)
    out = model(a, {"x": (lo, hi)})
    assert torch.equal(out[:, 0, 0], lo) and torch.equal(out[:, 0, -1], hi)
    assert torch.isfinite(out).all()


@settings(max_examples=12)
@given(
    seed=st.integers(0, 10_000),
    batch=st.integers(1, 3),
    n=st.integers(12, 24),
    frames=st.integers(6, 10),
    kind=st.sampled_from(["dirichlet", "neumann", "periodic"]),
    mode=st.sampled_from(["channelwise", "reference"]),
)
def test_space_time_1d_all_kinds(seed, batch, n, frames, kind, mode) -> None:
    """Grid (x, t), BCs along x, per-frame values, time padded as the original BOON-2d."""
    bcs = {
        "dirichlet": {"x": (Dirichlet(), Dirichlet())},
        "neumann": {"x": (Neumann(1), Neumann(3))},
        "periodic": {"x": (CLOSED, CLOSED)},
    }[kind]
    model = BOON(_fno(2, 4, seed, F64, pad_t=3), bcs, mode=mode)
    a = _closed(torch.randn(batch, 1, n, frames, dtype=F64))
    lo, hi = torch.randn(batch, frames, dtype=F64), torch.randn(batch, frames, dtype=F64)
    out = model(a, None if kind == "periodic" else {"x": (lo, hi)})
    assert out.shape == (batch, 1, n, frames)
    if kind == "dirichlet":
        assert torch.equal(out[:, 0, 0], lo) and torch.equal(out[:, 0, -1], hi)
    elif kind == "periodic":
        assert torch.equal(out[:, :, 0], out[:, :, -1])
    else:
        c = axis_coords(None, "x", n)
        assert _neumann_residual(out, 1, "lower", lo.unsqueeze(1), c) <= 1e-12
        assert _neumann_residual(out, 3, "upper", hi.unsqueeze(1), c) <= 1e-12


@settings(max_examples=16)
@given(
    seed=st.integers(0, 10_000),
    batch=st.integers(1, 3),
    n_train=st.integers(12, 30),
    factor=st.sampled_from([2, 3]),
    orders=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    dtype=st.sampled_from([torch.float32, F64]),
    half=st.booleans(),
)
def test_neumann_relation_exact_at_any_resolution(
    seed, batch, n_train, factor, orders, dtype, half
) -> None:
    """Stencil derivative of the output = flux (1e-5 fp32, 1e-12 fp64), at N and at another N, on
    uniform and non-uniform grids, non-zero flux at both ends."""
    bcs = {"x": (Neumann(orders[0]), Neumann(orders[1]))}
    model = BOON(_fno(1, 4, seed, dtype), bcs, neumann_half=half)
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    for n in (n_train, factor * n_train + 1):
        a = torch.randn(batch, 1, n, dtype=dtype)
        g = (torch.randn(batch, dtype=dtype), 5 * torch.ones(batch, dtype=dtype))
        xs = torch.sort(torch.rand(n, dtype=F64)).values * 2.0
        for grid in (None, {"x": xs}):
            out = model(a, {"x": g}, grid=grid)
            c = axis_coords(grid, "x", n)
            assert _neumann_residual(out, orders[0], "lower", g[0].unsqueeze(1), c) <= tol
            assert _neumann_residual(out, orders[1], "upper", g[1].unsqueeze(1), c) <= tol


@settings(max_examples=10)
@given(
    seed=st.integers(0, 10_000), n=st.integers(10, 40), dtype=st.sampled_from([torch.float32, F64])
)
def test_periodic_ends_bitwise_1d(seed, n, dtype) -> None:
    model = BOON(_fno(1, 3, seed, dtype), {"x": (CLOSED, CLOSED)})
    out = model(_closed(torch.randn(2, 1, n, dtype=dtype)))
    assert torch.equal(out[:, :, 0], out[:, :, -1])


@pytest.mark.parametrize("kind", ["dirichlet", "neumann", "periodic"])
def test_space_time_2d_all_walls(kind: str) -> None:
    """Grid (x, y, t), BCs on all four walls; later axes (y) win at the corners."""
    b, nx, ny, nt = 2, 10, 9, 6
    bc = {"dirichlet": Dirichlet(), "neumann": Neumann(2), "periodic": CLOSED}[kind]
    bcs = BoundaryConditions({"x": (bc, bc), "y": (bc, bc)})
    model = BOON(_fno(3, 3, 1, F64, pad_t=2), bcs)
    a = _closed(_closed(torch.randn(b, 1, nx, ny, nt, dtype=F64)), 3)
    vals = None
    if kind != "periodic":
        vals = {
            "x": (torch.randn(b, ny, nt, dtype=F64), torch.randn(b, nt, dtype=F64)),
            "y": (torch.randn(b, nx, nt, dtype=F64), torch.randn(b, dtype=F64)),
        }
    out = model(a, vals)
    assert out.shape == (b, 1, nx, ny, nt)
    if kind == "periodic":
        assert torch.equal(out[:, :, 0], out[:, :, -1])
        assert torch.equal(out[:, :, :, 0], out[:, :, :, -1])
        return
    assert vals is not None
    full = wall_values(bcs, vals, ("x", "y", "t"), out)
    if kind == "dirichlet":
        assert torch.equal(out[:, 0, :, 0], full["y"][0]) and torch.equal(
            out[:, 0, :, -1], full["y"][1]
        )
        assert torch.equal(out[:, 0, 0, 1:-1], full["x"][0][:, 1:-1])
        assert torch.equal(out[:, 0, -1, 1:-1], full["x"][1][:, 1:-1])
    else:
        w = {s: bc.stencil.weights(axis_coords(None, "x", nx), s) for s in ("lower", "upper")}
        for s, side in enumerate(("lower", "upper")):  # x walls away from the y walls
            err = w[side].apply(out, 2)[:, 0, 1:-1] - full["x"][s][:, 1:-1]
            assert err.abs().max() <= 1e-11
            wy = bc.stencil.weights(axis_coords(None, "y", ny), side)
            assert (wy.apply(out, 3)[:, 0] - full["y"][s]).abs().max() <= 1e-11


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_no_bcs_equals_fno(ndim: int) -> None:
    fno = _fno(ndim, 4, 0, torch.float32, pad_t=2)
    a = torch.randn(2, 1, *([12] * ndim))
    assert torch.equal(BOON(fno)(a), fno(a))
    assert torch.equal(BOON(fno, BoundaryConditions({}))(a), fno(a))


def _perturb_interior(v: torch.Tensor, dim: int) -> torch.Tensor:
    n = v.shape[dim]
    noise = torch.randn_like(v.narrow(dim, 1, n - 2))
    return torch.cat(
        [v.narrow(dim, 0, 1), v.narrow(dim, 1, n - 2) + noise, v.narrow(dim, n - 1, 1)], dim
    )


@settings(max_examples=16)
@given(
    seed=st.integers(0, 10_000),
    ndim=st.sampled_from([1, 2, 3]),
    hidden=st.integers(1, 8),
    n=st.integers(10, 30),
    sides=st.sampled_from([(True, True), (True, False), (False, True)]),
)
def test_channelwise_elimination_removes_interior_dependence(seed, ndim, hidden, n, sides) -> None:
    """Corrected hidden layer (K̂ + W + b, before the boundary relation): boundary outputs do not
    move when only interior inputs (along the elimination axis) change — fp32, ≤ 1e-6 relative."""
    bc = {True: Dirichlet(), False: None}
    model = BOON(
        _fno(ndim, hidden, seed, torch.float32, pad_t=2), {"x": (bc[sides[0]], bc[sides[1]])}
    )
    torch.manual_seed(seed)
    v = torch.randn(2, hidden, n, *([7] * (ndim - 1)))
    v2 = _perturb_interior(v, 2)
    u, u2 = model.corrected_layer(1, v), model.corrected_layer(1, v2)
    plain = model.fno.layers[1]
    p, p2 = plain.kernel(v) + plain.skip(v), plain.kernel(v2) + plain.skip(v2)
    for node, on in ((0, sides[0]), (n - 1, sides[1])):
        moved = (u.select(2, node) - u2.select(2, node)).abs().max() / u.abs().max()
        plain_moved = (p.select(2, node) - p2.select(2, node)).abs().max() / p.abs().max()
        if on:
            assert moved <= 1e-6
            assert plain_moved > 1e-4  # the test can fail: the uncorrected layer does depend on it


def test_reference_mode_exact_for_one_channel_only() -> None:
    """The article's scalar probes eliminate exactly for C = 1, not for C > 1 (reference §10.1)."""
    for hidden, expect_exact in ((1, True), (4, False)):
        spectral = _fno(1, hidden, 3).layers[0].spectral
        v = torch.randn(3, hidden, 32, dtype=F64)
        v2 = _perturb_interior(v, 2)
        k, k2 = (eliminate(spectral, x, 0, True, True, mode="reference") for x in (v, v2))
        moved = (k - k2)[..., [0, -1]].abs().max() / k.abs().max()
        assert (moved < 1e-12) == expect_exact


def _probe_blocks(spectral, grid: tuple[int, ...]) -> dict[str, torch.Tensor]:
    """Dense probing: K applied to unit impulses at (x = q, transverse origin) per input channel."""
    ci = spectral.in_channels
    n = grid[0]
    out = {}
    for q, name_q in ((0, "0"), (n - 1, "N")):
        e = torch.zeros(ci, ci, *grid, dtype=F64)
        idx = (torch.arange(ci), torch.arange(ci), torch.full((ci,), q)) + (0,) * (len(grid) - 1)
        e[idx] = 1.0
        k = spectral(e)  # (Ci, Co, *grid): k[i, o, p, ...] = K[p, q][o, i] as a transverse kernel
        for p, name_p in ((0, "0"), (n - 1, "N")):
            col = k.select(2, p)
            if len(grid) > 1:
                col = torch.fft.rfftn(col, dim=list(range(2, col.ndim)))
            out[name_p + name_q] = torch.movedim(torch.movedim(col, 0, -1), 0, -2)
    return out


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_analytic_blocks_equal_probed_blocks(ndim: int) -> None:
    fno = _fno(ndim, 3, 7)
    grid = (11, 8, 7)[:ndim] if ndim > 1 else (13,)
    spectral = fno.layers[0].spectral
    blocks = boundary_blocks(spectral, grid, 0)
    probed = _probe_blocks(spectral, grid)
    for key, mat in (("00", blocks.a), ("0N", blocks.b), ("N0", blocks.c), ("NN", blocks.d)):
        torch.testing.assert_close(mat, probed[key].to(mat.dtype), rtol=0, atol=1e-12)
    # the article's scalars: probe with ones on every channel (and transverse node), read channel 0
    sa, _, sc, _ = reference_scalars(blocks)
    ones = torch.zeros(1, 3, *grid, dtype=F64)
    ones_first = torch.cat(
        [torch.ones_like(ones.narrow(2, 0, 1)), ones.narrow(2, 1, grid[0] - 1)], 2
    )
    ke1 = spectral(ones_first)[0, 0]
    torch.testing.assert_close(ke1.select(0, 0).reshape(-1)[0], sa, rtol=0, atol=1e-12)
    torch.testing.assert_close(ke1.select(0, grid[0] - 1).reshape(-1)[0], sc, rtol=0, atol=1e-12)
    assert torch.allclose(ke1.select(0, 0), sa)  # constant over transverse nodes (reference §8)


def test_elimination_is_differentiable() -> None:
    spectral = _fno(2, 2, 5).layers[0].spectral
    v = torch.randn(1, 2, 8, 6, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: eliminate(spectral, x, 0, True, True), (v,))


def test_masked_activation_and_hidden_values() -> None:
    """Boundary nodes bypass GELU (the original 1-D mask bug applied it); hidden Dirichlet nodes
    hold 2α (K̂ and Ŵ each carry α); neumann_half gives the hidden sum flux g instead of 2g."""
    fno = _fno(1, 3, 2)
    a = torch.randn(2, 1, 16, dtype=F64)
    alpha = (torch.tensor([0.7, -1.3], dtype=F64), torch.tensor([-2.0, 0.4], dtype=F64))
    coords = {"x": axis_coords(None, "x", 16)}
    for masked in (True, False):
        model = BOON(fno, {"x": (Dirichlet(), Dirichlet())}, mask_activation=masked)
        hidden = model._pad_values({"x": alpha})
        v = model.fno.lift(a)
        h = model.relate(model.corrected_layer(0, v), hidden, coords, activate=True)
        expect = 2 * alpha[0] if masked else F.gelu(2 * alpha[0])
        assert torch.equal(h[:, :, 0], expect[:, None].expand(2, 3))
    for half, factor in ((False, 2.0), (True, 1.0)):
        model = BOON(fno, {"x": (Neumann(2), None)}, neumann_half=half)
        g = torch.tensor([1.5, -0.5], dtype=F64)
        hidden = model._pad_values({"x": (g, None)})
        u = model.corrected_layer(0, model.fno.lift(a))
        h = model.relate(u, hidden, coords, activate=False)
        assert torch.equal(h[..., 1:], u[..., 1:])  # not activated: interior nodes untouched
        w = OneSidedStencil(2).weights(coords["x"], "lower")
        torch.testing.assert_close(
            w.apply(h, 2), factor * g[:, None].expand(2, 3), rtol=1e-12, atol=1e-10
        )


def test_values_shapes_and_errors() -> None:
    fno = _fno(2, 2, 0, pad_t=2)
    model = BOON(fno, {"x": (Dirichlet(), Dirichlet())})
    a = torch.randn(2, 1, 10, 5, dtype=F64)
    out = model(a, {"x": (1.5, torch.ones(2, 5, dtype=F64))})
    assert torch.equal(out[:, 0, 0], torch.full((2, 5), 1.5, dtype=F64))
    with pytest.raises(ValueError, match="required"):
        model(a, {"x": (1.0, None)})
    with pytest.raises(ValueError, match="wall shape"):
        model(a, {"x": (torch.ones(2, 4, dtype=F64), 0.0)})
    with pytest.raises(ValueError, match="padded"):
        BOON(_fno(2, 2, 0, pad_t=2), {"t": (Dirichlet(), None)})
    with pytest.raises(ValueError, match="last grid axis"):
        BOON(_fno(2, 2, 0), {"t": (Dirichlet(), None)})
    with pytest.raises(ValueError, match="mode"):
        BOON(fno, {"x": (Dirichlet(), None)}, mode="faithful")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no boundary conditions"):
        BOON(fno)(a, {"x": (1.0, 1.0)})


def _dense_kernel_1d(spectral, n: int) -> torch.Tensor:
    """K as an explicit (N, C_out, N, C_in) array, column by column (unit impulses)."""
    ci = spectral.in_channels
    e = torch.zeros(n * ci, ci, n, dtype=F64)
    for q in range(n):
        for i in range(ci):
            e[q * ci + i, i, q] = 1.0
    cols = spectral(e)  # (N·Ci, Co, N): column (q, i) of K
    return cols.reshape(n, ci, -1, n).permute(3, 2, 0, 1)


def _dense_eliminate_1d(spectral, x: torch.Tensor, lower: bool, upper: bool, mode: str):
    """The module docstring's elimination steps with explicit inverses, sample by sample."""
    n = x.shape[-1]
    k = _dense_kernel_1d(spectral, n)
    a_, b_, c_, d_ = k[0, :, 0], k[0, :, n - 1], k[n - 1, :, 0], k[n - 1, :, n - 1]
    eye = torch.eye(a_.shape[0], dtype=F64)
    if mode == "reference":
        sa, sb, sc, sd = (m[0].sum() for m in (a_, b_, c_, d_))
        st_ = sa - sb * sc / sd if upper else sa
        left_inv, bb, d_inv = eye / st_, sb * eye, eye / sd
    else:
        d_inv = torch.linalg.inv(d_)
        left_inv = torch.linalg.inv(a_ - b_ @ d_inv @ c_ if upper else a_)
        bb = b_

    def apply(z: torch.Tensor) -> torch.Tensor:  # (Ci, N) -> (Co, N)
        return torch.einsum("poqi,iq->op", k, z)

    out = []
    for xs in x:
        z = xs.clone()
        kx = apply(z)
        if lower:
            bracket = kx[:, 0] - (bb @ d_inv @ kx[:, n - 1] - bb @ xs[:, n - 1] if upper else 0)
            z[:, 0] = 2 * xs[:, 0] - left_inv @ bracket
        if upper:
            z[:, n - 1] = 2 * xs[:, n - 1] - d_inv @ apply(z)[:, n - 1]
        out.append(apply(z))
    return torch.stack(out)


@settings(max_examples=20)
@given(
    seed=st.integers(0, 10_000),
    hidden=st.integers(1, 5),
    n=st.integers(9, 40),
    m=st.integers(2, 4),  # m = 1: K is constant along x, its Schur complement Ã is 0
    sides=st.sampled_from([(True, True), (True, False), (False, True)]),
    mode=st.sampled_from(["channelwise", "reference"]),
    transform=st.sampled_from(["fft", "dft"]),
)
def test_1d_elimination_equals_dense_formula(seed, hidden, n, m, sides, mode, transform) -> None:
    """The folded 1-D elimination (one map for the deltas, sources added in the spectrum) equals
    the step-by-step formula on the explicit matrix K, in float64, for both transforms."""
    torch.manual_seed(seed)
    fno = FNO((m,), 1, 1, hidden, n_layers=2).to(F64)
    spectral = fno.layers[0].spectral
    spectral.transform = transform
    x = torch.randn(3, hidden, n, dtype=F64)
    got = eliminate(spectral, x, 0, sides[0], sides[1], mode=mode, eps=0.0, tol=1e-300)
    expect = _dense_eliminate_1d(spectral, x, sides[0], sides[1], mode)
    scale = expect.abs().max()
    torch.testing.assert_close(got / scale, expect / scale, rtol=0, atol=1e-10)


def test_1d_elimination_gradients_reach_input_and_weights() -> None:
    """gradcheck through the folded 1-D path, w.r.t. the input and the spectral weights (the
    prepared inverses depend on the weights)."""
    torch.manual_seed(2)
    spectral = _fno(1, 3, 5).layers[0].spectral
    v = torch.randn(2, 3, 12, dtype=F64, requires_grad=True)
    w = spectral.weight
    assert torch.autograd.gradcheck(lambda x: eliminate(spectral, x, 0, True, True), (v,))
    loss = eliminate(spectral, v.detach(), 0, True, True, eps=1e-3).square().sum()
    (grad,) = torch.autograd.grad(loss, w)
    direction = torch.randn_like(w)
    h = 1e-6
    with torch.no_grad():
        w.add_(h * direction)
        up = eliminate(spectral, v.detach(), 0, True, True, eps=1e-3).square().sum()
        w.sub_(2 * h * direction)
        down = eliminate(spectral, v.detach(), 0, True, True, eps=1e-3).square().sum()
        w.add_(h * direction)
    fd = (up - down) / (2 * h)
    torch.testing.assert_close((grad * direction).sum(), fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("activate", [True, False])
def test_fused_end_relation_gradients(activate: bool) -> None:
    """gradcheck of the fused end relation (hand-written backward), with a Neumann-like stencil
    at the lower end, a Dirichlet offset at the upper end, activated or not."""
    torch.manual_seed(4)
    u = torch.randn(2, 3, 9, dtype=F64, requires_grad=True)
    off_lo = torch.randn(2, 1, dtype=F64, requires_grad=True)
    off_up = torch.randn(2, 1, dtype=F64, requires_grad=True)

    def f(x: torch.Tensor, lo: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
        lower = ((1, 2), (1.3333, -0.3333), lo)
        upper = ((), (), up)
        return _gelu_with_ends(x, lower, upper, 2, activate)

    assert torch.autograd.gradcheck(f, (u, off_lo, off_up))


@settings(max_examples=15)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(12, 33),
    k=st.integers(-6, 3),
    kind=st.sampled_from(["dirichlet", "neumann"]),
    half=st.booleans(),
    mode=st.sampled_from(["channelwise", "reference", "none"]),
)
def test_hidden_value_scale_acts_on_hidden_layers_only(seed, n, k, kind, half, mode) -> None:
    """hidden_value_scale λ: the hidden layers see λα, the output is enforced with α. So the
    interior of BOON_λ(a, α) is the interior of BOON_1(a, λα) (λ = 2^k: bitwise), the output
    boundary holds α exactly (Dirichlet bitwise, Neumann stencil to round-off), and λ ≠ 1
    changes the prediction (the option is not a no-op)."""
    lam = math.ldexp(1.0, k)
    bcs = {"x": (Dirichlet(), Dirichlet()) if kind == "dirichlet" else (Neumann(3), Neumann(2))}
    fno = _fno(1, 3, seed)
    scaled = BOON(fno, bcs, mode=mode, neumann_half=half, hidden_value_scale=lam)
    plain = BOON(fno, bcs, mode=mode, neumann_half=half)
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(2, 1, n, generator=g, dtype=F64)
    alpha = (torch.randn(2, generator=g, dtype=F64), torch.randn(2, generator=g, dtype=F64))
    with torch.no_grad():
        out = scaled(a, {"x": alpha})
        ref = plain(a, {"x": (lam * alpha[0], lam * alpha[1])})
        out_1 = plain(a, {"x": alpha})
    cut = slice(1, -1) if kind == "dirichlet" else slice(3, -3)  # Neumann: solved end nodes
    assert torch.equal(out[..., cut], ref[..., cut])
    if kind == "dirichlet":
        assert torch.equal(out[:, 0, 0], alpha[0]) and torch.equal(out[:, 0, -1], alpha[1])
    else:
        coords = axis_coords(None, "x", n)
        for order, side, v in ((3, "lower", alpha[0]), (2, "upper", alpha[1])):
            assert _neumann_residual(out, order, side, v[:, None], coords) < 1e-12
    if lam != 1.0:
        assert not torch.allclose(out[..., cut], out_1[..., cut], rtol=1e-9, atol=1e-12)


def test_hidden_value_scale_is_validated() -> None:
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="hidden_value_scale"):
            BOON(_fno(1, 2, 0), {"x": (Dirichlet(), Dirichlet())}, hidden_value_scale=bad)


@pytest.mark.parametrize("mode", ["channelwise", "reference"])
def test_hidden_layers_use_the_non_uniform_grid(mode: str) -> None:
    """The hidden Neumann relations are built on the grid of the call: with a non-uniform grid the
    interior output changes (a mutant building hidden stencils on the uniform grid only changes the
    two output boundary nodes), and the output relation holds for the non-uniform stencil."""
    model = BOON(_fno(1, 3, 4), {"x": (Neumann(2), Neumann(3))}, mode=mode)
    n = 24
    xs = torch.linspace(0, 1, n, dtype=F64) ** 1.3
    a = torch.randn(2, 1, n, dtype=F64)
    g = (torch.tensor([0.5, -1.0], dtype=F64), torch.tensor([2.0, 1.0], dtype=F64))
    out_u = model(a, {"x": g})
    out_n = model(a, {"x": g}, grid={"x": xs})
    assert (out_u[..., 1:-1] - out_n[..., 1:-1]).abs().max() > 1e-6
    assert _neumann_residual(out_n, 2, "lower", g[0].unsqueeze(1), xs) <= 1e-12
    assert _neumann_residual(out_n, 3, "upper", g[1].unsqueeze(1), xs) <= 1e-12
