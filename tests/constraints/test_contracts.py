"""Contracts of pcml.constraints that the property tests did not pin down (found by ``make
mutate``, docs/testing.md): errors name the argument exactly, float64 inside / input dtype
outside, the caller's generator alone drives sampling, and the edge shapes the docstrings allow.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from pcml.constraints import conserve, mixture_moments, project_mean, sample_mixture
from pcml.constraints._checks import check_symmetric

F64 = torch.float64


# ------------------------------------------------------------------------------ mixture_moments
@pytest.mark.parametrize(
    ("means", "variances", "match"),
    [
        ("abc", torch.ones(2, 3), r"^means: cannot convert str"),
        (torch.ones(2, 3), "abc", r"^variances: cannot convert str"),
        (
            torch.tensor(1.0),
            torch.tensor(1.0),
            r"^means: expected shape \(S, \.\.\., n\) .*got \(\)",
        ),
        (torch.ones(0, 3), torch.ones(0, 3), r"^means: expected shape .*got \(0, 3\)"),
        (torch.full((2, 3), np.inf), torch.ones(2, 3), r"^means: "),
        (torch.ones(2, 3), torch.full((2, 3), np.nan), r"^variances: "),
        (torch.ones(2, 3), -torch.ones(2, 3), r"^variances: "),
    ],
)
def test_mixture_moments_errors_name_the_argument(means, variances, match) -> None:
    with pytest.raises(ValueError, match=match):
        mixture_moments(means, variances)


def test_mixture_moments_single_function_axis_is_allowed() -> None:
    """(S, n) with S = 1 and n = 1: the smallest shape the docstring allows."""
    loc, var = mixture_moments(torch.tensor([[2.0]], dtype=F64), torch.tensor([[0.5]], dtype=F64))
    assert loc.shape == var.shape == (1,)
    assert float(loc) == 2.0 and float(var) == 0.5


def test_mixture_moments_compute_in_float64_and_return_the_input_dtype() -> None:
    g = torch.Generator().manual_seed(0)
    means = (1e4 + torch.randn(64, 5, generator=g, dtype=F64)).float()
    variances = torch.rand(64, 5, generator=g, dtype=F64).float()
    loc, var = mixture_moments(means, variances)
    assert loc.dtype == var.dtype == torch.float32
    loc64, var64 = mixture_moments(means.double(), variances.double())
    torch.testing.assert_close(loc, loc64.float(), rtol=0, atol=0)
    torch.testing.assert_close(var, var64.float(), rtol=0, atol=0)
    # integer means are moments in the default dtype
    li, vi = mixture_moments(torch.tensor([[1, 2], [3, 4]]), torch.zeros(2, 2, dtype=torch.int64))
    assert li.dtype == vi.dtype == torch.get_default_dtype()
    torch.testing.assert_close(li, torch.tensor([2.0, 3.0]))
    torch.testing.assert_close(vi, torch.tensor([1.0, 1.0]))


# ------------------------------------------------------------------------------ sample_mixture
def _posterior(S: int, batch: tuple[int, ...], n: int = 6):
    rng = np.random.default_rng(4)
    mu = torch.from_numpy(rng.normal(size=(S, *batch, n)) * 3.0)
    var = torch.from_numpy(rng.uniform(0.1, 1.0, size=(S, *batch, n)))
    g = torch.full((n,), 1.0 / n, dtype=F64)
    b = torch.from_numpy(rng.normal(size=batch))
    return conserve(mu, variance=var, G=g, b=b), b


def test_sample_mixture_uses_only_the_callers_generator() -> None:
    post, _ = _posterior(4, (3,))
    draws = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        draws.append(sample_mixture(post, (50,), generator=torch.Generator().manual_seed(7)))
    torch.testing.assert_close(draws[0], draws[1], rtol=0, atol=0)
    other = sample_mixture(post, (50,), generator=torch.Generator().manual_seed(8))
    assert not torch.equal(draws[0], other)


def test_sample_mixture_with_only_the_component_axis() -> None:
    """Batch shape (S,): no further batch axes is a valid mixture (one function)."""
    post, b = _posterior(3, ())
    y = sample_mixture(post, (20,), generator=torch.Generator().manual_seed(0))
    assert y.shape == (20, 6)
    torch.testing.assert_close(
        y.mean(-1), torch.full((20,), float(b), dtype=F64), rtol=0, atol=1e-12
    )


def test_sample_mixture_all_axes_shared() -> None:
    post, _ = _posterior(5, (2, 3))
    y = sample_mixture(post, (40,), shared_ndim=2, generator=torch.Generator().manual_seed(1))
    assert y.shape == (40, 2, 3, 6)
    with pytest.raises(ValueError, match=r"^shared_ndim: expected 0\.\.2 for batch"):
        sample_mixture(post, (4,), shared_ndim=3)


def test_sample_mixture_refuses_a_posterior_without_component_axis() -> None:
    post = conserve(
        torch.zeros(6, dtype=F64), variance=torch.ones(6, dtype=F64), G=torch.ones(6), b=1.0
    )
    with pytest.raises(
        ValueError, match=r"^posterior: expected a batch shape \(S, \.\.\.\) with a component axis"
    ):
        sample_mixture(post, (3,))


# ------------------------------------------------------------------------ project_mean, checks
def test_project_mean_names_its_argument() -> None:
    with pytest.raises(ValueError, match=r"^mean: cannot convert str"):
        project_mean("abc", torch.ones(3), 1.0)


@pytest.mark.parametrize("shape", [(3,), (2, 3), (4, 3, 2)])
def test_check_symmetric_requires_square_matrices(shape: tuple[int, ...]) -> None:
    expect = r"^A: expected a square matrix \(\.\.\., k, k\), got shape " + re.escape(str(shape))
    with pytest.raises(ValueError, match=expect):
        check_symmetric("A", torch.zeros(shape), dtype=F64)


def test_check_symmetric_tolerance_is_per_matrix() -> None:
    """Relative to each matrix's own max |a|: a tiny asymmetric matrix next to a huge symmetric
    one is still refused."""
    small = torch.tensor([[1.0, 2.0], [2.0 + 1e-6, 1.0]], dtype=F64)
    big = 1e12 * torch.eye(2, dtype=F64)
    with pytest.raises(ValueError, match=r"^A: expected a symmetric matrix"):
        check_symmetric("A", torch.stack([small, big]), dtype=F64)
    check_symmetric("A", torch.stack([(small + small.mT) / 2, big]), dtype=F64)


def test_check_symmetric_accepts_round_off_of_large_matrices() -> None:
    """The tolerance is relative (100 ulp of max |a|): a 1e8-sized matrix whose asymmetry is
    1e-15 relative (1e-7 absolute) passes, also next to a small exactly symmetric matrix."""
    big = 1e8 * torch.tensor([[1.0, 0.5], [0.5, 1.0]], dtype=F64)
    big[0, 1] += 1e-7
    small = torch.tensor([[1.0, 0.2], [0.2, 1.0]], dtype=F64)
    check_symmetric("A", big, dtype=F64)
    check_symmetric("A", torch.stack([big, small]), dtype=F64)


def test_mixture_moments_of_scalar_components() -> None:
    """means of shape (S,) (one scalar per component) give scalar moments."""
    loc, var = mixture_moments(
        torch.tensor([1.0, 3.0], dtype=F64), torch.tensor([0.5, 1.5], dtype=F64)
    )
    assert loc.shape == var.shape == ()
    assert float(loc) == 2.0 and float(var) == 1.0 + 1.0


# ------------------------------------------------------------------------------ _checks messages
def test_check_finite_reports_count_first_index_and_value() -> None:
    from pcml.constraints._checks import check_finite

    with pytest.raises(ValueError, match=r"^t: expected finite values, found 1 non-finite entry "):
        check_finite("t", torch.tensor([float("nan")]))  # a single element is checked too
    with pytest.raises(
        ValueError, match=r"found 2 non-finite entries \(first at index \(1,\): inf\)"
    ):
        check_finite("t", torch.tensor([0.0, float("inf"), float("nan")]))
    with pytest.raises(ValueError, match=r"first at index \(\): -inf\) in a tensor of shape \(\)"):
        check_finite("t", torch.tensor(float("-inf")))


def test_check_nonnegative_reports_the_first_negative_entry() -> None:
    from pcml.constraints._checks import check_nonnegative

    check_nonnegative("v", torch.tensor([0.0, 0.5, 0.0]))  # zeros are allowed
    with pytest.raises(
        ValueError, match=r"^v: expected non-negative values, found -1\.0 at index \(2,\)"
    ):
        check_nonnegative("v", torch.tensor([0.0, 0.5, -1.0, -2.0]))
    with pytest.raises(ValueError, match=r"found -3\.0 at index \(\) \(shape \(\)\)"):
        check_nonnegative("v", torch.tensor(-3.0))
    with pytest.raises(ValueError, match=r"found -0\.5 at index \(0,\)"):
        check_nonnegative("v", torch.tensor([-0.5]))


# ------------------------------------------------------------------------------ stencils, axes
def test_fornberg_weights_argument_range_and_higher_derivatives() -> None:
    from pcml.constraints import fornberg_weights

    assert fornberg_weights(0.0, [0.0], 0) == [[1.0]]  # n = 1, m = 0 is valid
    for m, n in ((-1, 3), (3, 3), (0, 0)):
        with pytest.raises(
            ValueError, match=rf"^fornberg_weights: need 0 <= m < len\(x\); got m={m}"
        ):
            fornberg_weights(0.0, [0.0, 1.0, 2.0][:n], m)
    # second and third derivatives on 5 central nodes (classical weights)
    c = np.array(fornberg_weights(0.0, [-2.0, -1.0, 0.0, 1.0, 2.0], 3))
    np.testing.assert_allclose(c[:, 2], [-1 / 12, 4 / 3, -5 / 2, 4 / 3, -1 / 12], atol=1e-14)
    np.testing.assert_allclose(c[:, 3], [-1 / 2, 1.0, 0.0, -1.0, 1 / 2], atol=1e-14)
    np.testing.assert_allclose(c[:, 0], [0, 0, 1, 0, 0], atol=1e-15)


def test_default_axis_names() -> None:
    from pcml.constraints.boundary import default_axis_names

    assert default_axis_names(3) == ("x", "y", "t")
    with pytest.raises(ValueError, match=r"^default_axis_names: ndim must be 1, 2 or 3, got 4$"):
        default_axis_names(4)


# ------------------------------------------------------------------------------ boundary, stencils
def test_boundary_condition_errors_are_exact() -> None:
    from pcml.constraints import BoundaryConditions, Dirichlet, Periodic

    with pytest.raises(
        ValueError,
        match=r"holds 'bad'; expected Dirichlet\(\), Neumann\(order\), Periodic\(\) or None$",
    ):
        BoundaryConditions({"x": (Dirichlet(), "bad")})
    with pytest.raises(ValueError, match=r"; Periodic must be given on both sides of an axis$"):
        BoundaryConditions({"x": (Periodic(), Dirichlet())})


def test_wall_values_name_the_side_and_take_the_field_dtype() -> None:
    from pcml.constraints import BoundaryConditions, Dirichlet
    from pcml.constraints.boundary import wall_values

    bcs = BoundaryConditions({"x": (Dirichlet(), Dirichlet())})
    u = torch.zeros(2, 1, 9, dtype=torch.float32)
    with pytest.raises(
        ValueError, match=r"^bc_values\['x'\] must be a \(lower, upper\) tuple, got \[1"
    ):
        wall_values(bcs, {"x": [1.0, 2.0]}, ("x",), u)
    with pytest.raises(
        ValueError, match=r"^bc_values\['x'\]\[0\] \(lower\) has shape \(3,\); its leading"
    ):
        wall_values(bcs, {"x": (torch.zeros(3), torch.zeros(2))}, ("x",), u)
    with pytest.raises(ValueError, match=r"^bc_values\['x'\]\[1\] \(upper\) has shape \(3,\)"):
        wall_values(bcs, {"x": (torch.zeros(2), torch.zeros(3))}, ("x",), u)
    lo, hi = wall_values(bcs, {"x": (torch.zeros(2, dtype=F64), 1.0)}, ("x",), u)["x"]
    assert lo is not None and hi is not None
    assert lo.dtype == hi.dtype == torch.float32 and lo.shape == hi.shape == (2,)


def test_axis_coords_take_the_requested_dtype() -> None:
    from pcml.constraints.boundary import axis_coords

    assert axis_coords(None, "x", 5, torch.float32).dtype == torch.float32
    assert axis_coords(None, "x", 5).dtype == torch.float64  # the default, not torch's float32
    given = axis_coords({"x": torch.tensor([0.0, 0.5, 1.0], dtype=F64)}, "x", 3, torch.float32)
    assert given.dtype == torch.float32


def test_one_sided_stencil_limits_and_messages() -> None:
    from pcml.constraints import OneSidedStencil

    OneSidedStencil(order=6)  # the highest order allowed
    with pytest.raises(
        ValueError, match=r"^OneSidedStencil: order must be an int in 1\.\.6, got 7$"
    ):
        OneSidedStencil(order=7)
    s = OneSidedStencil(order=2)  # 3 points: needs 4 nodes
    assert s.weights([0.0, 0.25, 0.5, 1.0], "lower").weights == (-6.0, 8.0, -2.0)
    with pytest.raises(ValueError, match=r"grid of 3 nodes is too small; need at least 4 so"):
        s.weights([0.0, 0.25, 0.5], "lower")
    for coords in ([0.0, 0.25, 0.25, 1.0], [0.0, 0.5, 0.25, 1.0]):
        with pytest.raises(
            ValueError, match=r"^OneSidedStencil: coords must be strictly increasing$"
        ):
            s.weights(coords, "lower")


# ------------------------------------------------------------------------------ psd_factor
def test_psd_factor_is_a_factor_for_definite_singular_and_mixed_batches() -> None:
    """F Fᵀ = A for every matrix of a batch: Cholesky where A is definite (F lower triangular),
    the eigen-factor Q √λ₊ where it is only semi-definite (rank-deficient or with round-off
    negative eigenvalues within the tolerance); an indefinite matrix is refused by name."""
    from pcml.constraints._checks import psd_factor

    rng = np.random.default_rng(8)
    n = 5
    Q = rng.normal(size=(n, n))
    definite = Q @ Q.T + np.eye(n)
    low = rng.normal(size=(n, 2))
    singular = low @ low.T  # rank 2, PSD
    ev, V = np.linalg.eigh(singular)
    ev[0] = -1e-14 * ev[-1]  # round-off below zero: still accepted
    rounded = (V * ev) @ V.T
    A = torch.from_numpy(np.stack([definite, singular, rounded, definite]))
    F = psd_factor("noise_cov", A, dtype=F64)
    torch.testing.assert_close(F @ F.mT, A, rtol=0, atol=1e-12 * float(A.abs().max()))
    torch.testing.assert_close(F[0], torch.linalg.cholesky(A[0]), rtol=0, atol=0)
    torch.testing.assert_close(F[3], F[0], rtol=0, atol=0)
    indefinite = A.clone()
    indefinite[2] = A[2] - 1e-6 * float(A[2].abs().max()) * torch.eye(n, dtype=F64)
    with pytest.raises(
        ValueError,
        match=r"^noise_cov: expected a symmetric positive \(semi-\)definite matrix, found "
        r"smallest eigenvalue -\d\.\d{3}e-\d\d \(largest \d\.\d{3}e\+\d\d\) in a batch of shape "
        r"\(4, 5, 5\)$",
    ):
        psd_factor("noise_cov", indefinite, dtype=F64)


def test_singular_dense_prior_draws_from_the_conditioned_distribution() -> None:
    """A rank-deficient dense Σ (Cholesky fails, the eigen-factor is used): draws keep G u = b,
    stay in μ + range(Σ), and their covariance is Σ̃ (5 standard errors)."""
    rng = np.random.default_rng(9)
    n = 6
    low = rng.normal(size=(n, 3))
    Sigma = low @ low.T
    mu = rng.normal(size=n)
    g = np.ones(n) / n
    post = conserve(torch.from_numpy(mu), covariance=torch.from_numpy(Sigma), G=g, b=0.3)
    y = post.sample((20000,), generator=torch.Generator().manual_seed(3)).numpy()
    assert np.abs(y @ g - 0.3).max() <= 1e-13
    # in μ + range(Σ): along the null space of Σ only √(round-off eigenvalues) ≈ √eps·‖Σ‖^½
    null = np.linalg.eigh(Sigma)[1][:, :3]
    assert np.abs((y - mu) @ null).max() <= 1e-6 * np.sqrt(np.abs(Sigma).max())
    cov = post.covariance_matrix.numpy()
    emp = np.cov(y.T)
    se = np.sqrt((cov**2 + np.outer(np.diag(cov), np.diag(cov))) / len(y))
    assert np.all(np.abs(emp - cov) <= 5 * se + 1e-12)


def test_check_nonnegative_and_check_finite_accept_empty_tensors() -> None:
    """An empty tensor has no negative and no non-finite entry: both checks pass (also through
    mixture_moments, whose moments of components with an empty event are empty)."""
    from pcml.constraints._checks import check_finite, check_nonnegative

    for t in (torch.empty(0), torch.empty(3, 0, dtype=F64)):
        check_nonnegative("v", t)
        check_finite("v", t)
    loc, var = mixture_moments(torch.ones(2, 0, dtype=F64), torch.ones(2, 0, dtype=F64))
    assert loc.shape == var.shape == (0,)


def test_check_symmetric_tolerance_is_exactly_100_ulp() -> None:
    """Symmetric "to 100 ulp of dtype relative to max |a|": a relative asymmetry of exactly
    100·eps(float32) passes, 100.5·eps is refused with its value and the bound in the message."""
    eps = torch.finfo(torch.float32).eps
    for rel, ok in ((99.5, True), (100.0, True), (100.5, False)):
        a = torch.tensor([[1.0, 1.0], [1.0 - rel * eps, -1.0]], dtype=F64)  # max |a| = 1
        if ok:
            check_symmetric("A", a, dtype=torch.float32)
        else:
            with pytest.raises(
                ValueError,
                match=r"^A: expected a symmetric matrix, relative asymmetry max\|A - Aᵀ\|/max\|A\| "
                r"= 1\.198e-05 exceeds 1\.2e-05 \(shape \(2, 2\)\)$",
            ):
                check_symmetric("A", a, dtype=torch.float32)


def test_psd_factor_tolerance_is_k_times_100_ulp_of_the_largest_eigenvalue() -> None:
    """A non-definite A (k, k) is accepted iff λ_min ≥ −k·100·eps·λ_max (documented bound, here
    on diagonal matrices whose eigenvalues eigh returns exactly, k = 4, λ_max = 1, in a (1, 1)
    batch); the factor then reproduces A with the negative eigenvalue clamped to 0; a refused A
    reports its smallest and largest eigenvalue."""
    from pcml.constraints._checks import psd_factor

    eps = torch.finfo(F64).eps
    k = 4
    for rel, ok in ((250.0, True), (400.0, True), (402.0, False)):
        d = torch.tensor([1.0, 0.5, 0.25, -rel * eps], dtype=F64)
        a = torch.diag(d).reshape(1, 1, k, k)
        if ok:
            f = psd_factor("cov", a, dtype=F64)
            torch.testing.assert_close(f @ f.mT, torch.diag(d.clamp_min(0)).expand_as(a))
        else:
            with pytest.raises(
                ValueError,
                match=r"^cov: expected a symmetric positive \(semi-\)definite matrix, found "
                r"smallest eigenvalue -8\.926e-14 \(largest 1\.000e\+00\) in a batch of shape "
                r"\(1, 1, 4, 4\)$",
            ):
                psd_factor("cov", a, dtype=F64)
    with pytest.raises(ValueError, match=r"smallest eigenvalue -2\.000e\+00 \(largest 3\.000e"):
        psd_factor("cov", torch.diag(torch.tensor([3.0, 1.0, -2.0], dtype=F64)), dtype=F64)
