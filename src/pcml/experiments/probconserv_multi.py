"""ProbConserv with several linear laws at once, and in 2-D, on an exact-GP backbone.

Both experiments condition a GP's joint Gaussian prediction N(μ, Σ) (dense Σ, from
:class:`pcml.models.ExactGP` with ``full_cov=True``) on G u = b exactly (σ_G = 0) with
:func:`pcml.constraints.conserve`, G of shape (m, n):

1. ``space-time`` (1-D problem of pcml.pdes.gpme, default PME): the query is the whole
   T × n_x space-time grid u ∈ R^{T·n_x}. Methods:
   - ``gp``: no constraint;
   - ``pc_slice_diag``: mass per time slice with the GP's marginal variances only (m = 1 per
     slice, the ANP practice of the article);
   - ``pc_slice``: mass per slice with the slice's spatial covariance block (m = 1 per slice);
   - ``pc_joint``: the masses of all T slices jointly with the full space-time covariance
     (m = T, G block-diagonal): a mass error at one time also corrects the others;
   - ``pc_joint_bc``: the T masses and the T Dirichlet values u(t_k, x_min) (m = 2T).
2. ``2-D`` (:class:`pcml.pdes.diffusion2d.Diffusion2D`, the heat equation on the unit square):
   the query is the N × N grid at t*; G has rows for the mass and the x- and y-moments (tensor
   trapezoid weights). Methods ``gp``, ``pc_mass_diag`` (mass, marginal variances only),
   ``pc_mass`` (mass, dense Σ) and ``pc_moments`` (all three laws, dense Σ, m = 3).

Conditioning is exact Gaussian conditioning (`conserve`, which refines its mean once where one
solve leaves a relative residual above 1e-13, as the ill-conditioned S = GΣGᵀ of a smooth GP
does). Reported per method, averaged over the test functions: MSE of the
mean against the closed form on the grid, the mean log-likelihood per point (marginal Gaussians)
and, for every law, the largest relative residual |g_kᵀμ̃ − b_k| / |b_k| over rows and
functions. GP hyper-parameters are shared and fitted by Adam on the summed log marginal
likelihood of the training functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from pcml.constraints import conserve, quadrature_weights
from pcml.experiments.rundir import RunDir
from pcml.metrics.probabilistic import gaussian_log_likelihood
from pcml.models import ExactGP
from pcml.pdes.diffusion2d import Diffusion2D, moment_rows, square_grid
from pcml.pdes.gpme import get_problem
from pcml.pdes.tasks import make_split

__all__ = ["MultiConfig", "format_multi_table", "run_2d", "run_multi", "run_spacetime"]

_F64 = torch.float64
_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {"int": int, "float": (int, float), "str": str}


@dataclass(frozen=True)
class MultiConfig:
    """Sizes of both experiments (the defaults run in seconds on one core).

    n_train: GP hyper-parameter fit functions; fit_steps, fit_lr: Adam on their LML;
    n_test: test functions; problem, n_times, n_x: the space-time grid (times
    linspace(t_lo, t1, n_times) with t_lo = t1/n_times, x: n_x points); n_context: 2-D context
    points per function (random (t, x, y)); grid: 2-D points per side at t*."""

    problem: str = "pme"
    n_train: int = 8
    n_test: int = 10
    fit_steps: int = 60
    fit_lr: float = 0.05
    n_times: int = 10
    n_x: int = 41
    n_context: int = 80
    grid: int = 21
    seed: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            kind = _FIELD_TYPES[str(f.type)]
            if isinstance(value, bool) or not isinstance(value, kind):
                raise ValueError(f"{f.name}: expected {f.type}, got {value!r}")
        for name in ("n_train", "n_test", "fit_steps", "n_times", "n_context"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: expected >= 1, got {getattr(self, name)}")
        if self.n_x < 3 or self.grid < 3:
            raise ValueError(f"n_x, grid: expected >= 3, got {self.n_x}, {self.grid}")
        get_problem(self.problem)


def _fit(gp: ExactGP, x: Tensor, y: Tensor, steps: int, lr: float) -> None:
    """Adam on −Σ_b log p(y_b | θ) / N over training functions ``x (B, N, d)``, ``y (B, N, 1)``."""
    opt = torch.optim.Adam(gp.parameters(), lr=lr)
    batch = {"context_x": x, "context_y": y, "target_x": x[:, :0], "target_y": y[:, :0]}
    for _ in range(steps):
        opt.zero_grad()
        gp.loss(batch).backward()
        opt.step()


def _condition(
    mu: Tensor, G: Tensor, b: Tensor, *, var: Tensor | None = None, cov: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """(μ̃, diag Σ̃) of N(μ, Σ) given G u = b (σ_G = 0).

    A smooth GP covariance over a space-time grid makes S = GΣGᵀ ill-conditioned (measured
    cond(S) ≈ 1.6e11 for the ten Stefan mass rows); `conserve` then refines its mean once
    (relative residual ≈ 3e-10 after one solve, round-off after the refinement)."""
    post = conserve(mu, var, cov, G=G, b=b)
    return post.mean, post.variance


def _summary(
    mean: Tensor, var: Tensor, truth: Tensor, G: Tensor, b: Tensor, laws: dict[str, Tensor]
) -> dict[str, float]:
    """mse, ll and per law the max relative residual; mean (B, n), G rows grouped by ``laws``
    (name -> row indices), b (B, m)."""
    res = (mean @ G.T - b).abs() / b.abs().clamp_min(1e-300)
    out = {
        "mse": float((mean - truth).square().mean()),
        "ll": float(gaussian_log_likelihood(mean, var.clamp_min(1e-12), truth).mean()),
    }
    for name, rows in laws.items():
        out[f"residual_{name}"] = float(res[:, rows].max())
    return out


def run_spacetime(cfg: MultiConfig) -> dict[str, dict[str, float]]:
    """Experiment 1 (module docstring): {method: {mse, ll, residual_mass, residual_dirichlet}}."""
    prob = get_problem(cfg.problem)
    t1 = prob.t_range[1]
    times = np.linspace(t1 / cfg.n_times, t1, cfg.n_times)
    x = np.linspace(*prob.x_range, cfg.n_x)
    train = make_split(prob, "train", cfg.n_train, cfg.seed)
    test = make_split(prob, "test", cfg.n_test * len(prob.test_values), cfg.seed)
    gp = ExactGP(2, "rbf", lengthscale=0.3, outputscale=0.5, noise=1e-4)
    tx = torch.as_tensor(np.concatenate([train.context_inputs, train.target_inputs], 1))
    ty = torch.as_tensor(np.concatenate([train.context_values, train.target_values], 1))
    _fit(gp, tx, ty, cfg.fit_steps, cfg.fit_lr)

    tt, xx = np.meshgrid(times, x, indexing="ij")
    q = torch.as_tensor(np.stack([tt, xx], -1).reshape(-1, 2))
    n_fn, T, n = test.n_functions, times.size, x.size
    with torch.no_grad():
        pred = gp.predict(
            torch.as_tensor(test.context_inputs),
            torch.as_tensor(test.context_values),
            q.expand(n_fn, -1, -1),
            full_cov=True,
        )
    assert pred.covariances is not None
    mu, var, cov = pred.means[0].to(_F64), pred.variances[0].to(_F64), pred.covariances[0]
    cov = cov.to(_F64)
    p = test.params[:, None]
    truth = torch.as_tensor(prob.solution(tt.reshape(1, -1), xx.reshape(1, -1), p))
    mass = torch.as_tensor(prob.mass(times[None, :], p))  # (B, T)
    inflow = torch.as_tensor(prob.inflow_value(times[None, :], p))  # (B, T)
    g = quadrature_weights(torch.as_tensor(x))
    G_mass = torch.block_diag(*[g[None, :]] * T)  # (T, T·n)
    e0 = torch.zeros(n, dtype=_F64)
    e0[0] = 1.0
    G_bc = torch.block_diag(*[e0[None, :]] * T)
    G_all = torch.cat([G_mass, G_bc])
    b_all = torch.cat([mass, inflow], -1)
    laws = {"mass": torch.arange(T), "dirichlet": torch.arange(T, 2 * T)}

    def report(mean: Tensor, variance: Tensor) -> dict[str, float]:
        return _summary(mean, variance, truth, G_all, b_all, laws)

    out = {"gp": report(mu, var)}
    # per slice (one row each, G (1, n) and b (B, T, 1)), marginal variances only
    g1, m1 = g[None, :], mass[..., None]
    m, v = _condition(mu.reshape(n_fn, T, n), g1, m1, var=var.reshape(n_fn, T, n))
    out["pc_slice_diag"] = report(m.reshape(n_fn, -1), v.reshape(n_fn, -1))
    # per slice with the slice's spatial covariance block
    blocks = cov.reshape(n_fn, T, n, T, n).diagonal(dim1=1, dim2=3).permute(0, 3, 1, 2)
    m, v = _condition(mu.reshape(n_fn, T, n), g1, m1, cov=blocks)
    out["pc_slice"] = report(m.reshape(n_fn, -1), v.reshape(n_fn, -1))
    out["pc_joint"] = report(*_condition(mu, G_mass, mass, cov=cov))
    out["pc_joint_bc"] = report(*_condition(mu, G_all, b_all, cov=cov))
    return out


def run_2d(cfg: MultiConfig) -> dict[str, dict[str, float]]:
    """Experiment 2 (module docstring): {method: {mse, ll, residual_mass, residual_x, ...}}."""
    prob = Diffusion2D()
    rng = np.random.default_rng([cfg.seed, 2])

    def points(n_fn: int, kappa: np.ndarray) -> tuple[Tensor, Tensor]:
        tx = rng.uniform(0.0, 1.0, (n_fn, cfg.n_context, 3))
        tx[..., 0] *= prob.t_range[1]
        u = prob.solution(tx[..., 0], tx[..., 1], tx[..., 2], kappa[:, None])
        return torch.as_tensor(tx), torch.as_tensor(u[..., None])

    gp = ExactGP(3, "rbf", lengthscale=0.3, outputscale=0.5, noise=1e-4)
    tx, ty = points(cfg.n_train, rng.uniform(*prob.train_range, cfg.n_train))
    _fit(gp, tx, ty, cfg.fit_steps, cfg.fit_lr)

    kappa = rng.uniform(*prob.train_range, cfg.n_test)
    cx, cy = points(cfg.n_test, kappa)
    gx, gy = square_grid(cfg.grid)
    q = torch.stack([torch.full_like(gx, prob.t_star), gx, gy], -1)
    with torch.no_grad():
        pred = gp.predict(cx, cy, q.expand(cfg.n_test, -1, -1), full_cov=True)
    assert pred.covariances is not None
    mu, var = pred.means[0].to(_F64), pred.variances[0].to(_F64)
    cov = pred.covariances[0].to(_F64)
    truth = torch.as_tensor(
        prob.solution(prob.t_star, gx.numpy()[None], gy.numpy()[None], kappa[:, None])
    )
    G = moment_rows(cfg.grid)
    b = torch.as_tensor(prob.moments(prob.t_star, kappa))  # (B, 3)
    laws = {"mass": torch.tensor([0]), "x": torch.tensor([1]), "y": torch.tensor([2])}

    def report(mean: Tensor, variance: Tensor) -> dict[str, float]:
        return _summary(mean, variance, truth, G, b, laws)

    out = {"gp": report(mu, var)}
    out["pc_mass_diag"] = report(*_condition(mu, G[:1], b[:, :1], var=var))
    out["pc_mass"] = report(*_condition(mu, G[:1], b[:, :1], cov=cov))
    out["pc_moments"] = report(*_condition(mu, G, b, cov=cov))
    return out


def run_multi(cfg: MultiConfig, out: str | Path, command: str | None = None) -> dict[str, Any]:
    """Both experiments; writes config.toml, command.txt, metrics.json and table.md in ``out``."""
    rd = RunDir(out)
    rd.start(cfg, command)
    torch.manual_seed(cfg.seed)
    results = {
        f"space-time ({cfg.problem})": run_spacetime(cfg),
        "2-D heat (mass, x-, y-moment)": run_2d(cfg),
    }
    rd.write_metrics(results)
    rd.write_table(format_multi_table(results))
    return results


def format_multi_table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    """Markdown: one table per experiment, a column per metric."""
    lines: list[str] = []
    for name, rows in results.items():
        keys = list(next(iter(rows.values())))
        lines += [f"\n### {name}\n", "| method | " + " | ".join(keys) + " |"]
        lines.append("|---" * (len(keys) + 1) + "|")
        for method, m in rows.items():
            cells = [_fmt(m[k]) for k in keys]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines).lstrip("\n") + "\n"


def _fmt(v: Any) -> str:
    if isinstance(v, float) and math.isfinite(v):
        return f"{v:.3e}" if abs(v) < 1e-2 or abs(v) >= 1e4 else f"{v:.4f}"
    return str(v)
