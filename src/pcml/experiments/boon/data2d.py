r"""2-D BOON data adapters: datasets → model tensors (B, C, x, y[, t]), wall data, lift, curl.

Layout (channels-first, grid axes (x, y, t), fields indexed ``[b, c, i(x), j(y), k(t)]``):

* ``x``: the input frame a = f(·, 0): ``(N, C, n_x, n_x)``;
* ``y``: the 25 target frames: ``(N, C, n_x, n_x, T)``;
* ``lift`` (cavity): L = the prescribed wall values of each channel on the wall nodes, 0 inside,
  ``(N, C, n_x, n_x)`` (constant in time);
* wall data per face ``"x_lower" | "x_upper" | "y_lower" | "y_upper"``: ``(N, C, n_x, 1)`` — the
  prescribed value (Dirichlet) or flux (Neumann) at each wall node, the trailing 1 broadcasting
  over the T frames (both cases have time-independent wall data).

Channels: cavity (u, v) — velocity, where the Dirichlet data are physical; wave2d (u,).

:func:`curl` is the discrete vorticity ω = ∂v/∂x − ∂u/∂y (second-order central differences
inside, second-order one-sided at the walls, ``torch.gradient(edge_order=2)``); the experiment
applies the same operator to prediction and truth, so the vorticity error measures the model,
not the stencil.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from pcml.data import PDEData

__all__ = [
    "CHANNELS",
    "FACES",
    "build_case_data",
    "build_splits",
    "curl",
    "lift_from_walls",
    "to_tensors",
    "wall_data",
    "wave_modes",
]

FACES: tuple[str, ...] = ("x_lower", "x_upper", "y_lower", "y_upper")
CHANNELS: dict[str, tuple[str, ...]] = {"cavity": ("u", "v"), "wave2d": ("u",)}
N_FRAMES = 25


def build_case_data(
    case: str, n_traj: int, n_x: int, seed: int, refine: int | None = None, **kw: Any
) -> PDEData:
    """``n_traj`` trajectories of ``case`` on ``n_x`` nodes per axis (n = n_x − 1), 25 frames.

    cavity: :func:`pcml.pdes.cavity_datasets.build_cavity_dataset` simulated on ``refine`` × n
    intervals (default 2) and subsampled; wave2d: the exact cosine series.
    """
    if case == "cavity":
        from pcml.pdes.cavity_datasets import build_cavity_dataset

        return build_cavity_dataset(n_traj, n_x - 1, N_FRAMES, seed, refine=refine or 2, **kw)
    if case == "wave2d":
        from pcml.pdes.wave2d import build_wave2d_dataset

        if refine is not None:
            raise ValueError(f"refine applies to the cavity only, got refine={refine} for wave2d")
        kw.setdefault("n_modes", wave_modes(n_x))
        return build_wave2d_dataset(n_traj, n_x - 1, N_FRAMES, seed, **kw)
    raise ValueError(f"case must be one of {tuple(CHANNELS)}, got {case!r}")


def wave_modes(n_x: int) -> int:
    """Cosine modes K = min(8, max(2, n_x // 4)) of the wave data on ``n_x`` nodes per axis.

    The highest mode cos((K−1)πx) then has ≥ 2(n_x − 1)/(K − 1) ≥ 8 nodes per wavelength for
    n_x ≤ 32 (paper grid 50: K = 8, the generator's default), so the one-sided Neumann stencils
    that BOON enforces hold on the exact data up to a small truncation error (reported as the
    data floor); with K = 8 on 16 nodes the truth itself would violate them at O(1).
    """
    return min(8, max(2, n_x // 4))


def build_splits(
    case: str, n_train: int, n_test: int, n_x: int, seed: int, eval_2x: bool = True
) -> dict[str, PDEData]:
    """``{"train", "test"[, "test_2x"]}``: independent draws (data seeds ``seed``, ``seed + 1``).

    ``test_2x`` holds the test trajectories on 2(n_x − 1) + 1 nodes (spacing h/2). For the cavity
    it is simulated on the same grid as ``test`` (2n intervals: refine 1 instead of 2), so ``test``
    equals ``test_2x`` at the even nodes: the 2× targets are the same flow, not a re-solve.
    """
    kw: dict[str, Any] = {"n_modes": wave_modes(n_x)} if case == "wave2d" else {}
    out = {
        "train": build_case_data(case, n_train, n_x, seed, **kw),
        "test": build_case_data(case, n_test, n_x, seed + 1, **kw),
    }
    if eval_2x:
        fine = 2 * (n_x - 1) + 1
        extra = {"refine": 1} if case == "cavity" else {}
        out["test_2x"] = build_case_data(case, n_test, fine, seed + 1, **kw, **extra)
    return out


def wall_data(data: PDEData, case: str) -> dict[str, Tensor]:
    """Prescribed wall data ``{face: (N, C, n_x, 1)}`` float32 (module docstring).

    cavity: Dirichlet u from ``data.boundary`` (lid U g(x), corners on the lid, 0 elsewhere) and
    v = 0 (:func:`pcml.pdes.cavity_datasets.cavity_boundary`); wave2d: the stored Neumann data (0).
    Never the target's own wall traces of a non-prescribed field.
    """
    n = data.n_traj
    per_channel: list[dict[str, np.ndarray]] = []
    if case == "cavity":
        from pcml.pdes.cavity_datasets import cavity_boundary

        sources = [cavity_boundary(data, "u"), cavity_boundary(data, "v")]
        kind = "dirichlet"
    elif case == "wave2d":
        sources = [tuple(data.boundary)]
        kind = "neumann"
    else:
        raise ValueError(f"case must be one of {tuple(CHANNELS)}, got {case!r}")
    for faces in sources:
        got = {b.face: b for b in faces}
        if set(got) != set(FACES) or any(b.kind != kind for b in faces):
            raise ValueError(f"{case}: expected {kind} data on faces {FACES}, got {sorted(got)}")
        vals = {}
        for face in FACES:
            v = np.asarray(got[face].values, dtype=np.float32)  # (n|1, 1, n_x)
            if v.ndim != 3 or v.shape[1] != 1:
                raise ValueError(
                    f"{case}: face {face} values must be time-independent, got {v.shape}"
                )
            vals[face] = np.broadcast_to(v[:, 0], (n, v.shape[-1]))
        per_channel.append(vals)
    return {
        f: torch.from_numpy(np.stack([c[f] for c in per_channel], axis=1).copy()).unsqueeze(-1)
        for f in FACES
    }


def lift_from_walls(walls: dict[str, Tensor]) -> Tensor:
    """L: (N, C, n_x, n_y) with the Dirichlet wall values on the wall nodes and 0 inside.

    ``walls[face]``: (N, C, n_wall, 1). Raises ``ValueError`` if two faces disagree at a corner
    (then no single field carries both).
    """
    xl, xu, yl, yu = (walls[f][..., 0] for f in FACES)
    n_x, n_y = yl.shape[-1], xl.shape[-1]
    corners = (
        (xl[..., 0], yl[..., 0]),
        (xl[..., -1], yu[..., 0]),
        (xu[..., 0], yl[..., -1]),
        (xu[..., -1], yu[..., -1]),
    )
    if any(not torch.equal(a, b) for a, b in corners):
        raise ValueError("lift_from_walls: the x and y faces disagree at a corner")
    lift = xl.new_zeros(*xl.shape[:2], n_x, n_y)
    lift[:, :, 0, :], lift[:, :, -1, :] = xl, xu
    lift[:, :, :, 0], lift[:, :, :, -1] = yl, yu
    return lift


def to_tensors(data: PDEData, case: str) -> dict[str, Tensor]:
    """``{"x": (N, C, n_x, n_x), "y": (N, C, n_x, n_x, T)}`` float32, plus ``"lift"`` (cavity)."""
    fields = [np.asarray(data.fields[c], dtype=np.float32) for c in CHANNELS[case]]
    stack = torch.from_numpy(np.stack(fields, axis=1))  # (N, C, steps, n_x, n_y)
    out = {"x": stack[:, :, 0].contiguous(), "y": stack[:, :, 1:].movedim(2, -1).contiguous()}
    if case == "cavity":
        out["lift"] = lift_from_walls(wall_data(data, case))
    return out


def curl(u: Tensor, v: Tensor, h: float) -> Tensor:
    """ω = ∂v/∂x − ∂u/∂y of ``u, v: (B, n_x, n_y, ...)`` on a uniform grid of spacing ``h``.

    Second-order central differences inside, second-order one-sided at the walls; same shape.
    """
    if u.shape != v.shape or u.ndim < 3:
        raise ValueError(
            f"curl: u and v must share a shape (B, n_x, n_y, ...), got {u.shape}, {v.shape}"
        )
    if not h > 0:
        raise ValueError(f"curl: h must be > 0, got {h}")
    (dv_dx,) = torch.gradient(v, spacing=h, dim=1, edge_order=2)
    (du_dy,) = torch.gradient(u, spacing=h, dim=2, edge_order=2)
    return dv_dx - du_dy
