"""BC specs and their exact enforcement: validation, value shapes, bitwise Dirichlet, Neumann
relation, periodic equality, corners, masks, autograd."""

from __future__ import annotations

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pcml.constraints.boundary import (
    BoundaryConditions,
    Dirichlet,
    Neumann,
    Periodic,
    apply_boundary_conditions,
    axis_coords,
    check_closed_periodic,
    interior_mask,
    wall_values,
)
from pcml.constraints.stencils import OneSidedStencil

F64 = torch.float64


def test_spec_validation() -> None:
    with pytest.raises(ValueError, match="both sides"):
        BoundaryConditions({"x": (Periodic(), Dirichlet())})
    with pytest.raises(ValueError, match="expected Dirichlet"):
        BoundaryConditions({"x": ("dirichlet", None)})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="tuple"):
        BoundaryConditions({"x": [Dirichlet(), None]})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="order"):
        Neumann(0)
    bcs = BoundaryConditions({"x": (Dirichlet(), Neumann(2)), "y": (None, None)})
    assert list(bcs.sides) == ["x"] and bcs and not BoundaryConditions({})
    assert bcs.needs_value("x") == (True, True)
    with pytest.raises(ValueError, match="not grid axes"):
        bcs.axes(("y", "t"))
    assert Neumann(3).stencil == OneSidedStencil(3)


def test_value_shapes() -> None:
    bcs = BoundaryConditions({"x": (Dirichlet(), Dirichlet())})
    u = torch.zeros(2, 1, 5, 4, 3)  # grid (x, y, t): x wall shape (4, 3)
    names = ("x", "y", "t")
    for value in (1.0, torch.ones(2), torch.ones(2, 3), torch.ones(2, 4, 3), torch.ones(1, 4, 1)):
        vals = wall_values(bcs, {"x": (value, value)}, names, u)
        assert vals["x"][0] is not None and vals["x"][0].shape == (2, 4, 3)
    per_frame = torch.arange(6.0).reshape(2, 3)
    lo = wall_values(bcs, {"x": (per_frame, 0.0)}, names, u)["x"][0]
    assert lo is not None and torch.equal(lo[:, 2], per_frame)
    with pytest.raises(ValueError, match="wall shape"):
        wall_values(bcs, {"x": (torch.ones(2, 4), 0.0)}, names, u)
    with pytest.raises(ValueError, match="batch"):
        wall_values(bcs, {"x": (torch.ones(3), 0.0)}, names, u)
    with pytest.raises(ValueError, match="required"):
        wall_values(bcs, {"x": (None, 0.0)}, names, u)
    with pytest.raises(ValueError, match="no boundary condition"):
        wall_values(bcs, {"y": (0.0, 0.0)}, names, u)
    with pytest.raises(ValueError, match="coordinates"):
        axis_coords({"x": torch.linspace(0, 1, 4)}, "x", 5)


@settings(max_examples=25)
@given(
    lo=st.sampled_from(["d", "n1", "n3", None]),
    up=st.sampled_from(["d", "n2", None]),
    n=st.integers(6, 20),
    frames=st.integers(1, 4),
    dtype=st.sampled_from([torch.float32, F64]),
    seed=st.integers(0, 999),
)
def test_enforcement_1d_and_space_time(lo, up, n, frames, dtype, seed) -> None:
    assume(lo is not None or up is not None)
    torch.manual_seed(seed)
    spec = {"d": Dirichlet(), "n1": Neumann(1), "n2": Neumann(2), "n3": Neumann(3), None: None}
    bcs = BoundaryConditions({"x": (spec[lo], spec[up])})
    u = torch.randn(3, 2, n, frames, dtype=dtype, requires_grad=True)
    names = ("x", "t")
    raw = {"x": (torch.randn(3, frames, dtype=dtype), torch.randn(3, 1, dtype=dtype))}
    vals = wall_values(bcs, raw, names, u)
    coords = {"x": torch.sort(torch.rand(n, dtype=F64)).values}
    out = apply_boundary_conditions(u, bcs, vals, coords, names)
    out.sum().backward()  # functional construction: autograd works
    assert torch.equal(out[:, :, 1:-1], u[:, :, 1:-1])
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    for s, (bc, side, node) in enumerate(((spec[lo], "lower", 0), (spec[up], "upper", n - 1))):
        v = vals["x"][s]
        if bc is None:
            assert torch.equal(out[:, :, node], u[:, :, node])
        elif isinstance(bc, Dirichlet):
            assert v is not None and torch.equal(
                out[:, :, node], v.unsqueeze(1).expand(3, 2, frames)
            )
        else:
            assert v is not None
            w = bc.stencil.weights(coords["x"], side)
            terms = sum(
                abs(wj) * out[:, :, j].abs() for j, wj in zip(w.nodes, w.weights, strict=True)
            )
            rel = (w.apply(out, 2) - v.unsqueeze(1)).abs() / (terms + v.unsqueeze(1).abs())
            assert rel.max() <= tol


_KINDS = {"D": Dirichlet(), "N": Neumann(2), "P": Periodic("closed")}


@pytest.mark.parametrize("kx", ["D", "N", "P"])
@pytest.mark.parametrize("ky", ["D", "N", "P"])
def test_corner_rule_every_corner_kind(kx: str, ky: str) -> None:
    """CORNER_RULE: Dirichlet wins (bitwise on its whole face), periodic beats Neumann, the later
    axis wins between equal kinds; a Neumann relation holds on every other node of its face."""
    nx, ny = 9, 8
    bcs = BoundaryConditions({"x": (_KINDS[kx],) * 2, "y": (_KINDS[ky],) * 2})
    g = torch.Generator().manual_seed(3)
    u = torch.randn(2, 3, nx, ny, generator=g, dtype=F64)
    raw = {
        a: (torch.randn(2, m, generator=g, dtype=F64), torch.randn(2, m, generator=g, dtype=F64))
        for a, k, m in (("x", kx, ny), ("y", ky, nx))
        if k != "P"
    }
    vals = wall_values(bcs, raw, ("x", "y"), u)
    coords = {"x": axis_coords(None, "x", nx), "y": axis_coords(None, "y", ny)}
    out = apply_boundary_conditions(u, bcs, vals, coords, ("x", "y"))
    kinds = {"x": kx, "y": ky}
    for a, dim, other in (("x", 2, "y"), ("y", 3, "x")):
        k, ko = kinds[a], kinds[other]
        # nodes of this face that are not shared with a face that beats it
        beaten = ko == "D" or (k == "N" and ko == "P") or (k == ko and a == "x")
        keep = slice(1, -1) if beaten else slice(None)
        for s in (0, 1):
            face = out.select(dim, 0 if s == 0 else -1)
            if k == "D":
                expect = vals[a][s].unsqueeze(1).expand_as(face)
                if ko == "D" and a == "x":  # equal kinds: the later axis (y) wins the corners
                    assert torch.equal(face[..., keep], expect[..., keep])
                else:
                    assert torch.equal(face, expect)
            elif k == "N":
                w = OneSidedStencil(2).weights(coords[a], ("lower", "upper")[s])
                err = w.apply(out, dim) - vals[a][s].unsqueeze(1)
                assert err[..., keep].abs().max() <= 1e-10
                if beaten:  # the corner really is given away
                    assert err.abs().max() > 1e-6
        if k == "P":
            lo, up = out.select(dim, 0), out.select(dim, -1)
            assert torch.equal(lo[..., keep], up[..., keep])


def test_open_periodic_needs_nothing_and_closed_inputs_are_checked() -> None:
    u = torch.randn(2, 1, 6, dtype=F64)
    bcs = BoundaryConditions({"x": (Periodic(), Periodic())})
    assert torch.equal(apply_boundary_conditions(u, bcs, {}, {}, ("x",)), u)
    closed = BoundaryConditions({"x": (Periodic("closed"), Periodic("closed"))})
    with pytest.raises(ValueError, match="last node must repeat the first"):
        check_closed_periodic(u, closed, ("x",))
    check_closed_periodic(torch.cat([u, u[..., :1]], -1), closed, ("x",))
    with pytest.raises(ValueError, match="grid must be 'open' or 'closed'"):
        Periodic("half")
    with pytest.raises(ValueError, match="same grid"):
        BoundaryConditions({"x": (Periodic(), Periodic("closed"))})


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_values_and_grids_are_refused(bad: float) -> None:
    u = torch.randn(2, 1, 6, dtype=F64)
    bcs = BoundaryConditions({"x": (Dirichlet(), Neumann(1))})
    with pytest.raises(ValueError, match=r"bc_values\['x'\]\[0\].*NaN or inf"):
        wall_values(bcs, {"x": (bad, 0.0)}, ("x",), u)
    with pytest.raises(ValueError, match=r"bc_values\['x'\]\[1\].*NaN or inf"):
        wall_values(bcs, {"x": (0.0, torch.tensor([0.0, bad]))}, ("x",), u)
    xs = torch.linspace(0, 1, 6, dtype=F64)
    xs[3] = bad
    with pytest.raises(ValueError, match=r"grid\['x'\].*NaN or inf"):
        axis_coords({"x": xs}, "x", 6)
    with pytest.raises(ValueError, match="strictly increasing"):
        axis_coords({"x": torch.tensor([0.0, 0.5, 0.4, 1.0])}, "x", 4)


def test_interior_mask() -> None:
    c = Periodic("closed")
    bcs = BoundaryConditions({"x": (Dirichlet(), None), "y": (c, c)})
    assert interior_mask(
        BoundaryConditions({"y": (Periodic(), Periodic())}), ("x", "y"), (4, 5)
    ).all()  # open periodic grids have no boundary node
    m = interior_mask(bcs, ("x", "y"), (4, 5))
    expect = torch.ones(4, 5, dtype=torch.bool)
    expect[0, :] = False
    expect[:, 0] = False
    expect[:, -1] = False
    assert torch.equal(m, expect)
    only_d = interior_mask(bcs, ("x", "y"), (4, 5), kinds=(Dirichlet,))
    assert only_d.sum() == 15


def test_error_messages_name_the_argument_verbatim() -> None:
    """Each refusal names the argument, its value or shape and what was expected, exactly."""
    from pcml.constraints.boundary import check_finite

    with pytest.raises(ValueError, match=r"^alpha must be a finite number, got 'abc'$"):
        check_finite("abc", "alpha")
    with pytest.raises(ValueError, match=r"^alpha must be a finite number, got inf$"):
        check_finite(float("inf"), "alpha")
    check_finite(2, "alpha")
    with pytest.raises(
        ValueError,
        match=r"^BoundaryConditions: sides\['x'\] = \(Periodic\(grid='open'\), "
        r"Periodic\(grid='closed'\)\); both Periodic sides must use the same grid "
        r"\('open' or 'closed'\)$",
    ):
        BoundaryConditions({"x": (Periodic(), Periodic("closed"))})
    bcs = BoundaryConditions({"x": (Dirichlet(), Dirichlet())})
    u = torch.zeros(2, 1, 9, dtype=F64)  # 1-D grid: the wall shape is ()
    with pytest.raises(
        ValueError,
        match=r"^bc_values\['x'\]\[0\] \(lower\) has shape \(2, 3\); expected \(B, \*s\) with s "
        r"broadcastable to the wall shape \(\)$",
    ):
        wall_values(bcs, {"x": (torch.zeros(2, 3), 0.0)}, ("x",), u)
    v2 = {"x": (torch.zeros(2, dtype=F64), torch.zeros(2, dtype=F64))}
    with pytest.raises(ValueError, match=r"^boundary conditions: axis at dim 2 has 2 < 3 nodes$"):
        apply_boundary_conditions(torch.zeros(2, 1, 2, dtype=F64), bcs, v2, {}, ("x",))
    closed = BoundaryConditions({"x": (Periodic("closed"), Periodic("closed"))})
    with pytest.raises(
        ValueError,
        match=r"^input on the closed periodic axis 'x': the last node must repeat the first "
        r"\(Periodic\(grid='closed'\)\), but they differ by up to 0\.5; pass "
        r"Periodic\(grid='open'\) for grids x_i = i/N$",
    ):
        check_closed_periodic(torch.tensor([[[1.0, 0.0, 0.5]]]), closed, ("x",))
    with pytest.raises(
        ValueError,
        match=r"^closed periodic axis 'x' needs >= 3 nodes \(the last repeats the first\), got 2$",
    ):
        check_closed_periodic(torch.zeros(1, 1, 2), closed, ("x",))
    with pytest.raises(
        ValueError,
        match=r"^grid\['x'\] must be strictly increasing, got "
        r"\[9\.0, 8\.0, 7\.0, 6\.0, 5\.0, 4\.0, 3\.0, 2\.0\] …$",
    ):
        axis_coords({"x": torch.arange(9.0, -1.0, -1.0)}, "x", 10)


def test_grid_checks_hold_at_their_documented_limits() -> None:
    """axis_coords: strictly increasing also for n = 2 (repeats refused), any single node
    accepted. check_closed_periodic: 3 nodes suffice; the ends may differ by up to (≤)
    rtol·max(max|a|, 1). A 3-node axis (the smallest allowed) is enforced exactly."""
    for bad in ([1.0, 0.0], [0.5, 0.5], [0.0, 0.5, 0.5, 1.0]):
        with pytest.raises(ValueError, match=r"^grid\['x'\] must be strictly increasing"):
            axis_coords({"x": torch.tensor(bad)}, "x", len(bad))
    assert axis_coords({"x": torch.tensor([0.3], dtype=F64)}, "x", 1).tolist() == [0.3]
    closed = BoundaryConditions({"x": (Periodic("closed"), Periodic("closed"))})

    def ok(a: list[float], rtol: float = 1e-5) -> bool:
        try:
            check_closed_periodic(torch.tensor([[a]], dtype=F64), closed, ("x",), rtol)
        except ValueError:
            return False
        return True

    assert ok([1.0, 2.0, 1.0])  # three nodes, ends equal
    assert ok([0.25, 0.1, 0.0], rtol=0.25)  # gap = rtol·1 exactly: accepted
    assert not ok([0.3, 0.1, 0.0], rtol=0.25)  # small field: the scale is 1, not max|a|
    assert ok([1000.0, 3.0, 1000.005])  # large field: gap 5e-3 ≤ 1e-5·1000.005
    assert not ok([1000.0, 3.0, 1000.02])
    # 3 nodes: Dirichlet at x = 0, Neumann (order 1) at x = 1 on the grid (0, 0.25, 1)
    bcs = BoundaryConditions({"x": (Dirichlet(), Neumann(1))})
    u = torch.tensor([[[5.0, 2.0, 7.0]], [[1.0, -1.0, 0.0]]], dtype=F64)
    vals = {"x": (torch.tensor([0.5, -0.5], dtype=F64), torch.tensor([2.0, 4.0], dtype=F64))}
    coords = {"x": torch.tensor([0.0, 0.25, 1.0], dtype=F64)}
    out = apply_boundary_conditions(u, bcs, vals, coords, ("x",))
    assert out[:, 0, 0].tolist() == [0.5, -0.5] and torch.equal(out[:, :, 1], u[:, :, 1])
    torch.testing.assert_close((out[:, 0, 2] - out[:, 0, 1]) / 0.75, vals["x"][1])


def test_values_are_cast_to_the_field_dtype() -> None:
    """float64 values on a float32 field: the result stays float32, Dirichlet nodes hold the
    float32-rounded value bitwise and the Neumann relation holds to float32 round-off."""
    bcs = BoundaryConditions({"x": (Dirichlet(), Neumann(2))})
    u = torch.randn(2, 3, 7, generator=torch.Generator().manual_seed(0))
    lo = torch.tensor([0.1, 1 / 3], dtype=F64)
    g = torch.tensor([2.0 / 3.0, -1.1], dtype=F64)
    coords = {"x": torch.linspace(0, 1, 7, dtype=F64)}
    out = apply_boundary_conditions(u, bcs, {"x": (lo, g)}, coords, ("x",))
    assert out.dtype == torch.float32
    assert torch.equal(out[..., 0], lo.to(torch.float32)[:, None].expand(2, 3))
    w = OneSidedStencil(2).weights(coords["x"], "upper")
    torch.testing.assert_close(w.apply(out.double(), 2), g[:, None].expand(2, 3), rtol=0, atol=1e-4)


def test_interior_mask_after_an_open_periodic_axis() -> None:
    """An open periodic axis has no boundary node, and the axes after it still mask theirs."""
    bcs = BoundaryConditions({"x": (Periodic(), Periodic()), "t": (Dirichlet(), None)})
    m = interior_mask(bcs, ("x", "t"), (4, 5))
    expect = torch.ones(4, 5, dtype=torch.bool)
    expect[:, 0] = False
    assert torch.equal(m, expect)


def test_missing_wall_values_and_coords_are_refused_by_name() -> None:
    """Called directly, the exported enforcement names what is missing (was a bare assert): a
    Dirichlet/Neumann side without its wall value, a Neumann axis without coordinates; a periodic
    or free side needs neither."""
    from pcml.constraints.boundary import axis_ends

    u = torch.rand(2, 1, 7, dtype=F64)
    x = torch.linspace(0.0, 1.0, 7, dtype=F64)
    zero = torch.zeros(2, dtype=F64)
    bcs = BoundaryConditions({"x": (Dirichlet(), Neumann(2))})
    for vals, side, kind in (
        ({}, r"0\] \(lower", "Dirichlet"),
        ({"x": (None, zero)}, r"0\] \(lower", "Dirichlet"),
        ({"x": (zero, None)}, r"1\] \(upper", "Neumann"),
    ):
        with pytest.raises(
            ValueError,
            match=rf"^values\['x'\]\[{side}\) is missing: a {kind} side needs its wall value "
            r"\(see wall_values\)$",
        ):
            apply_boundary_conditions(u, bcs, vals, {"x": x}, ("x",))
    with pytest.raises(
        ValueError,
        match=r"^coords\['x'\] is missing: a Neumann side needs the axis coordinates "
        r"\(see axis_coords\)$",
    ):
        apply_boundary_conditions(u, bcs, {"x": (zero, zero)}, {}, ("x",))
    upper_only = BoundaryConditions({"x": (None, Dirichlet())})  # the free lower side is skipped
    with pytest.raises(ValueError, match=r"^values\['x'\]\[1\] \(upper\) is missing: a Dirichlet"):
        apply_boundary_conditions(u, upper_only, {"x": (None, None)}, {}, ("x",))
    with pytest.raises(ValueError, match=r"^values\[1\] \(upper\) is None: a Neumann side needs"):
        axis_ends(u, 2, None, Neumann(2), (None, None), x)
    with pytest.raises(ValueError, match=r"^coords is None: a Neumann side \(lower\) needs the"):
        axis_ends(u, 2, Neumann(2), None, (zero, None), None)
    # Periodic and free sides read no value and no coordinate.
    periodic = BoundaryConditions({"x": (Periodic("closed"), Periodic("closed"))})
    v = u.clone()
    v[..., -1] = v[..., 0]
    assert torch.equal(apply_boundary_conditions(v, periodic, {}, {}, ("x",)), v)
    free = BoundaryConditions({"x": (Dirichlet(), None)})
    out = apply_boundary_conditions(u, free, {"x": (zero, None)}, {}, ("x",))
    assert torch.equal(out[..., 1:], u[..., 1:]) and torch.equal(
        out[..., 0], torch.zeros(2, 1, dtype=F64)
    )
