"""FNO: parameter counts of the original models, spectral conv = dense DFT formula, linearity,
circulant structure and resolution invariance."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from pcml.models.fno import FNO, FourierLayer, SpectralConv, count_parameters

F64 = torch.float64


@pytest.mark.parametrize(
    ("modes", "width", "expected"),
    [
        ((16,), 64, 549_569),  # FNO1d (reference §2)
        ((12, 12), 32, 2_368_001),  # FNO2d (x, t)
        ((8, 8, 8), 20, 6_558_357 - 4 * 40),  # FNO3d without its four unused BatchNorm3d
    ],
)
def test_parameter_counts_match_original(modes, width, expected) -> None:
    assert count_parameters(FNO(modes, 1, 1, width)) == expected


def _dense_spectral_1d(weight: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Slow, obviously-correct 1-D formula: explicit DFT sums, irfft weighting (w_k = 1 at DC and
    Nyquist, 2 otherwise), imaginary parts of DC/Nyquist dropped as irfft does."""
    _, co, m = weight.shape
    b, _, n = v.shape
    q = np.arange(n)
    out = np.zeros((b, co, n))
    for k in range(m):
        xk = (v * np.exp(-2j * np.pi * k * q / n)).sum(-1)  # (B, Ci)
        yk = np.einsum("bi,io->bo", xk, weight[:, :, k])
        wk = 1.0 if k == 0 or 2 * k == n else 2.0
        if k == 0 or 2 * k == n:
            yk = yk.real + 0j
        out += wk / n * (yk[:, :, None] * np.exp(2j * np.pi * k * q / n)).real
    return out


@settings(max_examples=15)
@given(
    n=st.integers(8, 40),
    m=st.integers(1, 4),
    ci=st.integers(1, 3),
    co=st.integers(1, 3),
    seed=st.integers(0, 999),
)
def test_spectral_conv_1d_equals_dense_formula(n, m, ci, co, seed) -> None:
    torch.manual_seed(seed)
    conv = SpectralConv(ci, co, (m,)).to(F64)
    with torch.no_grad():
        conv.weight.normal_()
    v = torch.randn(2, ci, n, dtype=F64)
    expect = _dense_spectral_1d(conv.cweight.detach().numpy(), v.numpy())
    np.testing.assert_allclose(conv(v).detach().numpy(), expect, rtol=0, atol=1e-12)


@pytest.mark.parametrize("grid", [(12, 10), (10, 8, 9)])
def test_spectral_conv_is_linear_bias_free_and_circulant(grid) -> None:
    conv = SpectralConv(2, 3, (3,) * len(grid)).to(F64)
    u, w = torch.randn(2, 2, 2, *grid, dtype=F64)
    torch.testing.assert_close(conv(2.0 * u - 3.0 * w), 2.0 * conv(u) - 3.0 * conv(w))
    assert torch.equal(conv(torch.zeros_like(u)), torch.zeros(2, 3, *grid, dtype=F64))
    shifts, dims = (3, -2, 1)[: len(grid)], tuple(range(2, 2 + len(grid)))
    torch.testing.assert_close(
        conv(torch.roll(u, shifts, dims)), torch.roll(conv(u), shifts, dims), rtol=0, atol=1e-12
    )


@pytest.mark.parametrize("ndim", [1, 2])
def test_resolution_invariance_on_band_limited_input(ndim: int) -> None:
    """A trigonometric polynomial below the retained modes: K at N and 2N agree at shared nodes."""
    conv = SpectralConv(2, 2, (4,) * ndim).to(F64)

    def field(n: int) -> torch.Tensor:
        x = torch.arange(n, dtype=F64) / n
        mesh = torch.meshgrid(*([x] * ndim), indexing="ij")
        f = sum(torch.cos(2 * math.pi * (k + 1) * g + k) for k, g in enumerate(mesh))
        g = sum(torch.sin(2 * math.pi * 2 * g) for g in mesh)
        return torch.stack([f, g]).unsqueeze(0)

    coarse, fine = conv(field(16)), conv(field(32))
    sub = fine[(slice(None), slice(None)) + (slice(None, None, 2),) * ndim]
    torch.testing.assert_close(sub, coarse, rtol=0, atol=1e-12)


def test_fourier_layer_parts() -> None:
    layer = FourierLayer(3, 3, (4,)).to(F64)
    v = torch.randn(2, 3, 20, dtype=F64)
    lin = layer.kernel(v) + layer.skip(v)
    torch.testing.assert_close(layer(v), F.gelu(lin + layer.bias_field(1)))
    expect_skip = torch.einsum("oi,bin->bon", layer.skip_weight, v)
    torch.testing.assert_close(layer.skip(v), expect_skip)
    layer.activation = False
    torch.testing.assert_close(layer(v), lin + layer.bias.reshape(1, 3, 1))


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_fno_shapes_padding_and_resolutions(ndim: int) -> None:
    modes = (3,) * ndim
    model = FNO(modes, 2, 3, 6, padding=(0,) * (ndim - 1) + (4,), projection_channel_ratio=2.0)
    assert model.projection_hidden.out_features == 12
    for n in (10, 20):
        a = torch.randn(2, 2, *([n] * ndim))
        out = model(a)
        assert out.shape == (2, 3, *([n] * ndim)) and torch.isfinite(out).all()
    grid = model.lift(torch.zeros(1, 2, *([5] * ndim)))
    assert grid.shape == (1, 6, *([5] * ndim))


def test_positional_embedding_and_lifting_options() -> None:
    plain = FNO((4,), 1, 1, 8, positional_embedding=None, lifting_channels=16)
    assert count_parameters(plain.lifting) == (1 * 16 + 16) + (16 * 8 + 8)
    # the grid channel is linspace(0, 1, N): lifting a zero input gives W·[0, x] + b, affine in x
    model = FNO((4,), 1, 1, 8).to(F64)
    v = model.lift(torch.zeros(1, 1, 11, dtype=F64))
    second = v[..., 2:] - 2 * v[..., 1:-1] + v[..., :-2]
    assert second.abs().max() < 1e-12


@pytest.mark.parametrize("grid", [(11,), (2,), (7, 5)])
def test_grid_channels_are_linspace_0_1_including_both_ends(grid: tuple[int, ...]) -> None:
    """The appended coordinates are x_j = j/(N−1) on every axis (closed [0, 1], as the original
    FNO codes), not j/N: with a zero input the single linear lift gives v = W_x·x (+ W_y·y) + b,
    so solving for the coordinates from the model's own W and b recovers them exactly."""
    d = len(grid)
    model = FNO((1,) * d, 1, 1, 6).to(F64)
    assert isinstance(model.lifting, torch.nn.Linear)
    v = model.lift(torch.zeros(2, 1, *grid, dtype=F64))  # (2, 6, *grid)
    w, b = model.lifting.weight.detach(), model.lifting.bias.detach()  # (6, 1 + d), (6,)
    coords = [torch.linspace(0.0, 1.0, n, dtype=F64) for n in grid]
    mesh = torch.stack(torch.meshgrid(*coords, indexing="ij"))  # (d, *grid)
    expect = torch.einsum("cd,d...->c...", w[:, 1:], mesh) + b.view(-1, *([1] * d))
    torch.testing.assert_close(v[0], expect, rtol=0, atol=1e-14)
    torch.testing.assert_close(v[1], v[0], rtol=0, atol=0)
    # least squares for the coordinates at each node: the first node is 0, the last is exactly 1
    x = torch.linalg.lstsq(w[:, 1:], (v[0] - b.view(-1, *([1] * d))).reshape(6, -1)).solution
    torch.testing.assert_close(x, mesh.reshape(d, -1), rtol=0, atol=1e-12)


def test_fno_errors() -> None:
    with pytest.raises(ValueError, match="n_modes"):
        FNO((2, 2, 2, 2), 1, 1, 4)
    with pytest.raises(ValueError, match="padding"):
        FNO((2,), 1, 1, 4, padding=(1, 1))
    with pytest.raises(ValueError, match="positional_embedding"):
        FNO((2,), 1, 1, 4, positional_embedding="sine")  # type: ignore[arg-type]
    model = FNO((8,), 1, 1, 4)
    with pytest.raises(ValueError, match="input must have shape"):
        model(torch.randn(2, 3, 20))
    with pytest.raises(ValueError, match="too few"):
        model(torch.randn(2, 1, 10))
    with pytest.raises(ValueError, match="too few"):
        FNO((6, 3), 1, 1, 4)(torch.randn(1, 1, 10, 10))


@settings(max_examples=20)
@given(
    n=st.integers(4, 600),
    m=st.integers(1, 12),
    ci=st.integers(1, 3),
    co=st.integers(1, 3),
    seed=st.integers(0, 999),
)
def test_spectral_conv_1d_gemm_transform_equals_fft(n, m, ci, co, seed) -> None:
    """The GEMM transforms are the same linear map as rfft/irfft (values and input gradients),
    float64, for any N with enough nodes (odd, even, prime, N/2 + 1 = m)."""
    m = min(m, n // 2 + 1)
    torch.manual_seed(seed)
    fft, dft = SpectralConv(ci, co, (m,), "fft").to(F64), SpectralConv(ci, co, (m,), "dft").to(F64)
    with torch.no_grad():
        fft.weight.normal_()
        dft.weight.copy_(fft.weight)
    v = torch.randn(2, ci, n, dtype=F64, requires_grad=True)
    out_f, out_d = fft(v), dft(v)
    torch.testing.assert_close(
        out_d, out_f, rtol=0, atol=1e-12 * max(1.0, out_f.abs().max().item())
    )
    g = torch.randn_like(out_f)
    (gf,) = torch.autograd.grad(out_f, v, g)
    (gd,) = torch.autograd.grad(out_d, v, g)
    torch.testing.assert_close(gd, gf, rtol=0, atol=1e-12 * max(1.0, gf.abs().max().item()))
    spec, ends = dft.spectrum_with_ends(v)
    torch.testing.assert_close(spec, fft.spectrum(v), rtol=0, atol=1e-10)
    assert torch.equal(ends, v[..., [0, n - 1]])


def test_spectral_conv_transform_choice() -> None:
    auto = SpectralConv(1, 1, (16,))
    assert auto.uses_dft(512) and auto.uses_dft(511) and auto.uses_dft(64)
    assert not auto.uses_dft(63)  # m > N // 4: the FFT
    assert not SpectralConv(1, 1, (33,)).uses_dft(4096)  # m > 32
    assert not SpectralConv(1, 1, (16,), "fft").uses_dft(512)
    assert not SpectralConv(1, 1, (4, 4)).uses_dft(64)  # 2-D: always the FFT
    with pytest.raises(ValueError, match="transform must be"):
        SpectralConv(1, 1, (4,), "fast")  # type: ignore[arg-type]
