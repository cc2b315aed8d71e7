"""Metrics, configs and model construction of the BOON experiments (pcml.experiments.boon*)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pcml.constraints.boundary import BoundaryConditions, Dirichlet, Neumann, Periodic
from pcml.experiments.boon.config import default_config, make_config
from pcml.experiments.boon.metrics import (
    boundary_conditions,
    boundary_residuals,
    field_metrics,
    rel_l2_per_sample,
)
from pcml.experiments.boon.models import build_model
from pcml.experiments.config import to_toml
from pcml.models.boon import BOON
from pcml.models.fno import FNO


@given(
    b=st.integers(1, 4),
    n=st.integers(3, 17),
    t=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_rel_l2_matches_dense_formula(b: int, n: int, t: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.normal(size=(b, 1, n, t))
    p = rng.normal(size=(b, 1, n, t))
    got = rel_l2_per_sample(torch.from_numpy(p), torch.from_numpy(y)).numpy()
    want = [np.sqrt(((p[i] - y[i]) ** 2).sum()) / np.sqrt((y[i] ** 2).sum()) for i in range(b)]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_rel_l2_rejects_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="differ"):
        rel_l2_per_sample(torch.zeros(2, 1, 5), torch.zeros(2, 1, 6))


def test_boundary_conditions_from_kinds() -> None:
    bcs = boundary_conditions({"x_lower": "neumann", "x_upper": "neumann"}, (1, 3))
    assert bcs.sides["x"] == (Neumann(1), Neumann(3))
    bcs = boundary_conditions({"x_lower": "periodic", "x_upper": "periodic"})
    assert bcs.sides["x"] == (Periodic("closed"), Periodic("closed"))
    with pytest.raises(ValueError, match="robin"):
        boundary_conditions({"x_lower": "robin"})
    with pytest.raises(ValueError, match="_lower"):
        boundary_conditions({"x": "dirichlet"})


@pytest.mark.parametrize("n", [17, 33, 65])
@pytest.mark.parametrize("order", [1, 2, 3])
def test_neumann_residual_exact_for_polynomials_on_any_grid(n: int, order: int) -> None:
    """A stencil of order p is exact for degree-p polynomials, and its spacing follows the grid
    (the original froze h at the training resolution)."""
    x = torch.linspace(0.0, 1.0, n, dtype=torch.float64)
    c = torch.tensor([0.3, -1.2, 0.7, 2.0][: order + 1], dtype=torch.float64)
    u = sum(ci * x**i for i, ci in enumerate(c))
    du = sum(i * ci * x ** max(i - 1, 0) for i, ci in enumerate(c) if i > 0)
    u = u.reshape(1, 1, n).expand(2, 1, n)
    bcs = BoundaryConditions({"x": (Neumann(order), Neumann(order))})
    vals = {"x_lower": du[0].expand(2), "x_upper": du[-1].expand(2)}
    res = boundary_residuals(u, bcs, vals, ("x",))
    assert set(res) == {"x_lower", "x_upper"}
    for r in res.values():
        assert float(r.abs().max()) < 1e-9
    wrong = {"x_lower": du[0].expand(2) + 1.0, "x_upper": du[-1].expand(2)}
    assert torch.allclose(
        boundary_residuals(u, bcs, wrong, ("x",))["x_lower"], torch.full((2, 1), -1.0).double()
    )


def test_dirichlet_and_periodic_residuals_and_summary() -> None:
    g = torch.Generator().manual_seed(0)
    u = torch.randn(3, 1, 9, 4, generator=g, dtype=torch.float64)  # grid (x, t)
    lo, up = torch.randn(3, 4, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)
    bcs = BoundaryConditions({"x": (Dirichlet(), Dirichlet())})
    res = boundary_residuals(u, bcs, {"x_lower": lo, "x_upper": up}, ("x", "t"))
    torch.testing.assert_close(res["x_lower"], u[:, :, 0] - lo[:, None])
    torch.testing.assert_close(res["x_upper"], u[:, :, -1] - up[:, None])
    m = field_metrics(u, u + 1.0, bcs, {"x_lower": lo, "x_upper": up}, ("x", "t"), 2)
    want = torch.cat([res["x_lower"].abs().flatten(), res["x_upper"].abs().flatten()])
    assert math.isclose(m["boundary_error"], float(want.mean()), rel_tol=1e-12)
    assert math.isclose(m["boundary_error_max"], float(want.max()), rel_tol=1e-12)
    near = torch.cat([u[:, :, :2], u[:, :, -2:]], dim=2) + 1.0
    want_near = (1.0 / near.flatten(1).norm(dim=1)) * math.sqrt(16)
    assert math.isclose(m["rel_l2_near_boundary"], float(want_near.mean()), rel_tol=1e-12)
    per = BoundaryConditions({"x": (Periodic(), Periodic())})
    res = boundary_residuals(u, per, {}, ("x", "t"))
    torch.testing.assert_close(res["x_periodic"], u[:, :, 0] - u[:, :, -1])


def test_config_toml_round_trip_and_overrides(tmp_path) -> None:
    cfg = make_config(
        "stokes-dirichlet", "quick", True, None, ["train.epochs=7", "model.n_modes=[6, 5]"]
    )
    assert cfg.train.epochs == 7 and cfg.model.n_modes == (6, 5) and cfg.multi_step
    assert cfg.train.lr == 1e-3 and cfg.train.weight_decay == 1e-4 and cfg.train.scheduler == "step"
    path = tmp_path / "c.toml"
    path.write_text(to_toml(cfg))
    assert make_config("stokes-dirichlet", "quick", True, path) == cfg
    with pytest.raises(ValueError, match="nope"):
        make_config("stokes-dirichlet", "quick", True, None, ["train.nope=1"])
    with pytest.raises(ValueError, match="case"):
        make_config("heat-neumann", "quick", True, path)
    with pytest.raises(ValueError, match="n_modes"):
        make_config("heat-neumann", "quick", False, None, ["model.n_modes=[4, 4]"])
    with pytest.raises(ValueError, match="padding"):
        make_config("heat-neumann", "smoke", True, None, ["model.padding=[2, 3]"])


def test_paper_profile_matches_the_article() -> None:
    single = default_config("heat-neumann", "paper")
    assert (single.data.n_train, single.data.n_test, single.data.n_x) == (500, 100, 500)
    assert single.model.n_modes == (16,) and single.model.hidden_channels == 64
    assert single.model.padding == (0,)
    assert (single.train.epochs, single.train.batch_size, single.train.step_size) == (500, 20, 50)
    multi = default_config("burgers-periodic", "paper", True)
    assert (multi.data.n_train, multi.data.n_test, multi.data.n_x) == (1000, 200, 129)
    assert multi.model.n_modes == (12, 12) and multi.model.hidden_channels == 32
    assert multi.model.padding == (0, 9) and multi.train.step_size == 100
    assert default_config("heat-neumann", "paper", True).data.n_x == 1024


@pytest.mark.parametrize("multi", [False, True])
def test_models_share_architecture_init_and_padding(multi: bool) -> None:
    """FNO, BOON and BOON-reference start from identical weights with identical padding and
    parameter counts (the original padded the FNO2d baseline differently, §14.12)."""
    cfg = make_config(
        "heat-neumann",
        "smoke",
        multi,
        None,
        ['models=["fno", "boon", "boon_reference", "boon_none"]'],
    )
    bcs = BoundaryConditions({"x": (Neumann(3), Neumann(3))})
    frames = 4 if multi else None
    models = {k: build_model(cfg, k, bcs, (1, 1), frames) for k in cfg.models}
    ref = models["fno"].state_dict()
    for key, m in models.items():
        sd = m.state_dict()
        inner = m.net.fno if isinstance(m.net, BOON) else m.net
        assert isinstance(inner, FNO) and inner.padding == cfg.model.padding
        assert sd.keys() == ref.keys() or {k.replace("net.fno.", "net.") for k in sd} == set(ref)
        flat = {k.replace("net.fno.", "net."): v for k, v in sd.items()}
        for k, v in ref.items():
            assert torch.equal(flat[k], v), (key, k)
    assert isinstance(models["boon"].net, BOON) and models["boon"].net.mode == "channelwise"
    assert models["boon_reference"].net.mode == "reference"  # type: ignore[union-attr]
    assert models["boon_none"].net.mode == "none"  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="models"):
        make_config("heat-neumann", "smoke", multi, None, ['models=["fno", "unet"]'])


def test_surrogate_feeds_boundary_values_only_to_boon() -> None:
    cfg = default_config("stokes-dirichlet", "smoke", True)
    bcs = BoundaryConditions({"x": (Dirichlet(), Dirichlet())})
    fno = build_model(cfg, "fno", bcs, (1, 1), 5)
    boon = build_model(cfg, "boon", bcs, (1, 1), 5)
    x = torch.randn(2, 1, 33)
    bc = {"x_lower": torch.randn(2, 5), "x_upper": torch.randn(2, 5)}
    with torch.no_grad():
        y_fno, y_fno_no_bc = fno(x, bc), fno(x)
        y = boon(x, bc)
    assert y.shape == (2, 1, 33, 5)
    torch.testing.assert_close(y_fno, y_fno_no_bc, rtol=0, atol=0)
    assert torch.equal(y[:, 0, 0], bc["x_lower"]) and torch.equal(y[:, 0, -1], bc["x_upper"])


@pytest.mark.parametrize("kind", ["dirichlet", "neumann", "periodic"])
def test_agrees_with_pcml_metrics_fields(kind: str) -> None:
    """The experiment's metrics equal the library's field metrics (pcml.metrics.fields)."""
    from pcml.metrics.fields import boundary_error, near_boundary_relative_l2, relative_l2

    g = torch.Generator().manual_seed(1)
    pred = torch.randn(4, 1, 21, 3, generator=g, dtype=torch.float64)
    true = torch.randn(4, 1, 21, 3, generator=g, dtype=torch.float64)
    bcs = boundary_conditions({"x_lower": kind, "x_upper": kind}, (2, 3))
    vals = (
        {}
        if kind == "periodic"
        else {
            "x_lower": torch.randn(4, 3, generator=g).double(),
            "x_upper": torch.randn(4, 3, generator=g).double(),
        }
    )
    m = field_metrics(pred, true, bcs, vals, ("x", "t"), 4)
    assert math.isclose(m["rel_l2"], float(relative_l2(pred, true, eps=0.0)), rel_tol=1e-12)
    near = near_boundary_relative_l2(pred, true, axis=0, width=4, eps=0.0)
    assert math.isclose(m["rel_l2_near_boundary"], float(near), rel_tol=1e-12)
    lib_vals = None if kind == "periodic" else {"x": (vals["x_lower"], vals["x_upper"])}
    lib = boundary_error(pred, bcs, lib_vals, axis_names=("x", "t"), reference_order=6)
    if kind == "periodic":
        assert math.isclose(m["boundary_error"], float(lib["x.periodic"].mean()), rel_tol=1e-12)
        return
    measure = "dirichlet" if kind == "dirichlet" else "neumann_stencil"
    for side in ("lower", "upper"):
        want = float(lib[f"x.{side}.{measure}"].mean())
        assert math.isclose(m[f"boundary_error_x_{side}"], want, rel_tol=1e-12)
        if kind == "neumann":
            hi = float(lib[f"x.{side}.neumann_reference"].mean())
            assert math.isclose(m[f"boundary_error_hi_order_x_{side}"], hi, rel_tol=1e-12)


@settings(max_examples=12)
@given(k=st.integers(-12, 4), seed=st.integers(0, 2**16))
def test_output_scale_is_exact_and_keeps_the_boundary_conditions(k: int, seed: int) -> None:
    """With output scale s = 2^k the FNO predicts s·net(x); BOON receives α/s and returns s·u,
    so Dirichlet values stay bitwise α and the Neumann stencil relation holds to round-off."""
    s = math.ldexp(1.0, k)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 1, 33, generator=g, dtype=torch.float64)
    cfg = default_config("stokes-dirichlet", "smoke")
    bcs_d = BoundaryConditions({"x": (Dirichlet(), Dirichlet())})
    fno1, fno_s = (build_model(cfg, "fno", bcs_d, (1, 1), None, c).double() for c in (1.0, s))
    bc = {f"x_{side}": torch.randn(2, generator=g).double() for side in ("lower", "upper")}
    with torch.no_grad():
        assert torch.equal(fno_s(x), s * fno1(x))
        y = build_model(cfg, "boon", bcs_d, (1, 1), None, s).double()(x, bc)
    assert torch.equal(y[:, 0, 0], bc["x_lower"]) and torch.equal(y[:, 0, -1], bc["x_upper"])
    bcs_n = BoundaryConditions({"x": (Neumann(3), Neumann(3))})
    with torch.no_grad():
        yn = build_model(cfg, "boon", bcs_n, (1, 1), None, s).double()(x, bc)
    res = boundary_residuals(yn, bcs_n, bc, ("x",))
    assert set(res) == {"x_lower", "x_upper"}
    assert max(float(r.abs().max()) for r in res.values()) <= 1e-9 * max(1.0, 1 / s)


@given(log_rms=st.floats(-20, 10), seed=st.integers(0, 2**16))
def test_target_scale_is_the_nearest_power_of_two(log_rms: float, seed: int) -> None:
    from pcml.experiments.boon.models import target_scale

    y = torch.randn(5, 1, 17, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    y = y / y.pow(2).mean().sqrt() * 2.0**log_rms
    s = target_scale(y)
    assert math.frexp(s)[0] == 0.5  # a power of two
    assert abs(math.log2(s) - log_rms) <= 0.5 + 1e-9


def test_output_scale_must_be_a_power_of_two() -> None:
    from pcml.experiments.boon.models import BoundarySurrogate, target_scale

    fno = FNO((4,), 1, 1, 8, 2)
    for bad in (0.0, -2.0, 0.3, float("inf")):
        with pytest.raises(ValueError, match="scale"):
            BoundarySurrogate(fno, None, bad)
    with pytest.raises(ValueError, match="rms"):
        target_scale(torch.zeros(3, 1, 8))


@settings(max_examples=10)
@given(k=st.integers(-8, 3), seed=st.integers(0, 2**16), kind=st.sampled_from(["d", "n"]))
def test_physical_hidden_values_make_the_target_scale_a_reparametrisation(
    k: int, seed: int, kind: str
) -> None:
    """boon.hidden_values = "physical": the model with target scale s and output layer divided by
    s predicts exactly what the unscaled model predicts (as for the FNO), because the hidden
    layers get s·(α/s) = α. With "output" they get α/s, and the prediction differs."""
    s = math.ldexp(1.0, k)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 1, 33, generator=g, dtype=torch.float64)
    bc = {f"x_{side}": torch.randn(2, generator=g).double() for side in ("lower", "upper")}
    bcs = BoundaryConditions(
        {"x": (Dirichlet(), Dirichlet()) if kind == "d" else (Neumann(3), Neumann(3))}
    )
    base = default_config("stokes-dirichlet", "smoke")
    preds = {}
    for hidden in ("physical", "output"):
        cfg = make_config("stokes-dirichlet", "smoke", overrides=[f"boon.hidden_values={hidden}"])
        assert cfg.boon.hidden_values == hidden and base.boon.hidden_values == "output"
        m1 = build_model(cfg, "boon", bcs, (1, 1), None, 1.0).double()
        ms = build_model(cfg, "boon", bcs, (1, 1), None, s).double()
        ms.load_state_dict(m1.state_dict())
        with torch.no_grad():
            out = ms.net.fno.projection_out
            out.weight.div_(s), out.bias.div_(s)
            preds[hidden] = (m1(x, bc), ms(x, bc))
    p1, ps = preds["physical"]
    torch.testing.assert_close(ps, p1, rtol=1e-12, atol=1e-12)
    if kind == "d":
        assert torch.equal(ps[:, 0, 0], bc["x_lower"]) and torch.equal(ps[:, 0, -1], bc["x_upper"])
    if s != 1.0:
        o1, os_ = preds["output"]
        assert not torch.allclose(os_, o1, rtol=1e-6, atol=1e-9)


def test_hidden_values_setting_is_validated() -> None:
    with pytest.raises(ValueError, match="hidden_values"):
        make_config("heat-neumann", "smoke", overrides=["boon.hidden_values=scaled"])
