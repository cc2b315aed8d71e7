"""Tests for pcml.constraints.inequality: the general (null space + LDP) path, degenerate problems,
the fast path's projection helper and the error messages of project_inequality.

The QP solved is  min_u (u − μ)ᵀΣ⁻¹(u − μ)  s.t.  G u = b,  A u ≥ 0  (A = I for "nonneg"; rows
e_i − e_{i+1} and e_{n−1} for "monotone"). References here are exact and independent of the code
under test: enumeration of the faces of the feasible set in z-space (u = μ + F z, FFᵀ = Σ, also
for singular Σ), NNLS in the cone coordinates of C, and invariances of the QP under units.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from qp_reference import face_enumeration as _face_enumeration
from scipy.optimize import nnls

from pcml.constraints import conserve, project_inequality
from pcml.constraints.inequality import _project

t = torch.from_numpy


def _dense_problem(seed: int, n: int = 6, m: int = 2):
    """A dense SPD prior, mixed-sign rows of G and a b reached by a non-increasing u ≥ 0."""
    rng = np.random.default_rng(seed)
    Q = rng.normal(size=(n, n))
    Sigma = Q @ Q.T / n + 0.1 * np.eye(n)
    mu = 2.0 * rng.normal(size=n)
    G = rng.normal(size=(m, n))
    b = G @ np.sort(rng.uniform(0.0, 2.0, n))[::-1]
    return mu, Sigma, G, b


# --------------------------------------------------------------------------- general path: units
@pytest.mark.parametrize("kind", ["nonneg", "monotone"])
def test_general_path_is_exact_and_invariant_under_units(kind):
    """The QP is invariant under the units of the constraints and of u.

    Rows (G, b) → (c G, c b) describe the same affine set, so u* is unchanged; (μ, Σ, b) →
    (c μ, c² Σ, c b) is a change of the unit of u, so u* → c u*. Rank decisions and consistency
    checks must therefore be relative, for c from 1e-9 to 1e9.
    """
    mu, Sigma, G, b = _dense_problem(3, n=7)
    ref = _face_enumeration(mu, np.linalg.cholesky(Sigma), G, b, kind)[0]
    u = project_inequality(conserve(t(mu), covariance=t(Sigma), G=t(G), b=t(b)), kind).numpy()
    np.testing.assert_allclose(u, ref, rtol=0, atol=1e-9)
    for c in (1e-9, 1e9):
        rows = conserve(t(mu), covariance=t(Sigma), G=t(c * G), b=t(c * b))
        np.testing.assert_allclose(project_inequality(rows, kind).numpy(), u, rtol=0, atol=1e-12)
        units = conserve(t(c * mu), covariance=t(c * c * Sigma), G=t(G), b=t(c * b))
        np.testing.assert_allclose(
            project_inequality(units, kind).numpy() / c, u, rtol=0, atol=1e-12
        )


# ------------------------------------------------------------------ general path: degenerate
@pytest.mark.parametrize("kind", ["nonneg", "monotone"])
def test_zero_state_is_its_own_projection(kind):
    """μ = 0, b = 0 (no mass, no signal) is feasible and already optimal: u* = 0 exactly."""
    n = 5
    x = np.arange(n) / n
    Sigma = np.exp(-0.5 * ((x[:, None] - x[None]) / 0.3) ** 2) + 1e-2 * np.eye(n)
    G = np.vstack([np.ones(n), x])
    post = conserve(
        torch.zeros(n, dtype=torch.float64), covariance=t(Sigma), G=t(G), b=t(0 * x[:2])
    )
    assert torch.equal(project_inequality(post, kind), torch.zeros(n, dtype=torch.float64))


@pytest.mark.parametrize("kind", ["nonneg", "monotone"])
def test_determined_system_returns_its_solution_or_refuses(kind):
    """m = n independent rows leave one point u = G⁻¹ b (no null space, k = 0): it is returned
    when it satisfies A u ≥ 0 (μ = G⁻¹ b on the bound u₁ = 0 comes back unchanged), refused when
    it does not, at any scale (c (1, −1) is infeasible for every c > 0)."""
    G = t(np.array([[1.0, 1.0], [1.0, -1.0]]))
    var = t(np.array([1.0, 2.0]))
    on_bound = conserve(t(np.array([1.0, 0.0])), variance=var, G=G, b=t(np.array([1.0, 1.0])))
    assert torch.equal(project_inequality(on_bound, kind), t(np.array([1.0, 0.0])))
    inside = conserve(t(np.array([0.3, -0.2])), variance=var, G=G, b=t(np.array([5.0, 1.0])))
    torch.testing.assert_close(project_inequality(inside, kind), t(np.array([3.0, 2.0])))
    for c in (1e-14, 1.0, 1e10):
        # batch of two: slice 0 feasible, slice 1 has the only solution c (1, −1)
        b = t(np.array([[5.0, 1.0], [0.0, 2.0 * c]]))
        post = conserve(torch.zeros(2, 2, dtype=torch.float64), variance=var, G=G, b=b)
        with pytest.raises(ValueError) as err:
            project_inequality(post, kind)
        assert str(err.value) == "post: infeasible inequality projection at flat index 1"


@pytest.mark.parametrize("c", [1e-12, 1.0, 1e6])
def test_dependent_rows_with_noise_consistent_or_refused(c):
    """Rows g and 3g (allowed with noise, σ_G > 0): the projection imposes G u = b exactly, so a
    consistent b (b₂ = 3 b₁) gives the one-row result, and an inconsistent one is refused by
    name, at every scale c of the problem (c μ, c² Σ, c b)."""
    rng = np.random.default_rng(7)
    n = 6
    g = rng.uniform(-0.5, 1.0, n)
    G = np.vstack([g, 3.0 * g])
    mu = c * rng.normal(size=n)
    Q = rng.normal(size=(n, n))
    Sigma = c * c * (Q @ Q.T / n + 0.1 * np.eye(n))
    beta = c * float(g @ np.linspace(2.0, 0.5, n))
    for kind in ("nonneg", "monotone"):
        one = conserve(t(mu), covariance=t(Sigma), G=t(g), b=beta)
        nv = 0.5 * c * c  # σ_G in the units of G u
        b2 = t(np.array([beta, 3 * beta]))
        two = conserve(t(mu), covariance=t(Sigma), G=t(G), b=b2, noise_var=nv)
        np.testing.assert_allclose(
            project_inequality(two, kind).numpy(),
            project_inequality(one, kind).numpy(),
            rtol=0,
            atol=1e-10 * c,
        )
        # batch: slice 0 consistent, slice 1 off by 1e-6 of the scale
        b = t(np.array([[beta, 3 * beta], [beta, 3 * beta + 1e-6 * c]]))
        bad = conserve(t(mu), covariance=t(Sigma), G=t(G), b=b, noise_var=nv)
        with pytest.raises(ValueError) as err:
            project_inequality(bad, kind)
        assert str(err.value) == (
            "post: G u = b has no solution in the prior's range (flat index 1)"
        )


def test_row_on_pinned_coordinates_with_noise():
    """A row supported only where the prior variance vanishes (allowed with noise): the prior
    cannot move those coordinates, so G u = b holds only if it already holds at μ; then the free
    coordinates are projected alone (max(0, μ) for "nonneg"), otherwise the problem is refused."""
    mu = np.array([-0.5, 1.5, 0.25, 0.75])
    d = np.array([1.0, 2.0, 0.0, 0.0])
    g = np.array([0.0, 0.0, 1.0, 2.0])
    ok = conserve(t(mu), variance=t(d), G=t(g), b=1.75, noise_var=1.0)
    u = project_inequality(ok, "nonneg").numpy()
    assert np.all(u[2:] == mu[2:])
    np.testing.assert_allclose(u, [0.0, 1.5, 0.25, 0.75], rtol=0, atol=1e-15)
    bad = conserve(t(mu), variance=t(d), G=t(g), b=1.5, noise_var=1.0)
    with pytest.raises(ValueError) as err:
        project_inequality(bad, "nonneg")
    assert str(err.value) == "post: G u = b has no solution in the prior's range (flat index 0)"


@pytest.mark.parametrize("pinned", [0.7, 1e-200])
def test_zero_variance_coordinate_is_held_fixed(pinned):
    """d_p = 0 pins u_p = μ_p (the prior metric forbids moving it), so the fast λ-search (which
    assumes d > 0) must not be used: a pinned value < 0 makes "nonneg" infeasible; a pinned
    value > 0, of any magnitude, is kept exactly and the rest solves the reduced problem."""
    mu = np.array([1.2, -0.3, pinned, 0.4, 0.9])
    d = np.array([0.5, 1.0, 0.0, 2.0, 0.3])
    g = np.array([0.2, 0.3, 0.1, 0.25, 0.15])
    b = 0.8
    u = project_inequality(conserve(t(mu), variance=t(d), G=t(g), b=b), "nonneg").numpy()
    assert u[2] == pinned
    free = [0, 1, 3, 4]
    reduced = conserve(t(mu[free]), variance=t(d[free]), G=t(g[free]), b=b - g[2] * pinned)
    np.testing.assert_allclose(u[free], project_inequality(reduced, "nonneg").numpy(), atol=1e-12)
    # monotone: the pinned value constrains its neighbours; checked against the face enumeration
    um = project_inequality(conserve(t(mu), variance=t(d), G=t(g), b=b), "monotone").numpy()
    assert um[2] == pinned
    ref = _face_enumeration(mu, np.diag(np.sqrt(d)), g[None], np.array([b]), "monotone")[0]
    np.testing.assert_allclose(um, ref, rtol=0, atol=1e-9)
    neg = mu.copy()
    neg[2] = -0.7
    for kind in ("nonneg", "monotone"):
        with pytest.raises(ValueError) as err:
            project_inequality(conserve(t(neg), variance=t(d), G=t(g), b=b), kind)
        assert str(err.value) == "post: infeasible inequality projection at flat index 0"


# ---------------------------------------------------------------------- fast path: projection
def _cone_projection(y, w, kind):
    """argmin Σ w_i (u_i − y_i)² over C, exactly: C = {u ≥ 0}, or for "monotone" u = L s with
    s ≥ 0 (u_i = Σ_{j ≥ i} s_j spans exactly the non-increasing u ≥ 0), an NNLS problem."""
    if kind == "nonneg":
        return np.maximum(y, 0.0)
    n = y.size
    L = np.triu(np.ones((n, n)))
    sw = np.sqrt(w)
    s, _ = nnls(sw[:, None] * L, sw * y)
    return L @ s


@pytest.mark.parametrize("kind", ["nonneg", "monotone"])
def test_project_is_the_weighted_projection_and_its_derivative_in_lambda(kind):
    """_project(y, d, g) returns P_C(y) in the d⁻¹-weighted metric and the derivative of
    λ ↦ P_C(μ + λ d∘g) (piecewise linear: a central difference away from kinks is exact)."""
    rng = np.random.default_rng(11)
    B, n = 4, 9
    mu = rng.uniform(-1.0, 3.0, size=(B, n))
    d = rng.uniform(0.1, 2.0, size=(B, n))
    g = rng.uniform(0.0, 1.0, size=(B, n))
    lam = rng.uniform(-0.3, 0.3, size=(B, 1))
    u, du = _project(mu + lam * d * g, d, g, kind)
    h = 1e-7
    for i in range(B):
        ref = _cone_projection(mu[i] + lam[i] * d[i] * g[i], 1.0 / d[i], kind)
        np.testing.assert_allclose(u[i], ref, rtol=0, atol=1e-12)
        up = _cone_projection(mu[i] + (lam[i] + h) * d[i] * g[i], 1.0 / d[i], kind)
        dn = _cone_projection(mu[i] + (lam[i] - h) * d[i] * g[i], 1.0 / d[i], kind)
        np.testing.assert_allclose(du[i], (up - dn) / (2 * h), rtol=0, atol=1e-6)
    # the data cover the cases the derivative distinguishes: clipped, in (0, 1) and above 1
    assert (u == 0).any() and ((u > 0) & (u < 1)).any() and (u > 1).any()


@pytest.mark.parametrize("kind", ["nonneg", "monotone"])
def test_coordinates_on_the_bound_stay_exactly_zero_when_mass_shrinks(kind):
    """μ = (2, 1, 0, 0) already in C; b a few ulps below gᵀμ needs λ < 0, which pushes the zero
    coordinates below the bound, so the optimum keeps them at exactly 0 (not at −1e-17)."""
    mu = np.array([2.0, 1.0, 0.0, 0.0])
    g = np.full(4, 0.25)
    b = float(g @ mu) * (1.0 - 8 * np.finfo(float).eps)
    u = project_inequality(conserve(t(mu), variance=t(np.ones(4)), G=t(g), b=b), kind).numpy()
    assert np.all(u[2:] == 0.0)
    assert abs(g @ u - b) <= 4 * np.finfo(float).eps * b


# ------------------------------------------------------------------------------ error messages
def test_error_messages_name_the_argument():
    with pytest.raises(ValueError) as err:
        project_inequality(torch.zeros(3))  # type: ignore[arg-type]
    assert str(err.value) == "post: expected a ConservedPosterior, got Tensor"
    # one row g ≥ 0 (zero weights allowed) and b < 0: infeasible for the stated reason
    g = torch.tensor([0.5, 0.0, 0.5], dtype=torch.float64)
    post = conserve(
        torch.ones(2, 3, dtype=torch.float64),
        variance=torch.ones(3),
        G=g,
        b=torch.tensor([1.0, -1.0], dtype=torch.float64),
    )
    for kind in ("nonneg", "monotone"):
        with pytest.raises(ValueError) as err:
            project_inequality(post, kind)
        assert str(err.value) == (
            "post: infeasible inequality projection: b = -1.000e+00 < 0 at flat batch index 1, "
            "but g ≥ 0 and u ≥ 0 force G u ≥ 0"
        )
    with pytest.raises(ValueError, match=re.escape("kind: expected one of ('nonneg', 'monotone')")):
        project_inequality(post, "convex")  # type: ignore[arg-type]


# ------------------------- far priors and determined systems (two defects, fixed: were xfails)


@pytest.mark.parametrize(
    "sd",
    [
        1.0,
        0.1,
        1e-4,
        1e-6,
        1e-9,
    ],
)
def test_isotropic_prior_gives_the_simplex_projection_at_every_prior_scale(sd):
    """Σ = sd² I: the QP is the Euclidean projection of μ onto {Σu = 1, u ≥ 0}, whatever sd;
    for μ = (3, −1, −1, −1, −1) it is e₀ (threshold τ = 2: u = max(μ − τ, 0)).

    A small sd puts μ many prior standard deviations (‖t‖ ≈ 3/sd) from the feasible set, as a GP
    prior with a small jitter does for a rough mean; the general path must stay exact there.
    """
    n = 5
    mu = np.array([3.0, -1.0, -1.0, -1.0, -1.0])
    post = conserve(t(mu), covariance=t(sd**2 * np.eye(n)), G=t(np.ones(n)), b=1.0)
    u = project_inequality(post, "nonneg").numpy()
    np.testing.assert_allclose(u, np.eye(n)[0], rtol=0, atol=1e-12)


def test_determined_system_on_the_bound_from_any_prior_mean():
    """u = G⁻¹ b = (1, 0) is feasible (on the bound); it must come back for any prior mean."""
    G = t(np.array([[1.0, 1.0], [1.0, -1.0]]))
    post = conserve(
        t(np.array([0.3, -0.2])), variance=t(np.array([1.0, 2.0])), G=G, b=t(np.ones(2))
    )
    np.testing.assert_allclose(project_inequality(post, "nonneg").numpy(), [1.0, 0.0], atol=1e-15)


@pytest.mark.parametrize("delta", [1e-3, 1e-6, 1e-7])
def test_a_mean_behind_a_narrow_wedge_is_projected_not_refused(delta):
    """Σ = F Fᵀ with rows (1, δ, 0), (−1, δ, 0), (0, 0, 1), μ = (−1, −1, 0), u₂ = 1: the QP answer
    is u* = (0, 0, 1), at Mahalanobis distance 1/δ from μ, while each violated row alone is only
    ≈ 1 away. The least-distance step must grow its units by 1/δ (past the 1e5 at which an
    unscaled step calls the problem infeasible) and be re-solved on its active face: the two
    nearly opposite rows make it ill-conditioned (cond(Σ) ≈ 1/δ²), yet u* is met to round-off."""
    F = np.array([[1.0, delta, 0.0], [-1.0, delta, 0.0], [0.0, 0.0, 1.0]])
    post = conserve(
        t(np.array([-1.0, -1.0, 0.0])),
        covariance=t(F @ F.T),
        G=t(np.array([[0.0, 0.0, 1.0]])),
        b=t(np.ones(1)),
    )
    u = project_inequality(post, "nonneg").numpy()
    np.testing.assert_allclose(u, [0.0, 0.0, 1.0], rtol=0, atol=1e-14)


@pytest.mark.parametrize("delta", [1e-3, 1e-9, 1e-15])
def test_a_wedge_under_an_isotropic_prior_is_met_exactly(delta):
    """Σ = I, G = (1, 1, −2δ), μ = (−1, −1, 0) with b = G μ: u ≥ 0 forces u₂ ≥ 1/δ, and the
    closed-form answer is u* = (0, 0, 1/δ), 1/δ prior standard deviations from μ (so the units of
    the least-distance step grow by up to 1e15); the wedge rows hold to round-off."""
    G = np.array([[1.0, 1.0, -2.0 * delta]])
    mu = np.array([-1.0, -1.0, 0.0])
    post = conserve(t(mu), variance=t(np.ones(3)), G=t(G), b=t(G @ mu))
    u = project_inequality(post, "nonneg").numpy()
    np.testing.assert_allclose(u[:2], [0.0, 0.0], rtol=0, atol=1e-14)  # measured <= 4.5e-16
    np.testing.assert_allclose(u[2], 1.0 / delta, rtol=1e-14, atol=0)  # measured <= 2.4e-16
