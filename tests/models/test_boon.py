"""BOON, default extension mode: exact BCs at every resolution (N = 33 … 1025), convergence on
nested grids, any operator (pcml's FNO, neuraloperator's FNO, any channels-first module), corners,
periodic grids, keyword values, non-finite input refused, a neuraloperator training loop."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from pcml.constraints.boundary import (
    CORNER_RULE,
    BoundaryConditions,
    Dirichlet,
    Neumann,
    Periodic,
    axis_coords,
    wall_values,
)
from pcml.constraints.stencils import OneSidedStencil
from pcml.models.boon import BOON
from pcml.models.boon_extension import (
    extended,
    extension_nodes,
    fft_length,
    trapezoid_extend,
    trapezoid_weights,
)
from pcml.models.fno import FNO

try:
    from neuralop.models import FNO as NeuralopFNO

    HAVE_NEURALOP = True
except ImportError:  # pragma: no cover - the [neuralop] extra is installed by `make test`
    HAVE_NEURALOP = False

F64 = torch.float64
needs_neuralop = pytest.mark.skipif(
    not HAVE_NEURALOP, reason="neuraloperator is not importable (pip install 'pcml[neuralop]')"
)
OPS = ["pcml", pytest.param("neuralop", marks=needs_neuralop)]


def _to(module: nn.Module, dtype: torch.dtype) -> nn.Module:
    """module.to(dtype), complex parameters included (neuralop's .double() keeps them cfloat)."""
    module = module.double() if dtype == F64 else module.float()  # .to(dtype) drops imag parts
    cdt = torch.complex128 if dtype == F64 else torch.complex64
    for p in module.parameters():
        if p.is_complex():
            p.data = p.data.to(cdt)
    return module


def _operator(
    kind: str, ndim: int, seed: int, dtype: torch.dtype = F64, hidden: int = 4, modes: int = 4
) -> nn.Module:
    torch.manual_seed(seed)
    n_modes = (modes,) * ndim
    if kind == "pcml":
        op: nn.Module = FNO(n_modes, 1, 1, hidden, n_layers=3, projection_channels=8)
    else:
        op = NeuralopFNO(n_modes=n_modes, in_channels=1, out_channels=1, hidden_channels=hidden)
    return _to(op, dtype)


def _neumann_residual(u: torch.Tensor, order: int, side: str, g: torch.Tensor, coords) -> float:
    """max |D u − g| / (Σ_j |w_j u_j| + |g|): the relation's error relative to its terms."""
    w = OneSidedStencil(order).weights(coords, side)  # type: ignore[arg-type]
    du = w.apply(u, 2)
    scale = sum(abs(wj) * u.select(2, n).abs() for n, wj in zip(w.nodes, w.weights, strict=True))
    return ((du - g) / (scale + g.abs())).abs().max().item()


# ------------------------------------------------------------------ exactness at every resolution
@pytest.mark.parametrize("op", OPS)
@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    batch=st.integers(1, 3),
    n=st.integers(33, 1025),
    dtype=st.sampled_from([torch.float32, F64]),
)
def test_dirichlet_bitwise_any_resolution(op, seed, batch, n, dtype) -> None:
    model = BOON(_operator(op, 1, seed, dtype), {"x": (Dirichlet(), Dirichlet())})
    assert model.enforcement == "spectral"
    a = torch.randn(batch, 1, n, dtype=dtype)
    lo, hi = torch.randn(batch, dtype=dtype), torch.randn(batch, dtype=dtype)
    out = model(a, {"x": (lo, hi)})
    assert torch.equal(out[:, 0, 0], lo) and torch.equal(out[:, 0, -1], hi)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("op", OPS)
@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    batch=st.integers(1, 3),
    n=st.integers(33, 1025),
    orders=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    dtype=st.sampled_from([torch.float32, F64]),
    uniform=st.booleans(),
)
def test_neumann_relation_any_resolution(op, seed, batch, n, orders, dtype, uniform) -> None:
    """Stencil derivative of the output = flux: ≤ 1e-5 relative (fp32), ≤ 1e-12 (fp64), on
    uniform and non-uniform grids."""
    model = BOON(_operator(op, 1, seed, dtype), {"x": (Neumann(orders[0]), Neumann(orders[1]))})
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    a = torch.randn(batch, 1, n, dtype=dtype)
    g = (torch.randn(batch, dtype=dtype), 5 * torch.ones(batch, dtype=dtype))
    grid = None
    if not uniform:
        xs = torch.linspace(0, 1, n, dtype=F64)
        grid = {"x": xs + 0.3 * xs * (1 - xs) ** 2}  # smooth, strictly increasing
    out = model(a, {"x": g}, grid=grid)
    c = axis_coords(grid, "x", n)
    assert _neumann_residual(out, orders[0], "lower", g[0].unsqueeze(1), c) <= tol
    assert _neumann_residual(out, orders[1], "upper", g[1].unsqueeze(1), c) <= tol


@pytest.mark.parametrize("op", OPS)
@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 10_000), batch=st.integers(1, 3), n=st.integers(33, 1025))
def test_periodic_ends_and_no_bcs_is_the_operator(op, seed, batch, n) -> None:
    operator = _operator(op, 1, seed)
    a = torch.randn(batch, 1, n, dtype=F64)
    closed = torch.cat([a, a[..., :1]], -1)
    c = Periodic("closed")
    out = BOON(operator, {"x": (c, c)})(closed)
    assert torch.equal(out[..., 0], out[..., -1])
    assert torch.equal(out[..., :-1], operator(a))  # the operator on the distinct nodes
    assert torch.equal(BOON(operator, {"x": (Periodic(), Periodic())})(a), operator(a))
    none = BOON(operator)
    assert none.enforcement == "none" and torch.equal(none(a), operator(a))


# ----------------------------------------------------------------------- resolution convergence
def _smooth_input(n: int, coords: bool) -> torch.Tensor:
    x = torch.linspace(0, 1, n, dtype=F64)
    a = torch.sin(2 * math.pi * x) + 0.5 * torch.cos(5 * x) + x**2 - 0.3
    return torch.stack([a, x] if coords else [a]).unsqueeze(0)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("kind", ["dirichlet", "neumann"])
def test_resolution_convergence_on_nested_grids(op: str, kind: str) -> None:
    """Relative L2 change of BOON's output on the common nodes of nested grids N = 129 … 1025:
    Dirichlet (1, −0.5) ≤ 1e-2 at 129 → 257; Neumann fluxes (0, 1), 2nd-order stencil, ≤ 5e-2 at
    129 → 257 and ≤ 1e-2 at 257 → 513; shrinking with every doubling; observed order
    log2(c₁₂₉/c₅₁₃)/2 ≥ 1.5 for pcml's FNO (measured 2.0 / 2.2; the FNO alone 1.0) and ≥ 1 for
    neuraloperator's. pcml: width 32, 16 modes, spectral weights ×32 (issue #13). neuraloperator:
    its own init (|weights| already ~6× pcml's ×32), grid coordinates passed as an input channel
    (its built-in embedding assumes open grids x_i = i/N, an O(h) inconsistency on closed grids)."""
    torch.manual_seed(0)
    coords = op == "neuralop"
    if op == "pcml":
        operator: nn.Module = _to(FNO((16,), 1, 1, 32), F64)
        with torch.no_grad():
            for layer in operator.layers:  # type: ignore[union-attr]
                layer.spectral.weight.mul_(32)
    else:
        operator = _to(
            NeuralopFNO(
                n_modes=(16,),
                in_channels=2,
                out_channels=1,
                hidden_channels=32,
                positional_embedding=None,
            ),
            F64,
        )
    bc, vals = {
        "dirichlet": (Dirichlet(), (1.0, -0.5)),
        "neumann": (Neumann(2), (0.0, 1.0)),
    }[kind]
    model = BOON(operator, {"x": (bc, bc)})
    outs = [model(_smooth_input(n, coords), {"x": vals}) for n in (129, 257, 513, 1025)]
    change = [((outs[k] - outs[k + 1][..., ::2]).norm() / outs[k].norm()).item() for k in range(3)]
    first = 1e-2 if kind == "dirichlet" else 5e-2
    assert change[0] <= first, change
    assert kind == "dirichlet" or change[1] <= 1e-2, change
    assert change[0] > change[1] > change[2], change
    order = math.log2(change[0] / change[2]) / 2
    assert order >= (1.5 if op == "pcml" else 1.0), (order, change)


@pytest.mark.parametrize(
    ("case", "scale", "hidden_lift"),
    [("1d_time", 32.0, True), ("2d_time", 4.0, True), ("2d_time", 32.0, False)],
)
def test_resolution_convergence_space_time(case: str, scale: float, hidden_lift: bool) -> None:
    """Nested spatial grids with the time axis fixed (and padded, as the article's BOON-2d/3d);
    the change shrinks with every doubling, observed order ≥ 1.
    1-D + time (x: Dirichlet (1 + t, −t/2), N = 129 … 1025, spectral weights ×32): measured
    2.1e-3, 5.2e-4, 1.3e-4. 2-D + time (x: Dirichlet/Neumann, y: Dirichlet, incompatible corner
    data, N² = 33² … 257², 8 modes): default model with weights ×4 1.3e-2, 4.8e-3, 1.5e-3 (order
    1.6; FNO alone 2.5e-4, 1.2e-4, 5.6e-5); weights ×32 without the hidden lift 5.0e-2, 1.8e-2,
    5.5e-3 (order 1.6; FNO alone 3.8e-2, 1.8e-2, 8.6e-3). Not asserted, stated: weights ×32 *with*
    the hidden lift is pre-asymptotic on these coarse grids, 1.5e-1, 1.1e-1, 5.0e-2 (order 0.8)."""
    torch.manual_seed(0)
    nt = 12 if case == "1d_time" else 6
    t = torch.linspace(0, 1, nt, dtype=F64)
    if case == "1d_time":
        fno = _to(FNO((16, 6), 1, 1, 16, padding=(0, 4)), F64)
        bcs: dict = {"x": (Dirichlet(), Dirichlet())}
        vals: dict = {"x": ((1 + t)[None], (-0.5 * t)[None])}
        ns = (129, 257, 513, 1025)
    else:
        fno = _to(FNO((8, 8, 4), 1, 1, 8, padding=(0, 0, 3)), F64)
        bcs = {"x": (Dirichlet(), Neumann(2)), "y": (Dirichlet(), Dirichlet())}
        vals = {"x": (1.0, 0.5), "y": (1.0, -1.0)}
        ns = (33, 65, 129, 257)
    with torch.no_grad():
        for layer in fno.layers:  # type: ignore[union-attr]
            layer.spectral.weight.mul_(scale)
    model = BOON(fno, bcs, hidden_lift=hidden_lift)

    def inp(n: int) -> torch.Tensor:
        x = torch.linspace(0, 1, n, dtype=F64)
        if case == "1d_time":
            a = torch.sin(2 * math.pi * x[:, None] + t) + 0.5 * torch.cos(5 * x[:, None]) * t
            return (a + x[:, None] ** 2 - 0.3)[None, None]
        xx, yy = x[:, None, None], x[None, :, None]
        return (torch.sin(2 * math.pi * xx + yy) * torch.cos(3 * yy + t) + xx * yy)[None, None]

    outs = [model(inp(n), vals) for n in ns]
    sub = (slice(None), slice(None), slice(None, None, 2))
    if case == "2d_time":
        sub = (*sub, slice(None, None, 2))
    change = [((outs[k] - outs[k + 1][sub]).norm() / outs[k].norm()).item() for k in range(3)]
    assert change[0] > change[1] > change[2], change
    assert math.log2(change[0] / change[2]) / 2 >= 1.0, change
    assert change[0] <= (1e-2 if case == "1d_time" else 0.1), change


def test_sixth_order_flux_of_the_represented_field() -> None:
    """The output is smooth up to the wall: a 6th-order estimate of its flux is within the
    enforced 2nd-order stencil's truncation error of the prescribed flux, and much closer than
    with the article's node overwrite (``mode="channelwise"``)."""
    torch.manual_seed(1)
    fno = _to(FNO((8,), 1, 1, 16, n_layers=3), F64)
    bcs = {"x": (Neumann(2), Neumann(2))}
    n = 257
    a = _smooth_input(n, False)
    flux = (torch.tensor([0.0], dtype=F64), torch.tensor([5.0], dtype=F64))
    c = axis_coords(None, "x", n)
    errs = {}
    for mode in ("extension", "channelwise"):
        out = BOON(fno, bcs, mode=mode)(a, {"x": flux})  # type: ignore[arg-type]
        errs[mode] = max(
            (OneSidedStencil(6).weights(c, side).apply(out, 2)[:, 0] - flux[s]).abs().item()
            for s, side in enumerate(("lower", "upper"))
        )
    assert errs["extension"] <= 1e-2, errs
    assert errs["extension"] <= 0.1 * errs["channelwise"], errs


# --------------------------------------------------------------------- multi-d, corners, grids
_BC = {"D": Dirichlet(), "N": Neumann(2), "P": Periodic("closed"), "O": Periodic()}


def _closed(a: torch.Tensor, dim: int) -> torch.Tensor:
    n = a.shape[dim]
    return torch.cat([a.narrow(dim, 0, n - 1), a.narrow(dim, 0, 1)], dim=dim)


@pytest.mark.parametrize("kx", ["D", "N", "P", "O"])
@pytest.mark.parametrize("ky", ["D", "N", "P", "O"])
def test_2d_plus_time_every_corner_kind(kx: str, ky: str) -> None:
    """Grid (x, y, t), walls on x and y: Dirichlet bitwise on its whole face (it wins every
    corner), a Neumann relation on every node of its face not shared with a winning face, periodic
    ends equal; CORNER_RULE is the rule exposed on the model."""
    b, nx, ny, nt = 2, 12, 11, 6
    bcs = BoundaryConditions({"x": (_BC[kx], _BC[kx]), "y": (_BC[ky], _BC[ky])})
    model = BOON(_operator("pcml", 3, 5, modes=3), bcs)
    assert model.corner_rule == CORNER_RULE and "Dirichlet wins" in CORNER_RULE
    a = torch.randn(b, 1, nx, ny, nt, dtype=F64)
    if kx == "P":
        a = _closed(a, 2)
    if ky == "P":
        a = _closed(a, 3)
    raw = {}
    if kx in "DN":
        raw["x"] = (torch.randn(b, ny, nt, dtype=F64), torch.randn(b, nt, dtype=F64))
    if ky in "DN":
        raw["y"] = (torch.randn(b, nx, nt, dtype=F64), torch.randn(b, dtype=F64))
    out = model(a, raw)
    vals = wall_values(bcs, raw, ("x", "y", "t"), out)
    kinds = {"x": kx, "y": ky}
    for ax, dim, other in (("x", 2, "y"), ("y", 3, "x")):
        k, ko = kinds[ax], kinds[other]
        beaten = ko == "D" or (k == "N" and ko == "P") or (k == ko and ax == "x")
        keep = slice(1, -1) if beaten else slice(None)
        for s in (0, 1):
            face = out.select(dim, 0 if s == 0 else -1)[:, 0]  # (B, other, t)
            if k == "D":
                exp = vals[ax][s]
                sl = keep if (ko == "D" and ax == "x") else slice(None)
                assert torch.equal(face[:, sl], exp[:, sl])
            elif k == "N":
                w = OneSidedStencil(2).weights(axis_coords(None, ax, out.shape[dim]), "lower")
                if s == 1:
                    w = OneSidedStencil(2).weights(axis_coords(None, ax, out.shape[dim]), "upper")
                err = w.apply(out, dim)[:, 0] - vals[ax][s]
                assert err[:, keep].abs().max() <= 1e-10
        if k == "P":
            assert torch.equal(out.select(dim, 0)[:, :, keep], out.select(dim, -1)[:, :, keep])


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("kind", ["D", "N", "P"])
@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_1d_plus_time_per_frame_values(op: str, kind: str, dtype: torch.dtype) -> None:
    b, n, nt = 2, 24, 8
    model = BOON(_operator(op, 2, 3, dtype, modes=3), {"x": (_BC[kind], _BC[kind])})
    a = torch.randn(b, 1, n, nt, dtype=dtype)
    lo, hi = torch.randn(b, nt, dtype=dtype), torch.randn(b, nt, dtype=dtype)
    if kind == "P":
        out = model(_closed(a, 2))
        assert torch.equal(out[:, :, 0], out[:, :, -1])
        return
    out = model(a, {"x": (lo, hi)})
    if kind == "D":
        assert torch.equal(out[:, 0, 0], lo) and torch.equal(out[:, 0, -1], hi)
    else:
        c = axis_coords(None, "x", n)
        tol = 1e-5 if dtype == torch.float32 else 1e-12
        for s, side in enumerate(("lower", "upper")):
            g = (lo, hi)[s].unsqueeze(1)
            assert _neumann_residual(out, 2, side, g, c) <= tol


def _five_smooth(m: int) -> bool:
    for p in (2, 3, 5):
        while m % p == 0:
            m //= p
    return m == 1


def test_fft_length_is_the_next_five_smooth_number() -> None:
    """fft_length(n) = the smallest 2^a 3^b 5^c >= n (against a brute-force search), and the
    extension pads to it: M >= N + max(round(f(N − 1)) − 1, 1) (walls at least f apart), M
    5-smooth (N = 512: 640, not 639 = 3²·71, a slow FFT length), M/(N − 1) − 1 <= f + 0.11 (1 + f)
    for N >= 100, and M = (1 + f)(N − 1) exactly on the nested grids 2^k + 1 with f = ¼."""
    nxt = 1
    for n in range(1, 5000):
        while not _five_smooth(nxt) or nxt < n:
            nxt += 1
        assert fft_length(n) == nxt, n
    with pytest.raises(ValueError, match="n must be >= 1"):
        fft_length(0)
    for f in (0.1, 0.25, 1.0):
        for n in range(3, 3000):
            m = n + extension_nodes(n, f)
            assert _five_smooth(m) and m >= n + max(round(f * (n - 1)) - 1, 1), (n, f)
            assert n < 100 or m / (n - 1) - 1 <= f + 0.11 * (1 + f), (n, f)
    assert 512 + extension_nodes(512, 0.25) == 640
    assert all(
        n + extension_nodes(n, 0.25) == 5 * 2 ** (k - 2) for k in range(4, 12) for n in [2**k + 1]
    )


@pytest.mark.parametrize("weights", ["uniform", "non-uniform"])
def test_extended_layer_is_the_padded_trapezoid_convolution(weights: str) -> None:
    """Inside BOON a spectral convolution is crop(K_M(pad_M(w·v))) with w the trapezoid weights
    of the call's grid — on a non-uniform grid the hidden layers use its weights (a mutant that
    ignores the grid fails here)."""
    torch.manual_seed(0)
    sc = _to(FNO((5,), 1, 1, 3).layers[0].spectral, F64)  # type: ignore[union-attr]
    n, f = 41, 0.25  # f (N − 1) an integer: the FFT path's rounded period is exact too
    xs = torch.linspace(0, 1, n, dtype=F64)
    if weights == "non-uniform":
        xs = xs**1.5
    w = trapezoid_weights(xs)
    assert (w is None) == (weights == "uniform")
    v = torch.randn(2, 3, n, dtype=F64)
    padded = trapezoid_extend(v, [2], f, [w])
    assert padded.shape[-1] == n + extension_nodes(n, f) and (padded[..., n:] == 0).all()
    expect = sc(padded)[..., :n]
    for transform in ("dft", "fft"):  # the closed-form GEMM path and the FFT path
        sc.transform = transform
        with extended([sc], [2], f, [w]):
            got = sc(v)
        torch.testing.assert_close(got, expect, rtol=1e-12, atol=1e-13)
    assert sc.extension is None  # restored


def test_closed_form_equals_generic_path_and_grid_changes_the_interior() -> None:
    """pcml's 1-D closed form (lift folded into the DFT matrices) = the generic path (FFT, then
    the lift on the field), and a non-uniform grid changes the interior output."""
    torch.manual_seed(0)
    fno = _to(FNO((4,), 1, 1, 3, n_layers=3, projection_channels=4), F64)
    fno_fft = copy.deepcopy(fno)
    for layer in fno_fft.layers:  # type: ignore[union-attr]
        layer.spectral.transform = "fft"
    n = 41  # f (N − 1) an integer: the FFT path's rounded period is exact too
    xs = torch.linspace(0, 1, n, dtype=F64) ** 1.5
    a = torch.randn(2, 1, n, dtype=F64)
    for bcs, vals in (
        ({"x": (Neumann(2), Dirichlet())}, (0.5, torch.tensor([1.0, -2.0], dtype=F64))),
        ({"x": (Dirichlet(), None)}, (torch.tensor([1.0, 3.0], dtype=F64), None)),
    ):
        m, m_fft = BOON(fno, bcs), BOON(fno_fft, bcs)
        for grid in (None, {"x": xs}):
            torch.testing.assert_close(
                m(a, {"x": vals}, grid=grid),
                m_fft(a, {"x": vals}, grid=grid),
                rtol=1e-11,
                atol=1e-12,
            )
        out_u, out_n = m(a, {"x": vals}), m(a, {"x": vals}, grid={"x": xs})
        assert (out_u[..., 1:-1] - out_n[..., 1:-1]).abs().max() > 1e-3


# ------------------------------------------------------------------------------ any operator
class _ConvNet(nn.Module):
    """A channels-first operator with no spectral convolution."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv1d(1, 6, 5, padding=2), nn.GELU(), nn.Conv1d(6, 2, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def test_enforcement_is_exposed_and_hooks_do_not_leak() -> None:
    fno = _operator("pcml", 1, 0)
    a = torch.randn(2, 1, 40, dtype=F64)
    before = fno(a)
    model = BOON(fno, {"x": (Dirichlet(), Neumann(3))})
    assert model.enforcement == "spectral" and "enforcement='spectral'" in repr(model)
    model(a, {"x": (1.0, 0.0)})
    assert torch.equal(fno(a), before)  # the wrapped operator is unchanged outside BOON
    with pytest.raises(ValueError, match="required"):
        model(a, {"x": (1.0, None)})
    assert torch.equal(fno(a), before)
    assert BOON(fno, {"x": (Dirichlet(), None)}, mode="channelwise").enforcement == "elimination"
    assert BOON(fno, {"x": (Dirichlet(), None)}, mode="none").enforcement == "output"
    conv = _ConvNet().to(F64)
    m2 = BOON(conv, {"x": (Dirichlet(), Neumann(2))})
    assert m2.enforcement == "output" and "enforcement='output'" in repr(m2)
    out = m2(a, {"x": (torch.tensor([1.0, 2.0], dtype=F64), -1.0)})
    assert out.shape == (2, 2, 40)
    assert torch.equal(out[:, :, 0], torch.tensor([[1.0, 1.0], [2.0, 2.0]], dtype=F64))
    w = OneSidedStencil(2).weights(axis_coords(None, "x", 40), "upper")
    assert (w.apply(out, 2) + 1.0).abs().max() <= 1e-12
    with pytest.raises(ValueError, match="needs pcml's FNO"):
        BOON(conv, {"x": (Dirichlet(), None)}, mode="channelwise")


@needs_neuralop
def test_neuralop_fno_from_the_issue_and_keyword_values() -> None:
    torch.manual_seed(0)
    fno = NeuralopFNO(n_modes=(16,), in_channels=1, out_channels=1, hidden_channels=32)
    model = BOON(fno, {"x": (Neumann(order=2), Neumann(order=2))})
    assert model.enforcement == "spectral" and "spectral" in repr(model)
    a = torch.randn(3, 1, 64)
    lo, hi = torch.zeros(3), torch.full((3,), 2.0)
    out = model(a, {"x": (lo, hi)})
    assert torch.equal(model(a, bc_x=(lo, hi)), out)
    assert torch.equal(model(x=a, y=torch.zeros_like(a), bc_x=(lo, hi)), out)  # Trainer-style
    with pytest.raises(ValueError, match="unexpected keyword"):
        model(a, bc_x=(lo, hi), z=1)
    with pytest.raises(ValueError, match=r"bc_x must be a \(lower, upper\) pair"):
        model(a, bc_x=torch.zeros(3, 2))
    with pytest.raises(ValueError, match="given twice"):
        model(a, {"x": (lo, hi)}, bc_x=(lo, hi))
    with pytest.raises(ValueError, match="domain_padding"):
        BOON(
            NeuralopFNO(
                n_modes=(8,), in_channels=1, out_channels=1, hidden_channels=4, domain_padding=0.25
            ),
            {"x": (Dirichlet(), None)},
        )


@needs_neuralop
def test_wrapped_neuralop_fno_trains_with_lploss_and_h1loss() -> None:
    from neuralop.losses import H1Loss, LpLoss

    torch.manual_seed(0)
    fno = NeuralopFNO(n_modes=(8,), in_channels=1, out_channels=1, hidden_channels=8)
    model = BOON(fno, {"x": (Dirichlet(), Dirichlet())})
    x = torch.linspace(0, 1, 48)
    a = torch.randn(8, 1, 1) * torch.sin(math.pi * x)
    y = a * (1 - x) + x  # boundary values 0 and 1
    sample = {"x": a, "y": y, "bc_x": (torch.zeros(8), torch.ones(8))}
    loss_fn, h1 = LpLoss(d=1, p=2), H1Loss(d=1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(6):
        opt.zero_grad()
        out = model(**sample)
        loss = loss_fn(out, y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    assert torch.isfinite(h1(model(**sample), y))
    out = model(**sample)
    assert torch.equal(out[:, 0, 0], torch.zeros(8)) and torch.equal(out[:, 0, -1], torch.ones(8))


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_input_values_grids_and_options_are_refused(bad: float) -> None:
    fno = _operator("pcml", 1, 0)
    model = BOON(fno, {"x": (Dirichlet(), Neumann(1))})
    a = torch.randn(1, 1, 20, dtype=F64)
    with pytest.raises(ValueError, match=r"bc_values\['x'\]\[0\]"):
        model(a, {"x": (bad, 0.0)})
    with pytest.raises(ValueError, match=r"bc_values\['x'\]\[1\]"):
        model(a, {"x": (0.0, torch.tensor([bad], dtype=F64))})
    xs = torch.linspace(0, 1, 20, dtype=F64)
    xs[4] = bad
    with pytest.raises(ValueError, match=r"grid\['x'\]"):
        model(a, {"x": (0.0, 0.0)}, grid={"x": xs})
    a_bad = a.clone()
    a_bad[0, 0, 3] = bad
    with pytest.raises(ValueError, match="input a"):
        model(a_bad, {"x": (0.0, 0.0)})
    for name in ("eps", "reference_tol", "hidden_value_scale", "padding_fraction"):
        with pytest.raises(ValueError, match=name):
            BOON(fno, {"x": (Dirichlet(), None)}, **{name: bad})
    with pytest.raises(ValueError, match="mode"):
        BOON(fno, {"x": (Dirichlet(), None)}, mode="faithful")  # type: ignore[arg-type]


@pytest.mark.parametrize("ndim", [2, 3])
def test_nd_closed_form_equals_padded_fft_and_field_lift(ndim: int) -> None:
    """pcml's n-D closed form (bounded axes by complex GEMMs with the weights, padding, crop and
    the hidden lift folded in) equals rfftn/irfftn on the padded grid followed by the lift."""
    from pcml.models.boon_extension import _PcmlExtended
    from pcml.models.boon_lift import lift_operator, smooth_lift

    torch.manual_seed(2)
    modes = (3, 3) if ndim == 2 else (3, 2, 3)
    sc = _to(FNO(modes, 1, 1, 3).layers[0].spectral, F64)  # type: ignore[union-attr]
    grid = (21, 9) if ndim == 2 else (13, 17, 8)  # f (N − 1) integers on the bounded axes
    names = ("x", "t") if ndim == 2 else ("x", "y", "t")
    sides = {"x": (Dirichlet(), Neumann(2))}
    if ndim == 3:
        sides["y"] = (Neumann(1), Dirichlet())
    bcs = BoundaryConditions(sides)
    coords = {n: axis_coords(None, n, grid[i]) for i, n in enumerate(names)}
    coords["x"] = coords["x"] ** 1.2  # non-uniform along x
    v = torch.randn(2, 3, *grid, dtype=F64)
    vals = wall_values(bcs, {a: (1.5, torch.randn(2, dtype=F64)) for a in sides}, names, v)

    def lift(u: torch.Tensor) -> torch.Tensor:
        return smooth_lift(u, bcs, vals, coords, names, data_only=(Neumann,))

    dims = [2 + i for i, n in enumerate(names) if n in sides]
    weights = [trapezoid_weights(coords[n]) for n in names if n in sides]
    ops = {
        2 + i: lift_operator(*sides[n], coords[n], (Neumann,))[:3]
        for i, n in enumerate(names)
        if n in sides
    }
    ext = _PcmlExtended(dims, 0.25, weights, lift, ops)
    torch.testing.assert_close(ext(sc, v), ext._generic(sc, v), rtol=1e-11, atol=1e-12)


@needs_neuralop
def test_neuralop_2d_plus_time_dirichlet_wins_the_corners() -> None:
    """neuraloperator's 3-D FNO over (x, y, t): x Neumann, y Dirichlet — Dirichlet bitwise on its
    whole faces, the x relation on every other node of the x faces."""
    b, nx, ny, nt = 2, 12, 10, 6
    model = BOON(
        _operator("neuralop", 3, 4, modes=3),
        {"x": (Neumann(2), Neumann(2)), "y": (Dirichlet(), Dirichlet())},
    )
    assert model.enforcement == "spectral"
    gx = (torch.randn(b, ny, nt, dtype=F64), torch.randn(b, 1, nt, dtype=F64))
    gy = (torch.randn(b, nx, nt, dtype=F64), torch.randn(b, dtype=F64))
    out = model(torch.randn(b, 1, nx, ny, nt, dtype=F64), {"x": gx, "y": gy})
    assert torch.equal(out[:, 0, :, 0], gy[0])
    assert torch.equal(out[:, 0, :, -1], gy[1][:, None, None].expand(b, nx, nt))
    c = axis_coords(None, "x", nx)
    for s, side in enumerate(("lower", "upper")):
        err = OneSidedStencil(2).weights(c, side).apply(out, 2)[:, 0] - gx[s]
        assert err[:, 1:-1].abs().max() <= 1e-10
        assert err[:, [0, -1]].abs().max() > 1e-6  # the corner rows are given to Dirichlet


def test_exact_period_on_grids_where_the_padding_is_not_an_integer() -> None:
    """On nested grids with f (N − 1) not an integer (the experiments' 128 → 255 → 509) the closed
    form keeps the period 1 + f exactly: the change per doubling (measured 8.0e-4, 2.0e-4) is as
    small as on the 2^k + 1 grids and shrinks at second order. The FFT path pads to the 5-smooth
    lengths 160, 320, 640, whose period M h = 160/127 = 320/254 = 640/508 is the same on this
    ladder, so it converges as well (7.9e-4, 2.0e-4); rounding M to the nearest integer instead
    (159, 318, 636: the period moves by up to h/2) gave 8.0e-4, 5.7e-4."""
    torch.manual_seed(0)
    fno = _to(FNO((16,), 1, 1, 32), F64)
    with torch.no_grad():
        for layer in fno.layers:  # type: ignore[union-attr]
            layer.spectral.weight.mul_(32)
    fno_fft = copy.deepcopy(fno)
    for layer in fno_fft.layers:  # type: ignore[union-attr]
        layer.spectral.transform = "fft"
    bcs = {"x": (Dirichlet(), Dirichlet())}
    ns = (128, 255, 509)

    def changes(model: BOON) -> list[float]:
        outs = [model(_smooth_input(n, False), {"x": (1.0, -0.5)}) for n in ns]
        return [((outs[k] - outs[k + 1][..., ::2]).norm() / outs[k].norm()).item() for k in (0, 1)]

    exact, rounded = changes(BOON(fno, bcs)), changes(BOON(fno_fft, bcs))
    assert exact[0] <= 2e-3 and exact[1] <= 0.35 * exact[0], exact
    assert rounded[0] <= 2e-3 and rounded[1] <= 0.35 * rounded[0], rounded


# ------------------------------------------------------------------------------ local lift (#13)
@pytest.mark.parametrize("pair", ["DD", "NN", "DN", "ND", "D-", "-N"])
def test_local_lift_functions(pair: str) -> None:
    """Each local lift function (width δ) is supported within δ of its own wall; at that wall a
    Dirichlet function has value 1 and slope 0, a Neumann function value 0 and slope 1 (in ξ)."""
    from pcml.models.boon_lift import lift_basis

    delta, n = 0.2, 2001
    xs = torch.linspace(0, 1, n, dtype=F64)
    make = {"D": Dirichlet(), "N": Neumann(2), "-": None}
    psi = lift_basis(make[pair[0]], make[pair[1]], xs, delta)
    sides = [(s, k) for s, k in enumerate(pair) if k != "-"]
    assert psi.shape == (len(sides), n)
    h = 1.0 / (n - 1)
    for row, (side, kind) in zip(psi, sides, strict=True):
        dist = xs if side == 0 else 1 - xs
        inside = (dist > 0) & (dist < delta - 2 * h)
        assert (row[dist >= delta] == 0).all() and (row[inside] != 0).all()
        end = 0 if side == 0 else n - 1
        inner = 1 if side == 0 else n - 2
        slope = (row[inner] - row[end]) / (xs[inner] - xs[end])
        if kind == "D":
            assert row[end] == 1 and abs(slope) <= 1e-3  # φ(t) = 1 − 10t³ + …
        else:
            assert row[end] == 0 and abs(slope - 1) <= 1e-3


@pytest.mark.parametrize("width", [0.2, 0.35, None])
def test_local_lift_corrects_only_near_the_walls(width: float | None) -> None:
    """BOON around any module: the output differs from the module's output only within δ of a
    wall (the global lift, width None, changes every node), and the BCs hold exactly."""
    torch.manual_seed(0)
    op = _to(nn.Conv1d(1, 1, 1), F64)
    n = 129
    xs = torch.linspace(0, 1, n, dtype=F64)
    a = torch.randn(3, 1, n, dtype=F64)
    bcs = {"x": (Dirichlet(), Neumann(3))}
    model = BOON(op, bcs, lift_width=width)
    assert model.enforcement == "output"
    lo, hi = torch.randn(3, dtype=F64), torch.randn(3, dtype=F64)
    out = model(a, {"x": (lo, hi)})
    changed = (out - op(a)).abs()[:, 0] > 0
    assert (out[:, 0, 0] == lo).all()
    assert _neumann_residual(out, 3, "upper", hi.unsqueeze(1), xs) <= 1e-12
    if width is None:
        assert changed.all()
    else:
        near = (xs < width) | (xs > 1 - width)
        # the Neumann function vanishes at its wall: the nodes just inside change
        assert not changed[:, ~near].any() and changed[:, :3].all() and changed[:, -4:-1].all()


@pytest.mark.parametrize("width", [0.0, -0.1, 1.5, math.nan, math.inf, "0.2"])
def test_lift_width_is_validated(width: object) -> None:
    with pytest.raises(ValueError, match="lift_width"):
        BOON(FNO((4,), 1, 1, 4), {"x": (Dirichlet(), Dirichlet())}, lift_width=width)  # type: ignore[arg-type]


def test_unresolved_local_lift_is_refused() -> None:
    """δ = 0.1 on 9 nodes (h = 0.125 > δ): the Neumann functional of its lift function is 0 — a
    clear error, never a silent inf/NaN."""
    model = BOON(nn.Conv1d(1, 1, 1), {"x": (Neumann(1), Neumann(1))}, lift_width=0.1)
    with pytest.raises(ValueError, match="not resolved on a grid of 9 nodes"):
        model(torch.randn(2, 1, 9), {"x": (0.0, 1.0)})


@pytest.mark.parametrize("order", [0, 7, 2.0, True, "6"])
def test_flux_order_is_validated(order: object) -> None:
    with pytest.raises(ValueError, match="flux_order"):
        BOON(FNO((4,), 1, 1, 4), {"x": (Neumann(3), Neumann(3))}, flux_order=order)  # type: ignore[arg-type]


def test_lift_reads_the_flux_with_a_grid_consistent_stencil() -> None:
    """Neumann(3) fluxes (0, 1), width 32, 16 modes, spectral weights ×32, nested 129 → 257: the
    output lift reading the raw flux with the 6th-order stencil (default ``flux_order=6``) changes
    the output by 8.0e-5 (measured); reading it with the side's own 3rd-order stencil — whose
    truncation error on the operator's top modes moves with h — by 4.2e-4. Both keep the
    3rd-order relation exact (the wall node absorbs the O(h^4) difference)."""
    xs = [torch.linspace(0, 1, n, dtype=F64) for n in (129, 257)]
    change = {}
    for flux_order in (6, None):
        torch.manual_seed(0)
        op = _to(FNO((16,), 1, 1, 32), F64)
        with torch.no_grad():
            for layer in op.layers:  # type: ignore[union-attr]
                layer.spectral.weight.mul_(32)
        model = BOON(op, {"x": (Neumann(3), Neumann(3))}, flux_order=flux_order)
        outs = [model(_smooth_input(x.numel(), False), {"x": (0.0, 1.0)}) for x in xs]
        for out, x in zip(outs, xs, strict=True):
            for side, g in (("lower", 0.0), ("upper", 1.0)):
                assert _neumann_residual(out, 3, side, torch.tensor([[g]], dtype=F64), x) <= 1e-12
        change[flux_order] = ((outs[0] - outs[1][..., ::2]).norm() / outs[0].norm()).item()
    assert change[6] <= 2e-4 < change[None], change


@needs_neuralop
def test_checkpoint_of_a_wrapped_neuraloperator_fno_loads_weights_only() -> None:
    """neuraloperator's ``state_dict`` adds its constructor arguments (functions included) under a
    top-level ``_metadata`` key; BOON's state dict keeps tensors only, so its checkpoint loads with
    ``torch.load(weights_only=True)`` into a fresh BOON (strict) and predicts bitwise the same."""
    import io

    def make(seed: int) -> BOON:
        torch.manual_seed(seed)
        fno = NeuralopFNO(n_modes=(8,), in_channels=1, out_channels=1, hidden_channels=8)
        return BOON(fno, {"x": (Dirichlet(), Neumann(order=2))})

    model, fresh = make(0), make(1)
    state = model.state_dict()
    assert "_metadata" not in state and all(isinstance(v, torch.Tensor) for v in state.values())
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    fresh.load_state_dict(torch.load(buf, weights_only=True))
    x, bc = torch.randn(3, 1, 33), {"x": (torch.zeros(3), torch.ones(3))}
    assert torch.equal(fresh(x, bc), model(x, bc))
    # the wrapped operator's own state dict is neuraloperator's, unchanged
    assert "_metadata" in model.operator.state_dict()
