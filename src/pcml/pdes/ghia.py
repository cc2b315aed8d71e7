r"""Ghia, Ghia & Shin (1982) lid-driven cavity benchmark at Re = 100 (centreline velocities).

U. Ghia, K. N. Ghia, C. T. Shin, "High-Re solutions for incompressible flow using the
Navier–Stokes equations and a multigrid method", J. Comput. Phys. 48(3):387–411, 1982,
doi:10.1016/0021-9991(82)90058-4. Table I (u along the vertical line through the geometric
centre, x = 0.5) and Table II (v along the horizontal line through the centre, y = 0.5), the
Re = 100 columns, computed on a uniform 129 × 129 grid: every tabulated coordinate is k/128 rounded
to four digits (e.g. 0.9766 = 125/128). The values were checked against several independent public
transcriptions of the two tables (e.g. Oceananigans' and other solvers' validation scripts).

Unit square, lid y = 1 moving with u = 1, Re = U L/ν = 100. Arrays are ordered by increasing
coordinate, shape ``(17,)``. ``GHIA_Y_INDEX`` / ``GHIA_X_INDEX`` give the exact grid indices k of
the 129-node grid (coordinate = k/128), which pcml uses for interpolation instead of the rounded
four-digit coordinates.

Accuracy of the benchmark itself: later spectral solutions (e.g. min u ≈ −0.2140 on the vertical
centreline) differ from Ghia's Re = 100 values by up to ~3e−3, so a solver agreeing with the
tables to 1e−2 is consistent with a well-resolved solution.
"""

from __future__ import annotations

import numpy as np

# fmt: off
#: Table I, Re = 100: grid indices (of 129) and y of the tabulated points on x = 0.5.
GHIA_Y_INDEX = np.array([0, 7, 8, 9, 13, 22, 36, 58, 64, 79, 94, 109, 122, 123, 124, 125, 128])
GHIA_Y = np.array([
    0.0000, 0.0547, 0.0625, 0.0703, 0.1016, 0.1719, 0.2813, 0.4531, 0.5000,
    0.6172, 0.7344, 0.8516, 0.9531, 0.9609, 0.9688, 0.9766, 1.0000,
])
#: u(0.5, y) at GHIA_Y.
GHIA_U = np.array([
    0.00000, -0.03717, -0.04192, -0.04775, -0.06434, -0.10150, -0.15662, -0.21090, -0.20581,
    -0.13641, 0.00332, 0.23151, 0.68717, 0.73722, 0.78871, 0.84123, 1.00000,
])

#: Table II, Re = 100: grid indices (of 129) and x of the tabulated points on y = 0.5.
GHIA_X_INDEX = np.array([0, 8, 9, 10, 12, 20, 29, 30, 64, 103, 110, 116, 121, 122, 123, 124, 128])
GHIA_X = np.array([
    0.0000, 0.0625, 0.0703, 0.0781, 0.0938, 0.1563, 0.2266, 0.2344, 0.5000,
    0.8047, 0.8594, 0.9063, 0.9453, 0.9531, 0.9609, 0.9688, 1.0000,
])
#: v(x, 0.5) at GHIA_X.
GHIA_V = np.array([
    0.00000, 0.09233, 0.10091, 0.10890, 0.12317, 0.16077, 0.17507, 0.17527, 0.05454,
    -0.24533, -0.22445, -0.16914, -0.10313, -0.08864, -0.07391, -0.05906, 0.00000,
])
# fmt: on

#: Reynolds number of the tables.
GHIA_RE = 100.0
