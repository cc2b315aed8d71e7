r"""Gaussian random fields with covariance σ²(−Δ + τ²I)^(−α) on an interval.

The covariance operator C = a·(−Δ + s·I)^(−p) (``amplitude`` a = σ², ``shift`` s = τ², ``power`` p)
is diagonal in the eigenbasis of −Δ.  With wavenumber κ its eigenvalue is

    λ(κ) = a · (κ² + s)^(−p).

Two bases on [0, L] are supported:

* periodic on [0, L):  e_0 = 1/√L, √(2/L)·cos(2πkx/L), √(2/L)·sin(2πkx/L), κ_k = 2πk/L;
* Dirichlet on [0, L]: √(2/L)·sin(nπx/L), κ_n = nπ/L.

A sample is u = Σ_k √λ_k ξ_k e_k with independent ξ_k ~ N(0, 1), so that E[u(x)u(y)] = C(x, y).
The FNO Burgers benchmark field is ``GRFSpectrum()``: 625(−Δ + 25I)^(−2) on the unit periodic
domain.  By default the constant mode is left out (a mean-free field, ``mean_free=True``); the
reference (boon.md §13.4) leaves open whether the original did the same, so it is a switch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

__all__ = ["GRFSpectrum", "sample_periodic_grf", "sine_series_coefficients"]


@dataclass(frozen=True)
class GRFSpectrum:
    """Spectrum of the covariance a·(−Δ + s·I)^(−p) on an interval of length ``length``.

    Attributes:
        amplitude: a = σ² (625 for the FNO benchmark).
        shift: s = τ² (25 for the FNO benchmark).
        power: p (2 for the FNO benchmark).
        length: L, the interval length.
        mean_free: leave out the constant mode of the periodic basis.
    """

    amplitude: float = 625.0
    shift: float = 25.0
    power: float = 2.0
    length: float = 1.0
    mean_free: bool = True

    def __post_init__(self) -> None:
        if not self.amplitude > 0:
            raise ValueError(f"amplitude must be > 0, got {self.amplitude}")
        if not self.shift >= 0:
            raise ValueError(f"shift must be >= 0, got {self.shift}")
        if not self.power > 0:
            raise ValueError(f"power must be > 0, got {self.power}")
        if not self.length > 0:
            raise ValueError(f"length must be > 0, got {self.length}")
        if self.shift == 0 and not self.mean_free:
            raise ValueError("shift = 0 needs mean_free=True (the constant mode has λ = ∞)")

    def eigenvalue(self, wavenumber: FloatArray) -> FloatArray:
        """λ(κ) = a·(κ² + s)^(−p) for wavenumbers ``κ: (...)``; returns ``(...)``."""
        kappa = np.asarray(wavenumber, dtype=np.float64)
        return self.amplitude * (kappa**2 + self.shift) ** (-self.power)

    def periodic_eigenvalues(self, n_modes: int) -> FloatArray:
        """λ_k for k = 0 … n_modes−1 of the periodic basis, ``(n_modes,)``; λ_0 = 0 if mean-free."""
        k = np.arange(n_modes, dtype=np.float64)
        lam = self.eigenvalue(2.0 * np.pi * k / self.length)
        if self.mean_free:
            lam[0] = 0.0
        return lam

    def dirichlet_eigenvalues(self, n_modes: int) -> FloatArray:
        """λ_n for n = 1 … n_modes of the Dirichlet sine basis, ``(n_modes,)``."""
        n = np.arange(1, n_modes + 1, dtype=np.float64)
        return self.eigenvalue(np.pi * n / self.length)

    def periodic_covariance(self, lag: FloatArray, n_modes: int) -> FloatArray:
        """C(x, y) = (1/L)[λ_0 + 2 Σ_{k=1}^{n_modes−1} λ_k cos(2πk(x−y)/L)].

        ``lag = x − y: (...)``; returns ``(...)``.
        """
        lam = self.periodic_eigenvalues(n_modes)
        k = np.arange(n_modes, dtype=np.float64)
        weight = np.where(k == 0, 1.0, 2.0) * lam / self.length
        phase = 2.0 * np.pi * np.multiply.outer(np.asarray(lag, dtype=np.float64), k) / self.length
        return np.asarray(np.cos(phase) @ weight)


def sample_periodic_grf(
    spectrum: GRFSpectrum, n_samples: int, n_x: int, rng: np.random.Generator
) -> FloatArray:
    """Samples on the open periodic grid x_j = jL/n_x, j = 0 … n_x−1; returns ``(n_samples, n_x)``.

    All modes k < n_x/2 are used (the Nyquist mode is left out so that every retained mode
    carries both a cosine and a sine).  The field is synthesised exactly by an inverse real FFT:
    u_j = (1/n)[c_0 + 2 Σ_k Re(c_k e^{2πijk/n})] with c_k = n·√(λ_k/(2L))·(ξ_k − iη_k) for k ≥ 1
    and c_0 = n·√(λ_0/L)·ξ_0.
    """
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    if n_x < 4:
        raise ValueError(f"n_x must be >= 4, got {n_x}")
    n_modes = (n_x + 1) // 2  # k = 0 … ceil(n/2)−1, i.e. strictly below Nyquist
    lam = spectrum.periodic_eigenvalues(n_modes)
    xi = rng.standard_normal((n_samples, n_modes))
    eta = rng.standard_normal((n_samples, n_modes))
    scale = np.sqrt(lam / (2.0 * spectrum.length))
    scale[0] = np.sqrt(lam[0] / spectrum.length)
    coeffs = np.zeros((n_samples, n_x // 2 + 1), dtype=np.complex128)
    coeffs[:, :n_modes] = n_x * scale * (xi - 1j * eta)
    coeffs[:, 0] = n_x * scale[0] * xi[:, 0]
    return np.fft.irfft(coeffs, n=n_x, axis=-1)


def sine_series_coefficients(
    spectrum: GRFSpectrum, n_samples: int, n_modes: int, rng: np.random.Generator
) -> FloatArray:
    """Coefficients b_n of u = Σ_{n=1}^{n_modes} b_n sin(nπx/L) for the Dirichlet-basis field.

    b_n = √(2λ_n/L)·ξ_n with ξ_n ~ N(0, 1), i.e. the field has covariance C restricted to the
    first ``n_modes`` sine modes.  Returns ``(n_samples, n_modes)``.
    """
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    if n_modes < 1:
        raise ValueError(f"n_modes must be >= 1, got {n_modes}")
    lam = spectrum.dirichlet_eigenvalues(n_modes)
    return np.sqrt(2.0 * lam / spectrum.length) * rng.standard_normal((n_samples, n_modes))
