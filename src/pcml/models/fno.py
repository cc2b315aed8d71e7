r"""Fourier neural operator (Li et al. 2021) in 1, 2 and 3 dimensions, channels-first.

.. math::
    v_0 = P(a, \text{grid}),\qquad
    v_{l+1} = \sigma\big(\mathcal K_l v_l + W_l v_l + b_l\big),\qquad
    u = Q(v_L),\qquad
    \mathcal K_l v = \mathcal F^{-1}\big(R_l \cdot (\mathcal F v)|_{\text{modes}}\big),

with :math:`\sigma` = GELU on all but the last layer. :math:`\mathcal K_l` (:class:`SpectralConv`)
is linear and bias-free: complex weights :math:`R_l` on the lowest ``n_modes`` frequencies
(positive and negative along every axis but the last, which is the rfft axis), zero elsewhere.
:math:`W_l` is a 1×1 (pointwise) linear map with its bias :math:`b_l` kept separate, so
:class:`FourierLayer` exposes the two **linear** maps ``kernel(v)`` and ``skip(v)`` that the BOON
correction needs.

Shapes: input ``a``: (B, in_channels, *grid); output (B, out_channels, *grid); any resolution with
enough nodes for the modes (resolution-agnostic). With ``positional_embedding="grid"`` the
coordinates linspace(0, 1, N) of every axis are appended as channels (as the original FNO codes).
``padding`` zero-pads the end of the chosen axes after lifting and crops before projection (the
original FNO2d pads x and t by 9, FNO3d pads t by 6, FNO1d pads nothing).

**1-D transforms by GEMM.** Only the m lowest frequencies are kept, so in 1-D the truncated
forward transform and the inverse of the zero-filled spectrum are two real matrix products with
(N, 2m) and (2m, N) DFT matrices (cached per N, m, dtype, device) — the same linear maps as
rfft/irfft, exact to round-off. With ``transform="auto"`` (default) a SpectralConv uses them when
m <= min(32, N // 4), where a single-threaded CPU measurement found them 1.2–3x faster than
pocketfft's rfft+irfft forward and backward (N = 64–4096; the FFT also slows down 2–4x at sizes
with a large prime factor, e.g. N = 511 = 7·73, which the GEMM does not). ``"fft"`` forces the
FFT, ``"dft"`` the GEMM. 2-D and 3-D always use the FFT.

The default sizes reproduce the original parameter counts: FNO1d (16 modes, width 64, projection
128, 2 input channels incl. grid) = 549,569 (complex weights counted as two reals,
:func:`count_parameters`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["FNO", "FourierLayer", "SpectralConv", "count_parameters"]


def count_parameters(module: nn.Module) -> int:
    """Number of real parameters (a complex entry counts two), as the original ``count_params``."""
    return sum(p.numel() * (2 if p.is_complex() else 1) for p in module.parameters())


def _retain(z: Tensor, dims: Sequence[int], ns: Sequence[int], ms: Sequence[int]) -> Tensor:
    """Keep the retained modes of a (r)fft spectrum: along ``dims[:-1]`` (full axes) the indices
    0..m−1 and N−m..N−1, along ``dims[-1]`` (half axis) 0..m−1."""
    for k, (d, n, m) in enumerate(zip(dims, ns, ms, strict=True)):
        if k == len(dims) - 1:
            z = z.narrow(d, 0, m)
        else:
            z = torch.cat([z.narrow(d, 0, m), z.narrow(d, n - m, m)], dim=d)
    return z


def _zero_fill(z: Tensor, dims: Sequence[int], ns: Sequence[int], ms: Sequence[int]) -> Tensor:
    """Inverse of :func:`_retain`: the full (r)fft spectrum with zeros at dropped modes."""
    for k, (d, n, m) in enumerate(zip(dims, ns, ms, strict=True)):
        full = n // 2 + 1 if k == len(dims) - 1 else n
        shape = list(z.shape)
        shape[d] = full - (m if k == len(dims) - 1 else 2 * m)
        if shape[d] == 0:
            continue
        zeros = z.new_zeros(shape)
        if k == len(dims) - 1:
            z = torch.cat([z, zeros], dim=d)
        else:
            z = torch.cat([z.narrow(d, 0, m), zeros, z.narrow(d, m, m)], dim=d)
    return z


Transform = Literal["auto", "fft", "dft"]


@functools.lru_cache(maxsize=64)
def _dft_pair(n: int, m: int, dtype: torch.dtype, device: torch.device) -> tuple[Tensor, Tensor]:
    """Real truncated-DFT matrices for N nodes and m modes, interleaved (re, im) per mode.

    analysis (N, 2m): ``view_as_real(rfft(v)[:m]) = v @ analysis``; synthesis (2m, N):
    ``irfft(zero-filled z, N) = view_as_real(z) @ synthesis`` (the imaginary parts of the
    self-conjugate bins k = 0 and k = N/2 are ignored, as irfft does). Built in float64.
    """
    k = torch.arange(m, dtype=torch.float64)
    p = torch.arange(n, dtype=torch.float64)
    ang = 2 * math.pi * torch.outer(p, k) / n  # (N, m)
    analysis = torch.stack([torch.cos(ang), -torch.sin(ang)], dim=-1).reshape(n, 2 * m)
    w = torch.where((k == 0) | (2 * k == n), 1.0, 2.0).to(torch.float64) / n
    synthesis = torch.stack([w * torch.cos(ang), -w * torch.sin(ang)], dim=-1)  # (N, m, 2)
    synthesis = synthesis.reshape(n, 2 * m).T.contiguous()
    return analysis.to(dtype=dtype, device=device), synthesis.to(dtype=dtype, device=device)


@functools.lru_cache(maxsize=64)
def _analysis_with_ends(n: int, m: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """(N, 2m + 2): the analysis matrix of :func:`_dft_pair` followed by the unit columns e_0 and
    e_{N−1}, so one product also returns the two end values."""
    analysis, _ = _dft_pair(n, m, dtype, device)
    ends = torch.zeros(n, 2, dtype=dtype, device=device)
    ends[0, 0] = ends[n - 1, 1] = 1.0
    return torch.cat([analysis, ends], dim=1)


class SpectralConv(nn.Module):
    r"""Linear, bias-free spectral convolution :math:`\mathcal K v = \mathrm{irfftn}(R\cdot
    \mathrm{rfftn}(v)|_{\text{modes}})`.

    ``cweight``: (in_channels, out_channels, 2m_1, …, 2m_{d−1}, m_d) complex (stored as the real
    ``weight`` with a trailing dim of 2), initialised as
    scale·U[0,1)(1 + i) with scale = 1/(C_in C_out) (original FNO). Input (B, C_in, *grid), output
    (B, C_out, *grid). The map is circulant along every axis (per channel pair), which the BOON
    correction uses to read its boundary entries from the weights. ``transform``: how 1-D
    transforms are computed (module docstring); the result is the same linear map either way.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        n_modes: Sequence[int],
        transform: Transform = "auto",
    ) -> None:
        super().__init__()
        n_modes = tuple(int(m) for m in n_modes)
        if not 1 <= len(n_modes) <= 3 or min(n_modes) < 1:
            raise ValueError(f"SpectralConv: n_modes must hold 1–3 positive ints, got {n_modes}")
        if transform not in ("auto", "fft", "dft"):
            raise ValueError(
                f"SpectralConv: transform must be 'auto', 'fft' or 'dft', got {transform!r}"
            )
        self.transform = transform
        self.in_channels, self.out_channels, self.n_modes = in_channels, out_channels, n_modes
        shape = (*(2 * m for m in n_modes[:-1]), n_modes[-1])
        scale = 1.0 / (in_channels * out_channels)
        # stored as a real view (…, 2) so that .double()/.to(dtype) convert it like any parameter
        self.weight = nn.Parameter(scale * torch.rand(in_channels, out_channels, *shape, 2))
        #: set by BOON for the duration of one call: a callable (conv, v) -> output that replaces
        #: the plain forward by the boundary-extended one (pcml.models.boon_extension)
        self.extension: Callable[[SpectralConv, Tensor], Tensor] | None = None

    @property
    def cweight(self) -> Tensor:
        """The complex weights (C_in, C_out, *mode_shape)."""
        return torch.view_as_complex(self.weight)

    @property
    def ndim(self) -> int:
        return len(self.n_modes)

    def check_grid(self, grid: Sequence[int]) -> None:
        if len(grid) != self.ndim:
            raise ValueError(
                f"SpectralConv: expected a {self.ndim}-D grid, got shape {tuple(grid)}"
            )
        for k, (n, m) in enumerate(zip(grid, self.n_modes, strict=True)):
            need = m if k == self.ndim - 1 else 2 * m
            have = n // 2 + 1 if k == self.ndim - 1 else n
            if have < need:
                raise ValueError(
                    f"SpectralConv: grid axis {k} has {n} nodes, too few for {m} modes "
                    f"(need {'n//2+1' if k == self.ndim - 1 else 'n'} >= {need})"
                )

    def uses_dft(self, n: int) -> bool:
        """Whether a 1-D transform over ``n`` nodes is computed by GEMM (module docstring)."""
        if self.ndim != 1 or self.transform == "fft":
            return False
        m = self.n_modes[0]
        return self.transform == "dft" or m <= min(32, n // 4)

    def spectrum(self, v: Tensor) -> Tensor:
        """Retained rfftn coefficients of ``v`` (B, C_in, *grid) → (B, C_in, *mode_shape)."""
        grid = v.shape[2:]
        self.check_grid(grid)
        if self.uses_dft(grid[0]):
            m = self.n_modes[0]
            analysis, _ = _dft_pair(grid[0], m, v.dtype, v.device)
            return torch.view_as_complex((v @ analysis).unflatten(-1, (m, 2)))
        dims = list(range(2, 2 + self.ndim))
        return _retain(torch.fft.rfftn(v, dim=dims), dims, grid, self.n_modes)

    def spectrum_with_ends(self, v: Tensor) -> tuple[Tensor, Tensor]:
        """1-D: (``spectrum(v)``, v at nodes 0 and N−1 as (B, C_in, 2)). With the GEMM transform
        both come from one product, so the backward is one GEMM too (no scatter of the end
        gradients into a full-size zero tensor)."""
        n = v.shape[-1]
        if self.ndim != 1 or not self.uses_dft(n):
            return self.spectrum(v), v[..., :: max(n - 1, 1)]
        self.check_grid(v.shape[2:])
        m = self.n_modes[0]
        out = v @ _analysis_with_ends(n, m, v.dtype, v.device)
        spec = torch.view_as_complex(out[..., : 2 * m].unflatten(-1, (m, 2)))
        return spec, out[..., 2 * m :]

    def mix(self, vh: Tensor) -> Tensor:
        """Channel mixing per mode: (B, C_in, *mode_shape) → (B, C_out, *mode_shape)."""
        return torch.einsum("bi...,io...->bo...", vh, self.cweight.to(vh.dtype))

    def synthesize(self, uh: Tensor, grid: Sequence[int]) -> Tensor:
        """irfftn of retained coefficients (B, C, *mode_shape), zero elsewhere → (B, C, *grid)."""
        if self.uses_dft(grid[0]):
            m = self.n_modes[0]
            zr = torch.view_as_real(uh).flatten(-2)
            _, synthesis = _dft_pair(grid[0], m, zr.dtype, zr.device)
            return zr @ synthesis
        dims = list(range(2, 2 + self.ndim))
        full = _zero_fill(uh, dims, grid, self.n_modes)
        return torch.fft.irfftn(full, s=tuple(grid), dim=dims)

    def forward(self, v: Tensor) -> Tensor:
        if self.extension is not None:
            return self.extension(self, v)
        return self.synthesize(self.mix(self.spectrum(v)), v.shape[2:])


class FourierLayer(nn.Module):
    r"""One Fourier layer :math:`v \mapsto \sigma(\mathcal K v + W v + b)`.

    ``kernel(v)`` = :math:`\mathcal K v` (linear), ``skip(v)`` = :math:`W v` (linear, no bias),
    ``bias_field(ndim)`` = :math:`b` shaped (1, C, 1, …). ``activation``: apply GELU in ``forward``.
    """

    def __init__(
        self, in_channels: int, out_channels: int, n_modes: Sequence[int], activation: bool = True
    ) -> None:
        super().__init__()
        self.spectral = SpectralConv(in_channels, out_channels, n_modes)
        bound = 1.0 / math.sqrt(in_channels)  # nn.Conv1d(kernel_size=1) default init
        self.skip_weight = nn.Parameter(
            torch.empty(out_channels, in_channels).uniform_(-bound, bound)
        )
        self.bias = nn.Parameter(torch.empty(out_channels).uniform_(-bound, bound))
        self.activation = activation

    def kernel(self, v: Tensor) -> Tensor:
        return self.spectral(v)

    def skip(self, v: Tensor) -> Tensor:
        return torch.einsum("oi,bi...->bo...", self.skip_weight.to(v.dtype), v)

    def bias_field(self, ndim: int) -> Tensor:
        return self.bias.reshape(1, -1, *([1] * ndim))

    def forward(self, v: Tensor) -> Tensor:
        u = self.kernel(v) + self.skip(v) + self.bias_field(v.ndim - 2).to(v.dtype)
        return F.gelu(u) if self.activation else u


def _pointwise(linear: nn.Linear, v: Tensor) -> Tensor:
    """Apply a Linear over the channel dim of a channels-first tensor."""
    return linear(v.movedim(1, -1)).movedim(-1, 1)


class FNO(nn.Module):
    """Fourier neural operator (see module docstring); ``n_modes`` tuple gives the dimension.

    ``lifting_channels``: None = one linear lift (original), else a 2-layer GELU MLP of that width.
    ``projection_channels`` (default 128, original) or ``projection_channel_ratio`` × hidden.
    ``padding``: int (all axes) or per-axis tuple of trailing zero-padding.
    """

    def __init__(
        self,
        n_modes: Sequence[int],
        in_channels: int,
        out_channels: int,
        hidden_channels: int,
        n_layers: int = 4,
        lifting_channels: int | None = None,
        projection_channels: int = 128,
        projection_channel_ratio: float | None = None,
        positional_embedding: Literal["grid"] | None = "grid",
        padding: int | Sequence[int] = 0,
    ) -> None:
        super().__init__()
        self.n_modes = tuple(int(m) for m in n_modes)
        d = len(self.n_modes)
        if d not in (1, 2, 3):
            raise ValueError(f"FNO: n_modes must have length 1, 2 or 3, got {self.n_modes}")
        if positional_embedding not in ("grid", None):
            raise ValueError(
                f"FNO: positional_embedding must be 'grid' or None, got {positional_embedding!r}"
            )
        if n_layers < 1:
            raise ValueError(f"FNO: n_layers must be >= 1, got {n_layers}")
        pad = (int(padding),) * d if isinstance(padding, int) else tuple(int(p) for p in padding)
        if len(pad) != d or min(pad) < 0:
            raise ValueError(
                f"FNO: padding must be an int or {d} non-negative ints, got {padding!r}"
            )
        self.padding = pad
        self.in_channels, self.out_channels = in_channels, out_channels
        self.hidden_channels, self.n_layers = hidden_channels, n_layers
        self.positional_embedding = positional_embedding
        lift_in = in_channels + (d if positional_embedding == "grid" else 0)
        self.lifting: nn.Module
        if lifting_channels is None:
            self.lifting = nn.Linear(lift_in, hidden_channels)
        else:
            self.lifting = nn.Sequential(
                nn.Linear(lift_in, lifting_channels),
                nn.GELU(),
                nn.Linear(lifting_channels, hidden_channels),
            )
        self.layers = nn.ModuleList(
            FourierLayer(
                hidden_channels, hidden_channels, self.n_modes, activation=i < n_layers - 1
            )
            for i in range(n_layers)
        )
        proj = (
            projection_channels
            if projection_channel_ratio is None
            else round(projection_channel_ratio * hidden_channels)
        )
        self.projection_hidden = nn.Linear(hidden_channels, proj)
        self.projection_out = nn.Linear(proj, out_channels)

    @property
    def ndim(self) -> int:
        return len(self.n_modes)

    def lift(self, a: Tensor) -> Tensor:
        """(B, in_channels, *grid) → (B, hidden, *grid), grid channels appended first."""
        if a.ndim != 2 + self.ndim or a.shape[1] != self.in_channels:
            raise ValueError(
                f"FNO: input must have shape (B, {self.in_channels}, *grid) with {self.ndim} grid "
                f"axes, got {tuple(a.shape)}"
            )
        if self.positional_embedding == "grid":
            grid = a.shape[2:]
            axes = [torch.linspace(0.0, 1.0, n, dtype=a.dtype, device=a.device) for n in grid]
            mesh = torch.meshgrid(*axes, indexing="ij")
            emb = torch.stack(mesh).unsqueeze(0).expand(a.shape[0], -1, *grid)
            a = torch.cat([a, emb], dim=1)
        return _pointwise(self.lifting, a)  # type: ignore[arg-type]

    def pad(self, v: Tensor) -> Tensor:
        if not any(self.padding):
            return v
        spec: list[int] = []
        for p in reversed(self.padding):
            spec += [0, p]
        return F.pad(v, spec)

    def crop(self, v: Tensor, grid: Sequence[int]) -> Tensor:
        for k, n in enumerate(grid):
            if self.padding[k]:
                v = v.narrow(2 + k, 0, n)
        return v

    def project_hidden(self, v: Tensor) -> Tensor:
        """First projection layer, before its activation: (B, hidden, *grid) → (B, proj, *grid)."""
        return _pointwise(self.projection_hidden, v)

    def project_out(self, h: Tensor) -> Tensor:
        return _pointwise(self.projection_out, h)

    def forward(self, a: Tensor) -> Tensor:
        grid = a.shape[2:]
        v = self.pad(self.lift(a))
        for layer in self.layers:
            v = layer(v)
        v = self.crop(v, grid)
        return self.project_out(F.gelu(self.project_hidden(v)))
