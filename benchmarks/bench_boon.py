"""Forward+backward time of BOON / FNO per BC kind, against a straightforward original-style BOON.

Cases (issues #5, #13): 1-D (N=512, hidden 64, modes 16, batch 20), 1-D + time (N=256, T=32, hidden
32, modes 12×12, batch 8, time padded by 9 as the original BOON-2d; the FNO baseline uses the same
padding), and 1-D with neuraloperator's FNO (16 modes, width 64) wrapped by BOON, against that FNO.
``boon_*`` rows are BOON's default extension mode (spectral layers on the 25 %-padded grid, hidden
and output lifts), ``boon_channelwise_*`` the article's elimination in closed form. The "original"
variant re-implements the article's algorithm in the straightforward way (reference §4–§7, §14.1):
every wrapped linear map (K, and W with its bias) is called on two full-batch probe tensors twice
each, then on x, y and z — 7 full layer calls for Dirichlet, 6 for Neumann (right step only), 1 for
periodic. It lives here, not in the package.

pcml's 1-D spectral convolution computes its transforms by GEMM (``SpectralConv`` docstring); the
row ``fno_fft`` is the same FNO forced onto rfft/irfft, so the BOON/FNO ratios are against the
faster FNO. Periodic BOON runs on the N − 1 = 511 distinct nodes of the closed 512-node grid.
The extension pads a bounded axis on the FFT paths to the smallest 5-smooth length M >=
N + round(N/4 − 1/4) − 1 (``pcml.models.boon_extension.extension_nodes``; period ≈ 1.25): M = 640
for N = 512 (the plain rounding gave 639 = 3²·71, a slow FFT size: BOON / FNO 1.5 with
neuraloperator's FFT layers) and for the closed grid N = 513 = 2⁹ + 1; the ``1d_neuralop_513``
case shows that grid (pcml's 1-D layers use GEMMs with the exact period, where M does not matter).

Run with ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_boon.py`` (the machine is shared:
repetitions are interleaved across variants in a fresh seeded random order each time, and medians
of process CPU time and wall time are reported). Writes
``benchmarks/results/boon.json`` atomically.
"""

from __future__ import annotations

import copy
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from pcml.constraints.boundary import BoundaryConditions, Dirichlet, Neumann, Periodic
from pcml.models.boon import BOON
from pcml.models.fno import FNO, FourierLayer

KINDS = {
    "dirichlet": BoundaryConditions({"x": (Dirichlet(), Dirichlet())}),
    "neumann": BoundaryConditions({"x": (Neumann(1), Neumann(3))}),
    "periodic": BoundaryConditions({"x": (Periodic("closed"), Periodic("closed"))}),
}


# ----------------------------------------------------------------------------------------------
# Straightforward original algorithm (BC axis = grid dim 2), for timing only.
def _set(t: Tensor, index: int, value: Tensor | float) -> Tensor:
    t = t.clone()
    t[:, :, index] = value
    return t


def _orig_dirichlet(lin: Callable[[Tensor], Tensor], x: Tensor, al: Tensor, ar: Tensor) -> Tensor:
    e1, en = _set(torch.zeros_like(x), 0, 1.0), _set(torch.zeros_like(x), -1, 1.0)
    tol = 1e-7
    k00, kn0 = lin(e1)[0, 0, 0], lin(e1)[0, 0, -1]  # probes computed twice, as the original
    k0n, knn = lin(en)[0, 0, 0], lin(en)[0, 0, -1]
    knn = torch.where(knn.abs() < tol, tol, knn)
    kt = k00 - kn0 * k0n / knn
    kt = torch.where(kt.abs() < tol, tol, kt)
    kx = lin(x)
    y = _set(
        x, 0, 2 * x[:, :, 0] - (kx[:, :, 0] - k0n / knn * kx[:, :, -1] + k0n * x[:, :, -1]) / kt
    )
    ky = lin(y)
    z = _set(y, -1, 2 * y[:, :, -1] - ky[:, :, -1] / knn)
    t = lin(z)
    return _set(_set(t, 0, al), -1, ar)


def _orig_neumann(
    lin: Callable[[Tensor], Tensor], x: Tensor, gl: Tensor, gr: Tensor, h: float
) -> Tensor:
    en = _set(torch.zeros_like(x), -1, 1.0)
    e1 = _set(torch.zeros_like(x), 0, 1.0)
    _ = lin(e1), lin(e1)
    knn = lin(en)[0, 0, -1]
    knn = lin(en)[0, 0, -1]
    knn = torch.where(knn.abs() < 1e-7, 1e-7, knn)
    ky = lin(x)
    z = _set(x, -1, 2 * x[:, :, -1] - ky[:, :, -1] / knn)
    t = lin(z)
    left = gl + t[:, :, 1]
    right = 6 * h / 11 * gr + 18 / 11 * t[:, :, -2] - 9 / 11 * t[:, :, -3] + 2 / 11 * t[:, :, -4]
    return 0.5 * _set(_set(t, 0, left), -1, right)


def _orig_periodic(lin: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    t = lin(x)
    m = 0.5 * (t[:, :, 0] + t[:, :, -1])
    return _set(_set(t, 0, m), -1, m)


def original_boon(fno: FNO, kind: str, a: Tensor, lo: Tensor, hi: Tensor) -> Tensor:
    grid = a.shape[2:]
    v = fno.pad(fno.lift(a))
    lo_p = F.pad(lo, [0, v.shape[-1] - lo.shape[-1]]) if lo.ndim > 1 else lo
    hi_p = F.pad(hi, [0, v.shape[-1] - hi.shape[-1]]) if hi.ndim > 1 else hi
    lo_p, hi_p = lo_p.unsqueeze(1), hi_p.unsqueeze(1)
    h = 1.0 / (grid[0] - 1)

    def wrap(lin: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
        if kind == "dirichlet":
            return _orig_dirichlet(lin, x, lo_p, hi_p)
        if kind == "neumann":
            return _orig_neumann(lin, x, lo_p, hi_p, h)
        return _orig_periodic(lin, x)

    for layer in fno.layers:
        assert isinstance(layer, FourierLayer)
        w_lin = lambda x, layer=layer: layer.skip(x) + layer.bias_field(x.ndim - 2)  # noqa: E731
        u = wrap(layer.kernel, v) + wrap(w_lin, v)
        if layer.activation:
            g = F.gelu(u)
            v = torch.cat([u[:, :, :1], g[:, :, 1:-1], u[:, :, -1:]], dim=2)
        else:
            v = u
    v = fno.crop(v, grid)
    h1 = fno.project_hidden(v)
    h1 = torch.cat([h1[:, :, :1], F.gelu(h1[:, :, 1:-1]), h1[:, :, -1:]], dim=2)
    out = fno.project_out(h1)
    return (
        _orig_periodic(lambda t: t, out)
        if kind == "periodic"
        else _set(_set(out, 0, lo.unsqueeze(1)), -1, hi.unsqueeze(1))
    )


# ----------------------------------------------------------------------------------------------
def _time(fn: Callable[[], Tensor]) -> tuple[float, float]:
    """(wall, process CPU) seconds of one forward+backward."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn().square().mean().backward()
    return time.perf_counter() - w0, time.process_time() - c0


def _closed(a: Tensor) -> Tensor:
    """The input on a closed periodic grid along x (node N−1 repeats node 0)."""
    return torch.cat([a.narrow(2, 0, a.shape[2] - 1), a.narrow(2, 0, 1)], dim=2)


def pcml_variants(fno: FNO, a: Tensor) -> tuple[dict[str, Callable[[], Tensor]], list]:
    """FNO, BOON (extension, the default), BOON (channelwise elimination) and the original-style
    algorithm per BC kind, on pcml's FNO."""
    wall = (a.shape[0], *a.shape[3:])
    lo, hi = torch.randn(wall), torch.randn(wall)
    variants: dict[str, Callable[[], Tensor]] = {"fno": lambda: fno(a)}
    fno_fft = copy.deepcopy(fno)
    for layer in fno_fft.layers:
        assert isinstance(layer, FourierLayer)
        layer.spectral.transform = "fft"
    if fno.ndim == 1:  # pcml's 1-D FNO uses GEMM transforms; the same FNO on rfft/irfft, for scale
        variants["fno_fft"] = lambda: fno_fft(a)
    ac = _closed(a)
    for kind, bcs in KINDS.items():
        vals = None if kind == "periodic" else {"x": (lo, hi)}
        x = ac if kind == "periodic" else a
        for mode, key in (("extension", "boon"), ("channelwise", "boon_channelwise")):
            boon = BOON(fno, bcs, mode=mode)  # type: ignore[arg-type]
            variants[f"{key}_{kind}"] = lambda boon=boon, vals=vals, x=x: boon(x, vals)
        variants[f"original_{kind}"] = lambda kind=kind, x=x: original_boon(fno, kind, x, lo, hi)
    return variants, [fno, fno_fft]


def neuralop_variants(a: Tensor) -> tuple[dict[str, Callable[[], Tensor]], list]:
    """neuraloperator's FNO against BOON wrapping it (extension mode) per BC kind."""
    from neuralop.models import FNO as NeuralopFNO

    torch.manual_seed(0)
    fno = NeuralopFNO(n_modes=(16,), in_channels=1, out_channels=1, hidden_channels=64)
    wall = (a.shape[0], *a.shape[3:])
    lo, hi = torch.randn(wall), torch.randn(wall)
    variants: dict[str, Callable[[], Tensor]] = {"fno": lambda: fno(a)}
    ac = _closed(a)
    for kind, bcs in KINDS.items():
        vals = None if kind == "periodic" else {"x": (lo, hi)}
        x = ac if kind == "periodic" else a
        boon = BOON(fno, bcs)
        variants[f"boon_{kind}"] = lambda boon=boon, vals=vals, x=x: boon(x, vals)
    return variants, [fno]


def run_case(
    name: str,
    variants: dict[str, Callable[[], Tensor]],
    modules: list,
    shape: list[int],
    reps: int,
    warmup: int,
) -> dict:
    wall: dict[str, list[float]] = {k: [] for k in variants}
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(warmup):
        for fn in variants.values():
            _time(fn)
    order = list(variants)
    for r in range(reps):  # a fresh seeded order per repetition: no systematic position bias
        random.Random(r).shuffle(order)
        for k in order:
            fn = variants[k]
            for m in modules:
                m.zero_grad(set_to_none=True)
            w, c = _time(fn)
            wall[k].append(w)
            cpu[k].append(c)
    med_w = {k: statistics.median(v) for k, v in wall.items()}
    med_c = {k: statistics.median(v) for k, v in cpu.items()}
    res: dict = {
        "shape": shape,
        "reps": reps,
        "median_cpu_s": med_c,
        "median_wall_s": med_w,
        "ratio_to_fno_cpu": {k: med_c[k] / med_c["fno"] for k in med_c},
        "ratio_to_fno_wall": {k: med_w[k] / med_w["fno"] for k in med_w},
        # interference from other processes only adds time: the ratio of minima is a second,
        # load-robust estimate
        "ratio_to_fno_cpu_min": {k: min(cpu[k]) / min(cpu["fno"]) for k in cpu},
        "cpu_s": cpu,
        "wall_s": wall,
    }
    print(f"\n{name}: input {tuple(shape)}, {reps} interleaved reps, median fwd+bwd")
    print(f"{'variant':<28}{'cpu ms':>10}{'/ FNO':>8}{'min / FNO':>10}{'wall ms':>10}{'/ FNO':>8}")
    for k in med_c:
        rc, rw = res["ratio_to_fno_cpu"][k], res["ratio_to_fno_wall"][k]
        rm = res["ratio_to_fno_cpu_min"][k]
        print(
            f"{k:<28}{1e3 * med_c[k]:>10.1f}{rc:>8.2f}{rm:>10.2f}{1e3 * med_w[k]:>10.1f}{rw:>8.2f}"
        )
    return res


def _write_json(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main(reps: int = 9) -> None:
    torch.manual_seed(0)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    a1, a2 = torch.randn(20, 1, 512), torch.randn(8, 1, 256, 32)
    f1, f2 = FNO((16,), 1, 1, 64), FNO((12, 12), 1, 1, 32, padding=(0, 9))
    cases = {
        "1d": (*pcml_variants(f1, a1), list(a1.shape), reps, 2),
        "1d_time": (*pcml_variants(f2, a2), list(a2.shape), max(3, reps // 2), 1),
    }
    a513 = torch.randn(20, 1, 513)
    try:
        cases["1d_neuralop"] = (*neuralop_variants(a1), list(a1.shape), reps, 2)
        cases["1d_neuralop_513"] = (*neuralop_variants(a513), list(a513.shape), reps, 2)
    except ImportError:  # the [neuralop] extra is not installed
        print("neuraloperator not importable: the 1d_neuralop case is skipped")
    results = {
        "description": (
            "forward+backward time (process CPU time and wall time), median of interleaved "
            "repetitions, ratios to FNO; CPU time is the fairer measure on a shared machine. "
            "boon_* = BOON's default extension mode, boon_channelwise_* = the article's "
            "elimination (pcml's closed form), original_* = the article's straightforward "
            "algorithm; 1d_neuralop: neuraloperator's FNO (16 modes, width 64) and BOON wrapping "
            "it (ratios against that FNO). Periodic rows: closed grid (operator on N − 1 nodes)."
        ),
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "threads": torch.get_num_threads(),
        "target_boon_over_fno": 1.3,
        "cases": {k: run_case(k, *v) for k, v in cases.items()},
    }
    _write_json(Path(__file__).parent / "results" / "boon.json", results)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 9)
