"""2-D BOON cases: data adapters, wall data, lift, curl, the BCs of the surrogate, metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pcml.constraints.boundary import Neumann
from pcml.constraints.stencils import OneSidedStencil
from pcml.experiments.boon.cases2d import (
    EPS_2D,
    INCREMENT_POWER,
    INCREMENT_SCALING_2D,
    MODELS_2D,
    RESIDUAL_2D,
)
from pcml.experiments.boon.config import default_config
from pcml.experiments.boon.data2d import (
    FACES,
    build_splits,
    curl,
    lift_from_walls,
    to_tensors,
    wall_data,
)
from pcml.experiments.boon.metrics import boundary_conditions, metrics_2d, paired_per_frame
from pcml.experiments.boon.models import build_model_2d as _model
from pcml.experiments.boon.models import frame_loss as _frame_loss
from pcml.experiments.boon.models import rel_l2_loss as _loss


@pytest.fixture(scope="module")
def cavity_splits() -> dict:
    return build_splits("cavity", 3, 2, 9, seed=5)


@settings(max_examples=15)
@given(c=st.lists(st.floats(-3, 3), min_size=10, max_size=10), n=st.integers(3, 12))
def test_curl_exact_for_quadratics(c: list[float], n: int) -> None:
    """Second-order one-sided/central differences are exact for quadratic fields, so the discrete
    curl equals the analytic ω = ∂v/∂x − ∂u/∂y at every node, walls included."""
    s = torch.linspace(0, 1, n + 1, dtype=torch.float64)
    x, y = torch.meshgrid(s, s, indexing="ij")
    u = c[0] + c[1] * x + c[2] * y + c[3] * x * y + c[4] * y**2
    v = c[5] + c[6] * x + c[7] * y + c[8] * x**2 + c[9] * x * y
    omega = (c[6] + 2 * c[8] * x + c[9] * y) - (c[2] + c[3] * x + 2 * c[4] * y)
    got = curl(u[None, ..., None], v[None, ..., None], 1.0 / n)[0, ..., 0]
    torch.testing.assert_close(got, omega, atol=1e-10, rtol=1e-10)


def test_curl_matches_numpy_gradient() -> None:
    g = np.random.default_rng(0)
    u, v = g.standard_normal((2, 2, 7, 9, 3))
    ref = np.gradient(v, 0.25, axis=1, edge_order=2) - np.gradient(u, 0.25, axis=2, edge_order=2)
    got = curl(torch.from_numpy(u), torch.from_numpy(v), 0.25).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="h must be > 0"):
        curl(torch.from_numpy(u), torch.from_numpy(v), 0.0)


@settings(max_examples=20)
@given(nx=st.integers(3, 8), ny=st.integers(3, 8), seed=st.integers(0, 999))
def test_lift_holds_wall_values_and_zero_inside(nx: int, ny: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    full = torch.randn(2, 3, nx, ny, generator=g)
    walls = {
        "x_lower": full[:, :, 0, :, None],
        "x_upper": full[:, :, -1, :, None],
        "y_lower": full[:, :, :, 0, None],
        "y_upper": full[:, :, :, -1, None],
    }
    lift = lift_from_walls(walls)
    inside = torch.zeros_like(full, dtype=torch.bool)
    inside[:, :, 1:-1, 1:-1] = True
    assert torch.equal(lift[~inside], full[~inside])
    assert torch.all(lift[inside] == 0)
    bad = dict(walls, x_lower=walls["x_lower"] + 1.0)
    with pytest.raises(ValueError, match="corner"):
        lift_from_walls(bad)


def test_cavity_wall_data_are_the_physical_bcs(cavity_splits: dict) -> None:
    """u on the walls = lid speed on y = 1 (corners included), 0 elsewhere; v = 0 everywhere —
    rebuilt from the lid speeds, and equal to the walls of every stored frame (exact no-slip)."""
    data = cavity_splits["train"]
    walls = wall_data(data, "cavity")
    lid = torch.from_numpy(data.params["lid_speed"]).float()
    assert torch.equal(walls["y_upper"][:, 0, :, 0], lid[:, None].expand(-1, 9))
    assert torch.all(walls["y_upper"][:, 1] == 0) and torch.all(walls["y_lower"] == 0)
    assert torch.equal(walls["x_lower"][:, 0, -1, 0], lid) and torch.all(
        walls["x_upper"][:, 1] == 0
    )
    t = to_tensors(data, "cavity")
    y, lift = t["y"], t["lift"]
    assert (
        y.shape == (3, 2, 9, 9, 25) and t["x"].shape == (3, 2, 9, 9) and lift.shape == (3, 2, 9, 9)
    )
    wall = torch.ones(9, 9, dtype=torch.bool)
    wall[1:-1, 1:-1] = False
    for k in range(25):
        assert torch.equal(y[..., k][:, :, wall], lift[:, :, wall])
    assert torch.equal(t["x"][:, 0, :, -1], lid[:, None].expand(-1, 9))  # the input shows U
    np.testing.assert_array_equal(y[:, 0, :, :, -1].numpy(), data.fields["u"][:, -1])


def test_cavity_2x_test_set_is_the_same_flow(cavity_splits: dict) -> None:
    """test_2x is simulated on the same grid as test (refine 1 vs 2), so test = test_2x at the
    even nodes exactly."""
    a = to_tensors(cavity_splits["test"], "cavity")
    b = to_tensors(cavity_splits["test_2x"], "cavity")
    assert b["y"].shape[2:4] == (17, 17)
    assert torch.equal(a["y"], b["y"][:, :, ::2, ::2])
    assert torch.equal(a["x"], b["x"][:, :, ::2, ::2])


def test_wave_splits_nested_and_neumann_walls() -> None:
    s = build_splits("wave2d", 2, 2, 9, seed=1)
    a, b = to_tensors(s["test"], "wave2d"), to_tensors(s["test_2x"], "wave2d")
    torch.testing.assert_close(a["y"], b["y"][:, :, ::2, ::2], atol=1e-6, rtol=0)
    assert "lift" not in a
    walls = wall_data(s["test"], "wave2d")
    assert set(walls) == set(FACES) and all(torch.all(w == 0) for w in walls.values())
    # train and test are independent draws
    assert not torch.equal(to_tensors(s["train"], "wave2d")["x"], a["x"])


def _cfg(case: str):
    return default_config(case, "smoke", True)


@pytest.mark.parametrize("key", ["fno", "boon", "boon_reference"])
def test_surrogate_cavity_walls_exact(key: str) -> None:
    """Random weights and inputs: BOON's output equals the lift on every wall node and frame
    (bitwise); the FNO's does not, and the FNO output does not depend on the lift."""
    cfg = _cfg("cavity")
    bcs = boundary_conditions(dict.fromkeys(FACES, "dirichlet"))
    model = _model(cfg, key, bcs, 2).double()
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 2, 9, 9, generator=g, dtype=torch.float64)
    lift = torch.zeros(2, 2, 9, 9, dtype=torch.float64)
    lift[:, 0, :, -1] = torch.tensor([0.7, 1.3], dtype=torch.float64)[:, None]
    out = model(x, lift)
    assert out.shape == (2, 2, 9, 9, 25)
    wall = torch.ones(9, 9, dtype=torch.bool)
    wall[1:-1, 1:-1] = False
    err = (out - lift[..., None])[:, :, wall]
    if key == "fno":
        assert err.abs().max() > 1e-3
        assert torch.equal(model(x, 5 * lift), out)
    else:
        assert torch.all(err == 0)
        with pytest.raises(ValueError, match="needs lift"):
            model(x)


def test_surrogate_wave_neumann_stencil_exact() -> None:
    cfg = _cfg("wave2d")
    bcs = boundary_conditions(dict.fromkeys(FACES, "neumann"), cfg.boon.neumann_orders)
    assert bcs.sides["x"] == (Neumann(3), Neumann(3))
    model = _model(cfg, "boon", bcs, 1).double()
    x = torch.randn(3, 1, 9, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    out = model(x)
    coords = torch.linspace(0, 1, 9, dtype=torch.float64)
    for dim, side in ((2, "lower"), (2, "upper"), (3, "lower"), (3, "upper")):
        w = OneSidedStencil(3).weights(coords, side)  # type: ignore[arg-type]
        assert w.apply(out, dim).abs().max() < 1e-11, (dim, side)


@pytest.mark.parametrize("case", ["cavity", "wave2d"])
@pytest.mark.parametrize("key", ["fno", "boon"])
def test_residual_in_time_adds_the_base(case: str, key: str) -> None:
    """residual=True adds, to every frame, the input (FNO) or the input with the model's own
    homogeneous BCs imposed (BOON: cavity walls := lift, interior untouched; wave walls solved
    from the 3rd-order stencil with zero flux, interior untouched), on top of the same network
    output as residual=False (same weights)."""
    cfg = _cfg(case)
    kind = "dirichlet" if case == "cavity" else "neumann"
    bcs = boundary_conditions(dict.fromkeys(FACES, kind), cfg.boon.neumann_orders)
    c = 2 if case == "cavity" else 1
    plain = _model(cfg, key, bcs, c, residual=False).double()
    res = _model(cfg, key, bcs, c, residual=True, time_power=0).double()
    assert RESIDUAL_2D and _model(cfg, key, bcs, c).residual
    res.load_state_dict(plain.state_dict())
    g = torch.Generator().manual_seed(7)
    x = torch.randn(2, c, 9, 9, generator=g, dtype=torch.float64)
    lift = torch.zeros(2, c, 9, 9, dtype=torch.float64)
    if case == "cavity":
        lift[:, 0, :, -1] = torch.tensor([0.7, 1.3], dtype=torch.float64)[:, None]
        x[:, :, 0], x[:, :, -1], x[:, :, :, 0], x[:, :, :, -1] = (
            lift[:, :, 0], lift[:, :, -1], lift[:, :, :, 0], lift[:, :, :, -1],
        )  # fmt: skip
    diff = res(x, lift) - plain(x, lift)  # (B, C, 9, 9, 25): the base (minus the lift for BOON)
    base = diff[..., :1] + (lift[..., None] if key == "boon" and case == "cavity" else 0)
    torch.testing.assert_close(diff, diff[..., :1].expand_as(diff), rtol=0, atol=1e-12)
    base = base[..., 0]
    if key == "fno" or case == "cavity":  # the cavity input already holds the wall data
        torch.testing.assert_close(base, x, rtol=0, atol=1e-12)
        return
    torch.testing.assert_close(base[:, :, 1:-1, 1:-1], x[:, :, 1:-1, 1:-1], rtol=0, atol=1e-12)
    coords = torch.linspace(0, 1, 9, dtype=torch.float64)
    for dim, side in ((2, "lower"), (2, "upper"), (3, "lower"), (3, "upper")):
        w = OneSidedStencil(3).weights(coords, side)  # type: ignore[arg-type]
        assert w.apply(base, dim).abs().max() < 1e-11, (dim, side)
    # x faces first, then y faces: the x-face interior nodes come from the x stencil alone
    c3 = torch.tensor([-11.0, 18.0, -9.0, 2.0], dtype=torch.float64)  # 3rd-order forward, ×6h
    x0 = -(c3[1:, None] * x[0, 0, 1:4, 1:-1]).sum(0) / c3[0]
    torch.testing.assert_close(base[0, 0, 0, 1:-1], x0, rtol=0, atol=1e-12)


def _cavity_input(c: int) -> tuple[torch.Tensor, torch.Tensor]:
    """x (2, c, 9, 9) random inside, lid u = 0.7 / 1.3 on the top wall, 0 on the other walls."""
    x = torch.randn(2, c, 9, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    lift = torch.zeros(2, c, 9, 9, dtype=torch.float64)
    lift[:, 0, :, -1] = torch.tensor([0.7, 1.3], dtype=torch.float64)[:, None]
    x[:, :, 0], x[:, :, -1], x[:, :, :, 0], x[:, :, :, -1] = (
        lift[:, :, 0], lift[:, :, -1], lift[:, :, :, 0], lift[:, :, :, -1],
    )  # fmt: skip
    return x, lift


@pytest.mark.parametrize("case", ["cavity", "wave2d"])
@pytest.mark.parametrize("scaling", ["linear", "quadratic"])
@pytest.mark.parametrize("key", MODELS_2D)
def test_increment_scaling(case: str, scaling: str, key: str) -> None:
    """u(t_k) = base + τ_k^p N(a)_k for every model alike: the increment of the unscaled model
    times τ^p (p = 1 linear, 2 quadratic; τ_k = k/25), exactly the base (u₀ for the FNO) at
    τ = 0, and BOON's walls still exact (cavity Dirichlet: wall values = lift bitwise; wave
    Neumann: 3rd-order one-sided stencil ≈ 0 to round-off) at every τ."""
    cfg = _cfg(case)
    kind = "dirichlet" if case == "cavity" else "neumann"
    bcs = boundary_conditions(dict.fromkeys(FACES, kind), cfg.boon.neumann_orders)
    assert INCREMENT_SCALING_2D["cavity"] == "none"  # the cavity is bitwise unchanged
    want = INCREMENT_POWER[INCREMENT_SCALING_2D[case]]
    assert _model(cfg, key, bcs, 1).time_power == want
    c = 2 if case == "cavity" else 1
    p = INCREMENT_POWER[scaling]
    m0 = _model(cfg, key, bcs, c, residual=True, time_power=0).double()
    mp = _model(cfg, key, bcs, c, residual=True, time_power=p).double()
    mp.load_state_dict(m0.state_dict())
    x, lift = _cavity_input(c)
    if case == "wave2d":
        lift = torch.zeros_like(x)
    lifted = key != "fno" and case == "cavity"
    base = m0._base(x, lift if lifted else None)
    assert base is not None
    if key == "fno":
        assert torch.equal(base, x)
    tau = torch.arange(1, 26, dtype=torch.float64) / 25
    inc0 = m0(x, lift) - base[..., None]
    torch.testing.assert_close(mp(x, lift) - base[..., None], inc0 * tau**p, rtol=1e-12, atol=1e-12)
    assert inc0.abs().amax(dim=(0, 1, 2, 3)).min() > 1e-3  # the network's increment is not zero
    # τ = 0 (the input time) is the base exactly; τ = 1 the unscaled model
    tau0 = torch.linspace(0, 1, 25, dtype=torch.float64)
    out0 = mp(x, lift, tau=tau0)
    assert torch.equal(out0[..., 0], base)
    torch.testing.assert_close(out0[..., -1], m0(x, lift)[..., -1], rtol=1e-12, atol=1e-12)
    if key == "fno":
        return
    for out in (mp(x, lift), out0):
        if case == "cavity":  # Dirichlet walls hold the lift bitwise
            for got, wall in (
                (out[:, :, 0], lift[:, :, 0]), (out[:, :, -1], lift[:, :, -1]),
                (out[:, :, :, 0], lift[:, :, :, 0]), (out[:, :, :, -1], lift[:, :, :, -1]),
            ):  # fmt: skip
                assert torch.equal(got, wall[..., None].expand_as(got))
        else:
            coords = torch.linspace(0, 1, 9, dtype=torch.float64)
            for dim, side in ((2, "lower"), (2, "upper"), (3, "lower"), (3, "upper")):
                w = OneSidedStencil(3).weights(coords, side)  # type: ignore[arg-type]
                assert w.apply(out, dim).abs().max() < 1e-11, (dim, side)


def test_increment_scaling_bad_input() -> None:
    cfg = _cfg("wave2d")
    bcs = boundary_conditions(dict.fromkeys(FACES, "neumann"), cfg.boon.neumann_orders)
    with pytest.raises(ValueError, match="time_power"):
        _model(cfg, "fno", bcs, 1, residual=False, time_power=2)
    m = _model(cfg, "fno", bcs, 1, residual=True, time_power=1)
    with pytest.raises(ValueError, match="tau must have shape"):
        m(torch.zeros(1, 1, 9, 9), tau=torch.zeros(3))


def test_frame_loss_is_the_mean_per_frame_relative_l2() -> None:
    """_frame_loss = mean over samples and frames of ||pred_k - y_k|| / ||y_k|| (explicit loop);
    _loss = mean over samples of the whole-trajectory ratio."""

    class Fixed(torch.nn.Module):
        def __init__(self, out: torch.Tensor) -> None:
            super().__init__()
            self.out = out

        def forward(self, x: torch.Tensor, lift: torch.Tensor | None = None) -> torch.Tensor:
            return self.out

    g = torch.Generator().manual_seed(2)
    y = torch.randn(3, 2, 5, 5, 4, generator=g, dtype=torch.float64)
    pred = y + torch.randn(y.shape, generator=g, dtype=torch.float64) * torch.arange(1.0, 5.0)
    batch = {"x": y[..., 0], "y": y}
    p, t = pred.numpy(), y.numpy()
    per = [np.linalg.norm(p[i, ..., k] - t[i, ..., k]) / np.linalg.norm(t[i, ..., k])
           for i in range(3) for k in range(4)]  # fmt: skip
    assert float(_frame_loss(Fixed(pred), batch)) == pytest.approx(np.mean(per), rel=1e-12)
    whole = [np.linalg.norm(p[i] - t[i]) / np.linalg.norm(t[i]) for i in range(3)]
    assert float(_loss(Fixed(pred), batch)) == pytest.approx(np.mean(whole), rel=1e-12)


def test_metrics_2d_against_loops() -> None:
    """Per-frame and overall relative L2 vs explicit loops; Dirichlet wall error of a known
    perturbation; vorticity of the truth scores 0."""
    g = torch.Generator().manual_seed(1)
    true = torch.randn(4, 2, 7, 7, 25, generator=g, dtype=torch.float64)
    pred = true + 0.1 * torch.randn(true.shape, generator=g, dtype=torch.float64)
    walls = {
        "x_lower": true[:, :, 0, :, :1],
        "x_upper": true[:, :, -1, :, :1],
        "y_lower": true[:, :, :, 0, :1],
        "y_upper": true[:, :, :, -1, :1],
    }
    true = true.clone()
    for k in range(25):  # make the truth satisfy time-constant wall data
        true[:, :, 0, :, k], true[:, :, -1, :, k] = (
            walls["x_lower"][..., 0],
            walls["x_upper"][..., 0],
        )
        true[:, :, :, 0, k], true[:, :, :, -1, k] = (
            walls["y_lower"][..., 0],
            walls["y_upper"][..., 0],
        )
    bcs = boundary_conditions(dict.fromkeys(FACES, "dirichlet"))
    m = metrics_2d(pred, true, bcs, walls, 1, "cavity")
    p, t = pred.numpy(), true.numpy()
    per = [
        np.mean(
            [
                np.linalg.norm(p[i, ..., k] - t[i, ..., k]) / np.linalg.norm(t[i, ..., k])
                for i in range(4)
            ]
        )
        for k in range(25)
    ]
    np.testing.assert_allclose(m["rel_l2_per_frame"], per, rtol=1e-12)
    overall = np.mean([np.linalg.norm(p[i] - t[i]) / np.linalg.norm(t[i]) for i in range(4)])
    assert m["rel_l2"] == pytest.approx(overall, rel=1e-12)
    err = np.abs(p[:, :, 0] - t[:, :, 0]).mean()
    assert m["boundary_error_x_lower"] == pytest.approx(err, rel=1e-12)
    exact = metrics_2d(true, true, bcs, walls, 1, "cavity")
    assert exact["boundary_error_max"] == 0 and exact["vorticity_rel_l2"] == 0
    assert len(exact["vorticity_rel_l2_per_frame"]) == 25


def test_profiles() -> None:
    p = default_config("cavity", "paper", True)
    assert p.model.n_modes == (8, 8, 8) and p.model.hidden_channels == 20
    assert p.model.padding == (0, 0, 6) and p.data.n_x == 50
    assert p.boon.eps == EPS_2D
    assert (p.data.n_train, p.data.n_test) == (1000, 200)
    t = p.train
    assert (t.batch_size, t.epochs, t.step_size, t.gamma, t.lr, t.weight_decay) == (
        10, 500, 100, 0.5, 1e-3, 1e-4,
    )  # fmt: skip
    for prof in ("smoke", "quick", "paper"):
        for case in ("cavity", "wave2d"):
            c = default_config(case, prof, True)
            assert c.multi_step and c.model.padding[:2] == (0, 0)
    q = default_config("wave2d", "quick", True)
    assert (q.train.epochs, q.train.step_size, q.models) == (30, 10, MODELS_2D)
    assert "boon_none" in MODELS_2D and "boon" in MODELS_2D and MODELS_2D[0] == "fno"
    with pytest.raises(ValueError, match="profile"):
        default_config("cavity", "huge", True)


@pytest.mark.parametrize("case", ["cavity", "wave2d"])
def test_profile_eps_bounds_block_amplification(case: str) -> None:
    """The 2-D profiles' Tikhonov ε bounds the amplification of every regularised block inverse
    of the quick-profile BOON at initialisation: σ/(σ² + λ) ≤ 1/(2√λ) with √λ = ε‖M‖_F ≥ ε‖M‖₂,
    so ‖M‖₂‖M⁺_ε‖₂ ≤ 1/(2ε) (= 5 at ε = 0.1). The blocks themselves are ill-conditioned (cond
    ≫ 1/(2ε)), which is what stalled training with ε = 1e-7 (boon2d module docstring)."""
    from pcml.models.boon_correction import boundary_blocks

    cfg = default_config(case, "quick", True)
    eps = cfg.boon.eps
    kind = "dirichlet" if case == "cavity" else "neumann"
    bcs = boundary_conditions(dict.fromkeys(FACES, kind))
    net = _model(cfg, "boon", bcs, 2 if case == "cavity" else 1).inner.net
    n = cfg.data.n_x
    grid = (n, n, 25 + cfg.model.padding[-1])
    prepared = net.prepare(grid)
    assert prepared is not None and net._elim is not None
    ax = net._elim[0]
    worst_cond = 0.0
    for i, el in enumerate(prepared):
        sp = net._layer(i).spectral
        d = boundary_blocks(sp, grid, ax).d[..., : sp.n_modes[-1], :, :].to(torch.complex128)
        sd = torch.linalg.svdvals(d.detach())
        assert el.d_inv is not None
        amp = sd[..., 0] * torch.linalg.matrix_norm(el.d_inv.detach(), 2)
        assert float(amp.max()) <= 1 / (2 * eps) * (1 + 1e-9)
        live = sd[..., 0] > 1e-10 * sd[..., 0].max()
        worst_cond = max(worst_cond, float((sd[..., 0] / sd[..., -1])[live].max()))
    assert worst_cond > 1 / (2 * eps)


@settings(max_examples=10, deadline=None)
@given(b=st.integers(1, 5), c=st.integers(1, 2), t=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_paired_per_frame_against_loops(b: int, c: int, t: int, seed: int) -> None:
    """Paired per-frame difference = per-sample, per-frame loops in float64 numpy: the mean equals
    the difference of the per-frame metrics, SE = sample std (ddof 1)/√n, frac_le counts d ≤ 0."""
    g = torch.Generator().manual_seed(seed)
    true, pred, base = (torch.randn(b, c, 3, 4, t, generator=g, dtype=torch.float64) for _ in "abc")
    out = paired_per_frame(pred, base, true)
    yt, yp, yb = true.numpy(), pred.numpy(), base.numpy()
    for k in range(t):
        d = np.array(
            [
                np.linalg.norm(yp[i, ..., k] - yt[i, ..., k]) / np.linalg.norm(yt[i, ..., k])
                - np.linalg.norm(yb[i, ..., k] - yt[i, ..., k]) / np.linalg.norm(yt[i, ..., k])
                for i in range(b)
            ]
        )
        assert out["mean"][k] == pytest.approx(d.mean(), rel=1e-12, abs=1e-14)
        se = d.std(ddof=1) / np.sqrt(b) if b > 1 else 0.0
        assert out["se"][k] == pytest.approx(se, rel=1e-10, abs=1e-14)
        assert out["frac_le"][k] == pytest.approx(float((d <= 0).mean()))
    assert paired_per_frame(base, base, true)["mean"] == [0.0] * t
    with pytest.raises(ValueError, match="paired_per_frame"):
        paired_per_frame(pred[:, :, :2], base, true)
