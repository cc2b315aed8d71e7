r"""Non-periodic extension of spectral convolutions: the walls of a bounded axis are not neighbours
on the FFT circle, and the layer is a trapezoid rule for the integral operator on [x_0, x_{N−1}].

A spectral convolution on N nodes is circulant: on a closed grid of a bounded axis the two walls
are adjacent nodes of the FFT circle, so any boundary correction that solves for wall data mixes
the two walls through the kernel at offset ±h and scales with N (boon.md §15). Here every visible
spectral convolution :math:`\mathcal K` along a bounded axis (N nodes, spacing
:math:`h = 1/(N-1)`) is replaced by

.. math::
    (\tilde{\mathcal K} v)_p = \big(\mathcal K_M\, \mathrm{pad}_M(\tau v)\big)_p,\quad p < N,\qquad
    (\tau v)_q = w_q v_q,\ w_0 = w_{N-1} = \tfrac12,\ w_q = 1 \text{ otherwise},

with :math:`\mathrm{pad}_M` zero-padding to :math:`M = (1 + f)(N - 1)` nodes (f = ``fraction``,
default ¼; :math:`P = M - N` zeros after the last node; on the FFT paths M is rounded up to a
fast 5-smooth FFT length, :func:`extension_nodes`, so there f grows by at most 11 %). The FFT
period is then :math:`Mh = 1 + f` at every resolution, so the retained modes are the same
physical frequencies :math:`k/(1+f)`, and

.. math::
    (\tilde{\mathcal K} v)(x_p) = \frac{1}{M}\sum_{q} w_q\, k_M(p - q)\, v_q
    = \frac{1}{1+f}\int_0^1 \kappa(x_p - y)\, v(y)\, dy + O(h^2),

the composite trapezoid rule of a fixed integral operator with the band-limited kernel
:math:`\kappa` of period :math:`1 + f`. For smooth v the corrected layers therefore converge at
second order as the grid is refined (the plain FNO on a closed grid converges only at first order:
its period Nh = 1 + h moves with N), and the walls are :math:`fM/(1+f) \ge` a fixed distance f
apart across the padding. Applied to every spectral convolution and every bounded axis (each padded
independently; corners get the product weight ¼). On a non-uniform grid (``grid=`` of the call)
the weights :math:`w_q` are the grid's trapezoid weights divided by the mean spacing, so the
quadrature measure follows the actual nodes (the kernel is still read at index offsets, as in any
FFT layer). The pointwise paths (skip, bias, activation) are
untouched. Shapes: the hooked module's input (B, C, *grid) and output (B, C', *grid) are unchanged.

The extension is installed as forward hooks for the duration of one call (:func:`extended`), so the
wrapped module is unchanged outside BOON. It recognises pcml's
:class:`~pcml.models.fno.SpectralConv` and neuraloperator's
``neuralop.layers.spectral_convolution.SpectralConv`` (and its subclasses).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pcml.models.fno import SpectralConv, _retain

__all__ = [
    "AxisOps",
    "extended",
    "extension_nodes",
    "fft_length",
    "spectral_convs",
    "trapezoid_extend",
    "trapezoid_weights",
]


def fft_length(n: int) -> int:
    """The smallest 5-smooth number (2^a 3^b 5^c) >= n: an FFT length that pocketfft, cuFFT and
    MKL transform at full speed (a length with a large prime factor, e.g. 639 = 3²·71, costs up to
    several times more). 5-smooth numbers are dense: the next one is at most 11 % above n for
    n >= 100 (6 % for n >= 3,000; checked against a brute-force search in the tests)."""
    if n < 1:
        raise ValueError(f"fft_length: n must be >= 1, got {n}")
    best = 1 << (n - 1).bit_length()  # a power of two >= n
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def extension_nodes(n: int, fraction: float) -> int:
    r"""P zero nodes appended to N nodes on the FFT paths: M = N + P is the smallest 5-smooth
    length (:func:`fft_length`) >= the required :math:`N + \max(\mathrm{round}(f(N-1)) - 1, 1)
    \approx (1 + f)(N - 1)`. So the walls are at least f apart across the padding (the effective
    fraction :math:`f' = M/(N-1) - 1` is f up to 11 % of 1 + f for N >= 100, e.g. N = 512:
    required 639 = 3²·71, M = 640, f' = 0.2524; N = 128: 159 → 160, f' = 0.2598), and the
    transform runs at a fast length (N = 512 with neuraloperator's FNO: BOON / FNO
    forward+backward 1.5 at M = 639). On the nested grids N = 2^k + 1 with f = ¼ the required
    M = 5·2^(k−2) is already 5-smooth. pcml's closed forms (the 1-D GEMM path and the n-D
    bounded-axis matrices) do not depend on M: they use the exact period (1 + f)(N − 1)h = 1 + f
    at every N."""
    return fft_length(n + max(round(fraction * (n - 1)) - 1, 1)) - n


def _is_neuralop_spectral(m: nn.Module) -> bool:
    return any(
        c.__name__ == "SpectralConv" and c.__module__.startswith("neuralop")
        for c in type(m).__mro__
    )


def spectral_convs(operator: nn.Module) -> list[nn.Module]:
    """The spectral convolutions inside ``operator`` that the extension can correct (pcml's and
    neuraloperator's), in module order."""
    return [
        m for m in operator.modules() if isinstance(m, SpectralConv) or _is_neuralop_spectral(m)
    ]


def trapezoid_weights(coords: Tensor) -> Tensor | None:
    r"""Normalised trapezoid weights (N,) of a grid, :math:`w_q = (x_{q+1} - x_{q-1}) / (2\bar h)`
    (one-sided at the ends, :math:`\bar h = (x_{N-1} - x_0)/(N - 1)`); None for a uniform grid,
    whose weights are exactly ½, 1, …, 1, ½."""
    c = coords.to(torch.float64)
    d = c[1:] - c[:-1]
    hbar = (c[-1] - c[0]) / (c.numel() - 1)
    if bool(((d - hbar).abs() <= 1e-12 * hbar).all()):
        return None
    w = torch.zeros_like(c)
    w[:-1] += d / 2
    w[1:] += d / 2
    return w / hbar


def trapezoid_extend(
    v: Tensor,
    dims: Sequence[int],
    fraction: float,
    weights: Sequence[Tensor | None] | None = None,
) -> Tensor:
    """τ v zero-padded along ``dims`` (module docstring): ends halved (or, for a non-uniform grid,
    every node times its normalised trapezoid weight from ``weights``), P zeros appended."""
    for k, d in enumerate(dims):
        n = v.shape[d]
        w = None if weights is None else weights[k]
        pad = [0, 0] * (v.ndim - 1 - d) + [0, extension_nodes(n, fraction)]
        if w is None:  # one copy (cat), no in-place write: its backward is three views
            zeros = list(v.shape)
            zeros[d] = pad[-1]
            ends = 0.5 * torch.cat([v.narrow(d, 0, 1), v.narrow(d, n - 1, 1)], dim=d)
            v = torch.cat(
                [
                    ends.narrow(d, 0, 1),
                    v.narrow(d, 1, n - 2),
                    ends.narrow(d, 1, 1),
                    v.new_zeros(zeros),
                ],
                dim=d,
            )
        else:
            shape = [1] * v.ndim
            shape[d] = n
            v = F.pad(v * w.to(v).reshape(shape), pad)
    return v


#: Per bounded tensor dim, the hidden lift's linear part as float64 matrices (L (N, S), R (S, J),
#: Ψ (J, N)) of :func:`pcml.models.boon_lift.lift_operator`.
AxisOps = dict[int, tuple[Tensor, Tensor, Tensor]]


def _ones_weights(n: int, w: Tensor | None) -> Tensor:
    if w is None:
        w = torch.ones(n, dtype=torch.float64)
        w[0] = w[-1] = 0.5
    return w.to(torch.float64).cpu()


class _PcmlExtended:
    r"""The extended forward of pcml's :class:`SpectralConv` (installed as its ``extension``).

    Closed form (no extra full-size pass): along every bounded axis the truncated DFT is a matrix
    product, and the trapezoid weights and zero padding fold into the analysis matrix, the crop and
    the hidden lift's linear part into the synthesis matrix,

    .. math::
        A' = \mathrm{diag}(w)\, A_M[{:}N],\qquad
        S' = S_M[:, {:}N]\,(I - L R \Psi),\qquad
        \tilde{\mathcal K}v + \Lambda_g[\tilde{\mathcal K}v]
        = \mathcal S'\big(\mathrm{mix}(\mathcal A' v)\big) + \Lambda_g[0],

    (the lift is affine: :math:`\Lambda_g[u] = u\prod_d(I - L_dR_d\Psi_d) + \Lambda_g[0]`),
    with :math:`\Lambda_g[0]` computed once per call. The matrices use the exact period
    :math:`M = (1 + f)(N - 1)` nodes, not rounded to an integer (a rounded M makes the period
    :math:`Mh` depend on N by up to h/2, which shifts every retained frequency: on the
    experiments' grids 128 → 255 → 509 a trained model is sensitive to it), so the layer is the
    same continuum operator at every N; the FFT paths round M up to a 5-smooth length. 1-D uses
    the real GEMMs of pcml's DFT path, so the corrected layer costs the plain layer's two GEMMs
    plus one broadcast add; n-D (bounded axes not the last, rfft, axis) transforms the other axes
    by FFT as the plain layer and the bounded ones by complex GEMMs on the retained modes.
    Otherwise (a bounded last axis in n-D, or 1-D without the DFT path): weights, rfftn/irfftn on
    the padded grid (``s=``), crop, then ``lift``.
    """

    def __init__(
        self,
        dims: Sequence[int],
        fraction: float,
        weights: Sequence[Tensor | None] | None,
        lift: Callable[[Tensor], Tensor] | None,
        axis_ops: AxisOps | None,
    ) -> None:
        self.dims, self.fraction = list(dims), fraction
        self.weights = list(weights) if weights is not None else [None] * len(self.dims)
        self.lift, self.axis_ops = lift, axis_ops
        self._cache: dict[tuple, Tensor] = {}

    def _additive(self, v: Tensor) -> Tensor | None:
        """Λ_g[0] on the layer's grid, (B, 1, *grid), once per call and shape."""
        lift = self.lift
        if lift is None:
            return None
        key = ("add", tuple(v.shape[2:]), v.shape[0], v.dtype, v.device)
        if key not in self._cache:
            zero = v.new_zeros(v.shape[0], 1, *v.shape[2:])
            self._cache[key] = lift(zero)
        return self._cache[key]

    def _axis_mats(self, d: int, n: int, m: int, real: bool, v: Tensor) -> tuple[Tensor, Tensor]:
        """(A', S') along tensor dim ``d``: real interleaved (N, 2m)/(2m, N) for the 1-D DFT path,
        complex (N, 2m)/(2m, N) over the frequencies [0, m) ∪ [−m, 0) otherwise."""
        key = ("mats", d, n, m, real, v.dtype, v.device)
        if key not in self._cache:
            big = (1 + self.fraction) * (n - 1)  # the exact period in nodes (not rounded)
            w = _ones_weights(n, self.weights[self.dims.index(d)])
            p = torch.arange(n, dtype=torch.float64)
            if real:
                k = torch.arange(m, dtype=torch.float64)
                ang = 2 * math.pi * torch.outer(p, k) / big  # (N, m)
                ana = torch.stack([torch.cos(ang), -torch.sin(ang)], dim=-1).reshape(n, 2 * m)
                wk = torch.where(k == 0, 1.0, 2.0).to(torch.float64) / big
                syn = torch.stack([wk * torch.cos(ang), -wk * torch.sin(ang)], dim=-1)
                a_mat, s_mat = w[:, None] * ana, syn.reshape(n, 2 * m).T
            else:
                kf = torch.cat([torch.arange(m), torch.arange(-m, 0)]).to(torch.float64)
                ang = 2 * math.pi * torch.outer(p, kf) / big
                a_mat = torch.polar(w[:, None].expand(n, 2 * m), -ang)
                s_mat = torch.polar(torch.full((2 * m, n), 1.0 / big, dtype=torch.float64), ang.T)
            if self.axis_ops is not None and d in self.axis_ops:
                lmat, r_mat, psi = self.axis_ops[d]
                s_mat = s_mat - (s_mat @ lmat.to(s_mat.dtype)) @ (r_mat @ psi).to(s_mat.dtype)
            cplx = torch.complex128 if v.dtype == torch.float64 else torch.complex64
            cdt = v.dtype if real else cplx
            self._cache[(*key, "a")] = a_mat.to(dtype=cdt, device=v.device).contiguous()
            self._cache[(*key, "s")] = s_mat.to(dtype=cdt, device=v.device).contiguous()
        return self._cache[(*key, "a")], self._cache[(*key, "s")]

    def __call__(self, sc: SpectralConv, v: Tensor) -> Tensor:
        if any(v.shape[d] < 3 for d in self.dims):
            raise ValueError(f"BOON: bounded axes need >= 3 nodes, got shape {tuple(v.shape)}")
        last = 1 + sc.ndim
        if sc.ndim == 1:
            n = v.shape[-1]
            if not sc.uses_dft(n + extension_nodes(n, self.fraction)):
                return self._generic(sc, v)
            m = sc.n_modes[0]
            a_mat, s_mat = self._axis_mats(2, n, m, True, v)
            y = sc.mix(torch.view_as_complex((v @ a_mat).unflatten(-1, (m, 2))))
            out = torch.view_as_real(y).flatten(-2) @ s_mat
        elif last in self.dims:
            return self._generic(sc, v)
        else:
            out = self._closed_nd(sc, v)
        add = self._additive(v)
        return out if add is None else out + add

    def _closed_nd(self, sc: SpectralConv, v: Tensor) -> Tensor:
        grid = tuple(v.shape[2:])
        sc.check_grid(grid)
        nt, mt = grid[-1], sc.n_modes[-1]
        h = torch.fft.rfft(v, dim=-1).narrow(-1, 0, mt)
        for k in range(sc.ndim - 1):  # full axes, analysis
            d, n, m = 2 + k, grid[k], sc.n_modes[k]
            if d in self.dims:
                a_mat, _ = self._axis_mats(d, n, m, False, v)
                h = torch.movedim(torch.movedim(h, d, -1) @ a_mat, -1, d)
            else:
                h = torch.fft.fft(h, dim=d)
                h = torch.cat([h.narrow(d, 0, m), h.narrow(d, n - m, m)], dim=d)
        y = sc.mix(h)
        for k in range(sc.ndim - 1):  # full axes, synthesis
            d, n, m = 2 + k, grid[k], sc.n_modes[k]
            if d in self.dims:
                _, s_mat = self._axis_mats(d, n, m, False, v)
                y = torch.movedim(torch.movedim(y, d, -1) @ s_mat, -1, d)
            else:
                shape = list(y.shape)
                shape[d] = n - 2 * m
                y = torch.cat([y.narrow(d, 0, m), y.new_zeros(shape), y.narrow(d, m, m)], dim=d)
                y = torch.fft.ifft(y, dim=d)
        return torch.fft.irfft(y, n=nt, dim=-1)

    def _generic(self, sc: SpectralConv, v: Tensor) -> Tensor:
        grid = list(v.shape[2:])
        if any(v.shape[d] < 3 for d in self.dims):
            raise ValueError(f"BOON: bounded axes need >= 3 nodes, got shape {tuple(v.shape)}")
        for k, d in enumerate(self.dims):
            w = self.weights[k] if self.weights is not None else None
            n = v.shape[d]
            if w is None:
                w = torch.ones(n, dtype=torch.float64)
                w[0] = w[-1] = 0.5
            shape = [1] * v.ndim
            shape[d] = n
            v = v * w.to(v).reshape(shape)
            grid[d - 2] = n + extension_nodes(n, self.fraction)
        sc.check_grid(grid)
        fft_dims = list(range(2, 2 + sc.ndim))
        spec = _retain(torch.fft.rfftn(v, s=grid, dim=fft_dims), fft_dims, grid, sc.n_modes)
        out = sc.synthesize(sc.mix(spec), grid)
        for d in self.dims:
            out = out.narrow(d, 0, v.shape[d])
        return out if self.lift is None else self.lift(out)


@contextlib.contextmanager
def extended(
    convs: Sequence[nn.Module],
    dims: Sequence[int],
    fraction: float,
    weights: Sequence[Tensor | None] | None = None,
    lift: Callable[[Tensor], Tensor] | None = None,
    axis_ops: AxisOps | None = None,
) -> Iterator[None]:
    """Within the block, every module in ``convs`` acts as the trapezoid-extended operator along
    the tensor ``dims`` (module docstring; ``weights``: per dim the :func:`trapezoid_weights` of a
    non-uniform grid, or None), followed by ``lift`` (the hidden boundary lift, or None;
    ``axis_ops``: its linear part as matrices per bounded dim, for pcml's closed form). pcml's
    spectral convolutions get the extended forward as their ``extension`` attribute, others
    (neuraloperator) forward hooks. Everything is restored on exit, also on error."""
    if not dims or not convs:
        yield
        return
    sizes: list[tuple[int, ...]] = []

    def pre(_m: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        if kwargs.get("output_shape") is not None:
            raise ValueError(
                "BOON: the extended spectral convolution does not support output_shape "
                "(resolution scaling inside the operator)"
            )
        x = args[0] if args else kwargs.pop("x")
        if any(x.shape[d] < 3 for d in dims):
            raise ValueError(f"BOON: bounded axes need >= 3 nodes, got shape {tuple(x.shape)}")
        sizes.append(tuple(x.shape[d] for d in dims))
        return (trapezoid_extend(x, dims, fraction, weights), *args[1:]), kwargs

    def post(_m: nn.Module, _args: tuple, _kwargs: dict, out: Any) -> Any:
        ns = sizes.pop()
        for d, n in zip(dims, ns, strict=True):
            out = out.narrow(d, 0, n)
        if own.lift is None:
            return out
        # a data-only lift (identity linear part) is one broadcast add of Λ_g[0], cached per call
        return out + own._additive(out) if additive else own.lift(out)

    handles = []
    own = _PcmlExtended(dims, fraction, weights, lift, axis_ops)
    additive = own.axis_ops is not None and set(own.axis_ops) == set(dims)
    additive = additive and all(not bool(ops[0].any()) for ops in (axis_ops or {}).values())
    pcml = [m for m in convs if isinstance(m, SpectralConv)]
    try:
        for m in convs:
            if isinstance(m, SpectralConv):
                m.extension = own
            else:
                handles.append(m.register_forward_pre_hook(pre, with_kwargs=True))
                handles.append(m.register_forward_hook(post, with_kwargs=True))
        yield
    finally:
        for h in handles:
            h.remove()
        for m in pcml:
            m.extension = None


def check_fraction(fraction: float) -> float:
    """Validate the padding fraction f (finite, 0 < f <= 4)."""
    if not (isinstance(fraction, int | float) and math.isfinite(fraction) and 0 < fraction <= 4):
        raise ValueError(
            f"BOON: padding_fraction must be a finite number in (0, 4], got {fraction!r}"
        )
    return float(fraction)
