"""Gaussian random fields: sample covariance against the analytic spectrum."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pcml.pdes.grf import GRFSpectrum, sample_periodic_grf, sine_series_coefficients


def test_periodic_sample_covariance_matches_spectrum() -> None:
    """Empirical C(x_i, x_j) of 20000 draws vs (1/L)Σ λ_k e_k(x)e_k(y), within 5 std errors."""
    spectrum = GRFSpectrum()
    n_x, n_samples = 32, 20000
    u = sample_periodic_grf(spectrum, n_samples, n_x, np.random.default_rng(0))
    x = np.arange(n_x) / n_x
    exact = spectrum.periodic_covariance(np.subtract.outer(x, x), n_modes=n_x // 2)
    empirical = u.T @ u / n_samples  # the mean is known to be zero
    var = np.diag(exact)
    stderr = np.sqrt((np.outer(var, var) + exact**2) / n_samples)
    assert np.max(np.abs(empirical - exact) / stderr) < 5.0
    # pointwise variance of the benchmark field: 2 Σ_{k>=1} 625/(4π²k² + 25)² ≈ 0.35
    k = np.arange(1, n_x // 2)
    assert var[0] == pytest.approx(2 * np.sum(625.0 / (4 * np.pi**2 * k**2 + 25.0) ** 2))
    assert 0.3 < var[0] < 0.4


def test_periodic_mode_variances() -> None:
    """Each Fourier mode of the samples has variance n²λ_k/(2L) in its real and imaginary part."""
    spectrum = GRFSpectrum(amplitude=2.0, shift=1.0, power=1.5, length=2.0, mean_free=False)
    n_x, n_samples = 16, 40000
    u = sample_periodic_grf(spectrum, n_samples, n_x, np.random.default_rng(1))
    c = np.fft.rfft(u, axis=-1)
    lam = spectrum.periodic_eigenvalues(n_x // 2)
    expected_re = n_x**2 * lam / (2 * spectrum.length)
    expected_re[0] = n_x**2 * lam[0] / spectrum.length
    got_re = np.mean(c.real[:, : n_x // 2] ** 2, axis=0)
    got_im = np.mean(c.imag[:, 1 : n_x // 2] ** 2, axis=0)
    # chi-square: the relative standard error of a variance estimate is sqrt(2/n)
    tol = 5 * np.sqrt(2 / n_samples)
    np.testing.assert_allclose(got_re / expected_re, 1.0, atol=tol)
    np.testing.assert_allclose(got_im / expected_re[1:], 1.0, atol=tol)
    assert np.abs(c[:, n_x // 2]).max() < 1e-9  # no Nyquist mode


def test_mean_free_field_has_zero_mean_mode() -> None:
    u = sample_periodic_grf(GRFSpectrum(), 5, 64, np.random.default_rng(2))
    assert np.abs(u.mean(axis=-1)).max() < 1e-14


def test_sine_coefficients_variance() -> None:
    spectrum = GRFSpectrum()
    b = sine_series_coefficients(spectrum, 40000, 8, np.random.default_rng(3))
    expected = 2 * spectrum.dirichlet_eigenvalues(8) / spectrum.length
    np.testing.assert_allclose(b.var(axis=0) / expected, 1.0, atol=5 * np.sqrt(2 / 40000))


@given(
    n_x=st.integers(4, 40),
    n_samples=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_shapes_and_reproducibility(n_x: int, n_samples: int, seed: int) -> None:
    a = sample_periodic_grf(GRFSpectrum(), n_samples, n_x, np.random.default_rng(seed))
    b = sample_periodic_grf(GRFSpectrum(), n_samples, n_x, np.random.default_rng(seed))
    assert a.shape == (n_samples, n_x) and a.dtype == np.float64
    assert np.array_equal(a, b) and np.all(np.isfinite(a))


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="amplitude"):
        GRFSpectrum(amplitude=-1.0)
    with pytest.raises(ValueError, match="mean_free"):
        GRFSpectrum(shift=0.0, mean_free=False)
    with pytest.raises(ValueError, match="n_x"):
        sample_periodic_grf(GRFSpectrum(), 2, 2, np.random.default_rng(0))
