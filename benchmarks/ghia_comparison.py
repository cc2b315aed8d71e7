"""Steady lid-driven cavity at Re = 100 vs Ghia, Ghia & Shin (1982), for the grids pcml's data use.

For each grid n (intervals) the solver of :mod:`pcml.pdes.cavity` (Thom walls, RK4, uniform lid
U = 1, ν = 0.01) runs from rest until max|∂ω/∂t| < 1e−3 (as tests/pdes/test_cavity.py), then the
centreline profiles u(0.5, y) and v(x, 0.5) are interpolated (cubic spline) at Ghia's 17 + 17
tabulated points (:mod:`pcml.pdes.ghia`, exact coordinates k/128). n = 30 is the simulation grid
of the quick-profile cavity data (16² nodes, refine 2); n = 98 would be the paper profile's (50²,
refine 2) and is left out for time.

Usage: ``python benchmarks/ghia_comparison.py [n ...]`` → prints a Markdown table and writes
``benchmarks/results/ghia.json`` atomically.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy.interpolate import CubicSpline

from pcml.pdes.cavity import simulate_cavity
from pcml.pdes.ghia import GHIA_RE, GHIA_U, GHIA_V, GHIA_X_INDEX, GHIA_Y_INDEX
from pcml.train.checkpoint import atomic_write

NU = 1.0 / GHIA_RE


def compare(n: int) -> dict[str, float]:
    """Deviations from Ghia's tables on the grid of ``n`` intervals (steady state)."""
    dt = 2.4 / np.hypot(8 * NU * n * n, 1.6 * n)
    t_max = np.ceil(60.0 / dt) * dt
    t0 = time.perf_counter()
    tr = simulate_cavity(1.0, n, [t_max], dt, nu=NU, steady_tol=1e-3)
    wall = time.perf_counter() - t0
    if not tr.steady_residual[0] < 1e-3:
        raise RuntimeError(f"n={n}: no steady state by t={t_max} (residual {tr.steady_residual})")
    s = np.linspace(0.0, 1.0, n + 1)
    u, v = tr.u[0, -1, n // 2, :], tr.v[0, -1, :, n // 2]
    if n % 2:  # odd n: the centreline x = 0.5 lies between nodes; interpolate across x
        u = 0.5 * (tr.u[0, -1, n // 2, :] + tr.u[0, -1, n // 2 + 1, :])
        v = 0.5 * (tr.v[0, -1, :, n // 2] + tr.v[0, -1, :, n // 2 + 1])
    dev_u = CubicSpline(s, u)(GHIA_Y_INDEX / 128) - GHIA_U
    dev_v = CubicSpline(s, v)(GHIA_X_INDEX / 128) - GHIA_V
    fine = np.linspace(0.0, 1.0, 2001)
    uf = CubicSpline(s, u)(fine)
    return {
        "n": n,
        "max_abs_dev_u": float(np.abs(dev_u).max()),
        "max_abs_dev_v": float(np.abs(dev_v).max()),
        "mean_abs_dev_u": float(np.abs(dev_u).mean()),
        "mean_abs_dev_v": float(np.abs(dev_v).mean()),
        "min_u_centreline": float(uf.min()),
        "y_of_min_u": float(fine[uf.argmin()]),
        "min_psi": float(tr.psi[0, -1].min()),
        "wall_s": wall,
    }


def main(ns: list[int]) -> None:
    rows = [compare(n) for n in ns]
    out = {
        "reference": "Ghia, Ghia & Shin 1982, Re = 100 (min u = -0.21090 at y = 0.4531 listed)",
        "solver": "pcml.pdes.cavity: vorticity-streamfunction, DST-I Poisson, Thom walls, RK4",
        "rows": rows,
    }
    path = Path(__file__).parent / "results" / "ghia.json"
    atomic_write(path, json.dumps(out, indent=2) + "\n")
    print("| n | max dev u | max dev v | mean dev u | mean dev v | min u (y) | min ψ | s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['n']} | {r['max_abs_dev_u']:.4f} | {r['max_abs_dev_v']:.4f} | "
            f"{r['mean_abs_dev_u']:.4f} | {r['mean_abs_dev_v']:.4f} | "
            f"{r['min_u_centreline']:.4f} ({r['y_of_min_u']:.3f}) | {r['min_psi']:.4f} | "
            f"{r['wall_s']:.0f} |"
        )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [30, 32, 48, 64])
