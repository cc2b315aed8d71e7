"""Evaluation of the ProbConserv methods: Step 2 per mixture component, moments, metrics, shocks.

A backbone gives, per test function, an equal-weight mixture of S diagonal Gaussians over a time
slice u(t, ·) ∈ R^n: components (μ_s, d_s), s = 1..S. A method turns it into a predictive
distribution (reference §2, §2.4, §2.9, §11.2):

- ``none`` (ANP, SoftC-ANP, ensemble, GP): the mixture itself;
- ``hardc``: every μ_s is projected in the Euclidean norm onto {gᵀu = b}, d_s unchanged;
- ``probconserv``: every component is conditioned on gᵀu + ε = b, ε ~ N(0, σ_G²) (σ_G = 0 by
  default), i.e. N(μ̃_s, Σ̃_s), with g the trapezoid weights on the grid and b(t) the exact mass;
- ``bounded``: every component is conditioned exactly on the mass AND, where the problem
  prescribes one, the Dirichlet value u(t, x_min) (G with two rows), then the mixture mean is
  projected onto the problem's physical bounds keeping both rows exact
  (:mod:`pcml.experiments.probconserv_bounds`); variance and samples are those of the two-row
  posterior (samples satisfy both rows but are not bounded).

The reported mean and variance are the exact mixture moments, loc = mean_s μ_s and
var = mean_s var_s + mean_s (μ_s − loc)² (clamped at 1e-12 so the log-likelihood is defined).
Shock samples are exact samples of the method's mixture: a component is drawn uniformly, then
u ~ N(μ_s, diag d_s) (none, hardc; the TRUE variance, not the std as the original did for its
baselines, defect 12.2) or sample-then-condition for probconserv (exact also at σ_G = 0, where
the original took a Cholesky of a singular matrix and averaged the covariances, defects 12.10,
12.11). The optional inequality step projects the probconserv mean onto {gᵀu = b, u ≥ 0 [and
non-increasing]} in the metric of the mixture variance (pcml.constraints.project_inequality);
the variance and the samples are left as they are.

Metrics per function at t* (pcml.metrics.probabilistic): MSE over x; CE = trapezoid mass of the
mean − b(t*) (signed); LL and CRPS per point, averaged over x; the shock position of every sample
(first x with u ≤ 0, linearly interpolated). Over functions: means, standard errors (sd/√N).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from pcml.constraints import (
    conserve,
    project_inequality,
    project_mean,
    quadrature_weights,
    sample_mixture,
)
from pcml.experiments.probconserv_bounds import bounded_mean, constraint_rows
from pcml.metrics.probabilistic import (
    conservation_error,
    crps_gaussian,
    gaussian_log_likelihood,
    mse,
    shock_position,
)
from pcml.pdes.gpme import Bounds

__all__ = [
    "METHOD_SPECS",
    "MethodOutput",
    "MethodSpec",
    "apply_method",
    "evaluate_all",
    "predict_components",
    "slice_metrics",
    "summarise",
]

_F64 = torch.float64
VAR_FLOOR = 1e-12


@dataclass(frozen=True)
class MethodSpec:
    """A method: which backbone feeds it and which Step 2 it applies.

    backbone: "anp" | "softc" | "ensemble" | "gp"; step: "none" | "hardc" | "probconserv" |
    "bounded"; noisy: use σ_G² = 1/noise_precision instead of 0.
    """

    backbone: str
    step: str
    noisy: bool = False


METHOD_SPECS: dict[str, MethodSpec] = {
    "anp": MethodSpec("anp", "none"),
    "softc_anp": MethodSpec("softc", "none"),
    "hardc_anp": MethodSpec("anp", "hardc"),
    "probconserv_anp": MethodSpec("anp", "probconserv"),
    "probconserv_anp_noisy": MethodSpec("anp", "probconserv", noisy=True),
    "probconserv_anp_bounded": MethodSpec("anp", "bounded"),
    "ensemble": MethodSpec("ensemble", "none"),
    "probconserv_ensemble": MethodSpec("ensemble", "probconserv"),
    "gp": MethodSpec("gp", "none"),
    "probconserv_gp": MethodSpec("gp", "probconserv"),
}


@dataclass(frozen=True)
class MethodOutput:
    """Predictive mean and variance ``(..., n)`` (float64) of one method on a batch of slices."""

    mean: Tensor
    var: Tensor


def _moments(means: Tensor, variances: Tensor) -> tuple[Tensor, Tensor]:
    loc = means.mean(dim=0)
    var = variances.mean(dim=0) + (means - loc).square().mean(dim=0)
    return loc, var.clamp_min(VAR_FLOOR)


def apply_method(
    spec: MethodSpec,
    means: Tensor,
    variances: Tensor,
    g: Tensor,
    b: Tensor,
    *,
    noise_var: float = 0.0,
    inequality: str | None = None,
    n_samples: int = 0,
    generator: torch.Generator | None = None,
    inflow: Tensor | None = None,
    bounds: Bounds | None = None,
) -> tuple[MethodOutput, Tensor | None]:
    """Apply one method to mixture components.

    means, variances: ``(S, *B, n)`` component means and variances; g: ``(n,)`` quadrature weights;
    b: ``(*B,)`` the exact mass of every slice. noise_var: σ_G² for ``spec.noisy``.
    inflow: ``(*B,)`` prescribed u(t, x_min) (``bounded`` only; None: mass row only); bounds: the
    physical bounds for ``bounded`` (None: no bounds).
    Returns the :class:`MethodOutput` ``(*B, n)`` and, if ``n_samples > 0``, exact samples
    ``(n_samples, *B, n)`` of the method's predictive mixture (else None).
    """
    if means.shape != variances.shape or means.ndim < 2:
        raise ValueError(
            f"means/variances: expected equal shapes (S, ..., n), got {tuple(means.shape)} and "
            f"{tuple(variances.shape)}"
        )
    if g.shape != means.shape[-1:] or b.shape != means.shape[1:-1]:
        raise ValueError(
            f"g, b: expected shapes {tuple(means.shape[-1:])} and {tuple(means.shape[1:-1])}, "
            f"got {tuple(g.shape)} and {tuple(b.shape)}"
        )
    mu = means.to(_F64)
    d = variances.to(_F64)
    g64, b64 = g.to(_F64), b.to(_F64)
    samples: Tensor | None = None
    if spec.step == "bounded":
        G, beta = constraint_rows(g64, b64, inflow)
        post = conserve(mu, d, G=G, b=beta.expand(*mu.shape[:-1], G.shape[0]))
        loc, var = _moments(post.mean.to(_F64), post.variance.to(_F64))
        if n_samples > 0:
            samples = sample_mixture(post, (n_samples,), generator=generator).to(_F64)
        if bounds is not None:
            _, prior_var = _moments(mu, d)  # the backbone's metric (module docstring)
            loc, _ = bounded_mean(loc, prior_var, G, beta, bounds)
        return MethodOutput(loc, var), samples
    if spec.step == "probconserv":
        sigma2 = noise_var if spec.noisy else 0.0
        post = conserve(mu, d, G=g64, b=b64.expand(mu.shape[:-1]), noise_var=sigma2)
        loc, var = _moments(post.mean64, post.variance.to(_F64))
        if n_samples > 0:
            samples = sample_mixture(post, (n_samples,), generator=generator).to(_F64)
        if inequality is not None:
            mix = conserve(loc, var, G=g64, b=b64, noise_var=0.0)
            loc = project_inequality(mix, inequality).to(_F64)  # type: ignore[arg-type]
        return MethodOutput(loc, var), samples
    if spec.step == "hardc":
        mu = project_mean(mu, g64, b64.expand(mu.shape[:-1])).to(_F64)
    elif spec.step != "none":
        raise ValueError(f"spec.step: got {spec.step!r}, expected none|hardc|probconserv|bounded")
    loc, var = _moments(mu, d)
    if n_samples > 0:
        samples = _sample_diagonal_mixture(mu, d, n_samples, generator)
    return MethodOutput(loc, var), samples


def _sample_diagonal_mixture(
    mu: Tensor, d: Tensor, n_samples: int, generator: torch.Generator | None
) -> Tensor:
    """Exact samples ``(N, *B, n)`` of (1/S) Σ_s N(μ_s, diag d_s) with ``mu, d: (S, *B, n)``."""
    n_comp, batch = mu.shape[0], mu.shape[1:-1]
    k = torch.randint(n_comp, (n_samples, *batch), generator=generator)
    idx = k.unsqueeze(-1).expand(n_samples, *batch, mu.shape[-1])
    m = mu.unsqueeze(0).expand(n_samples, *mu.shape)
    v = d.unsqueeze(0).expand(n_samples, *d.shape)
    chosen_m = m.gather(1, idx.unsqueeze(1)).squeeze(1)
    chosen_v = v.gather(1, idx.unsqueeze(1)).squeeze(1)
    eps = torch.randn(chosen_m.shape, generator=generator, dtype=_F64)
    return chosen_m + chosen_v.sqrt() * eps


def slice_metrics(
    out: MethodOutput,
    truth: Tensor,
    x: Tensor,
    b: Tensor,
    samples: Tensor | None = None,
) -> dict[str, Tensor]:
    """Per-function metrics at one time: out ``(B, n)``, truth ``(B, n)``, x ``(n,)``, b ``(B,)``.

    Returns tensors ``(B,)``: mse, ce (signed), ll, crps (point averages) and, with samples
    ``(N, B, n)``, shock_mean and shock_std (per-function posterior mean and sd of the position).
    """
    y = truth.to(_F64)
    x64 = x.to(_F64)
    res = {
        "mse": mse(out.mean, y),
        "ce": conservation_error(out.mean, x64, b.to(_F64)),
        "ll": gaussian_log_likelihood(out.mean, out.var, y).mean(dim=-1),
        "crps": crps_gaussian(out.mean, out.var, y).mean(dim=-1),
    }
    if samples is not None:
        pos = shock_position(samples, x64)
        res["shock_mean"] = pos.mean(dim=0)
        res["shock_std"] = pos.std(dim=0, unbiased=False)
    return res


def summarise(per_fn: dict[str, Tensor], shock: bool) -> dict[str, float | None]:
    """Means over functions and standard errors (sd/√N, population sd) of per-function metrics.

    Keys: mse, ce, ll, crps, shock_mean, shock_std (None when ``shock`` is False, e.g. diffusion and
    Burgers), and mse_se, ce_se, ll_se, crps_se, shock_mean_se.
    """
    out: dict[str, float | None] = {}
    for key in ("mse", "ce", "ll", "crps", "shock_mean", "shock_std"):
        v = per_fn.get(key)
        if v is None or (key.startswith("shock") and not shock):
            out[key] = None
            continue
        out[key] = float(v.mean())
        if key != "shock_std":
            n = v.numel()
            out[f"{key}_se"] = float(v.std(unbiased=False)) / math.sqrt(n) if n > 1 else 0.0
    for key in ("mse", "ce", "ll", "crps", "shock_mean"):
        out.setdefault(f"{key}_se", None)
    return out


# ------------------------------------------------------------------------------ orchestration
@torch.no_grad()
def predict_components(
    model: torch.nn.Module,
    ctx_x: Tensor,
    ctx_y: Tensor,
    query: Tensor,
    n_samples: int,
    seed: int,
    fn_batch: int = 5,
) -> tuple[Tensor, Tensor]:
    """Mixture components ``(S, B, Nq)`` (float64, CPU) for contexts ``(B, Nc, ·)`` and queries
    ``(B, Nq, 2)``, predicted ``fn_batch`` functions at a time with a seeded generator."""
    device = next(model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    means, variances = [], []
    for start in range(0, ctx_x.shape[0], fn_batch):
        sl = slice(start, start + fn_batch)
        pred = model.predict(  # type: ignore[operator]
            ctx_x[sl].to(device),
            ctx_y[sl].to(device),
            query[sl].to(device),
            n_samples=n_samples,
            generator=gen,
        )
        means.append(pred.means.double().cpu())
        variances.append(pred.variances.double().cpu())
    return torch.cat(means, dim=1), torch.cat(variances, dim=1)


def _queries(t: np.ndarray, x: np.ndarray, n_fn: int) -> Tensor:
    """(n_fn, n_t·n_x, 2) time-major (t, x) query points."""
    tt, xx = np.meshgrid(t, x, indexing="ij")
    q = torch.as_tensor(np.stack([tt, xx], -1).reshape(-1, 2), dtype=torch.float32)
    return q.unsqueeze(0).expand(n_fn, -1, -1)


def _rounded(t: Tensor, digits: int = 6) -> list[float]:
    return [round(float(v), digits) for v in t.reshape(-1)]


def evaluate_all(
    cfg: Any,
    models: dict[str, torch.nn.Module],
    test: Any,
    timings: dict[str, Any],
) -> dict[str, Any]:
    """Predict on the test split (a :class:`pcml.data.PDEData` from ``to_pdedata``) and evaluate
    every method of ``cfg`` (a ProbConservConfig).

    Returns {"metrics": {value: {method: summary}}, "curves": {value: {...}}, "shocks": {value:
    {...}}, "profiles": {value: {...}}} (see :func:`pcml.experiments.probconserv.run`).
    """
    prob = cfg.conservation_problem()
    params = np.asarray(next(iter(test.params.values())), dtype=np.float64)
    times = np.asarray(test.time, dtype=np.float64)
    x = np.asarray(test.coords["x"], dtype=np.float64)
    k_star = int(np.argmin(np.abs(times - prob.t_star)))
    if abs(times[k_star] - prob.t_star) > 1e-9 * max(1.0, prob.t_star):
        raise ValueError(
            f"data.eval_n_t: t* = {prob.t_star} is not on the evaluation time grid "
            f"linspace{prob.t_range} with {times.size} points; choose eval_n_t accordingly"
        )
    u = torch.as_tensor(np.asarray(test.fields["u"]), dtype=_F64)  # (B, T, n)
    mass = torch.as_tensor(np.asarray(test.conserved.mass_rhs), dtype=_F64)  # (B, T)
    inflow = (
        torch.as_tensor(prob.inflow_value(times[None, :], params[:, None]), dtype=_F64)
        if prob.inflow_dirichlet
        else None
    )  # (B, T) prescribed u(t, x_min)
    pts = test.points
    ctx_x = torch.as_tensor(np.asarray(pts.context_inputs), dtype=torch.float32)
    ctx_y = torch.as_tensor(np.asarray(pts.context_values), dtype=torch.float32)
    n_fn = ctx_x.shape[0]
    groups = {float(v): np.flatnonzero(np.isclose(params, v)) for v in prob.test_values}
    curve_idx = np.concatenate([idx[: cfg.data.curve_functions] for idx in groups.values()])
    x_t = torch.as_tensor(x, dtype=_F64)
    g = quadrature_weights(x_t)
    noise_var = 1.0 / cfg.noise_precision
    shock = bool(prob.shock_analysis)
    fronts = {v: float(prob.front(prob.t_star, v)) for v in groups}

    comps: dict[str, tuple[Tensor, Tensor]] = {}
    curve_comps: dict[str, tuple[Tensor, Tensor]] = {}
    for i, (kind, model) in enumerate(models.items()):
        t0, c0 = time.perf_counter(), time.process_time()
        seed = cfg.seed * 1000 + 17 * (i + 1)
        q_star = _queries(times[k_star : k_star + 1], x, n_fn)
        comps[kind] = predict_components(model, ctx_x, ctx_y, q_star, cfg.n_latent_samples, seed)
        q_curve = _queries(times, x, len(curve_idx))
        c_means, c_vars = predict_components(
            model, ctx_x[curve_idx], ctx_y[curve_idx], q_curve, cfg.n_latent_samples, seed + 1
        )
        shape = (c_means.shape[0], len(curve_idx), times.size, x.size)
        curve_comps[kind] = (c_means.reshape(shape), c_vars.reshape(shape))
        timings[f"predict_{kind}_s"] = time.perf_counter() - t0
        timings[f"predict_{kind}_cpu_s"] = time.process_time() - c0

    metrics: dict[str, dict[str, Any]] = {}
    curves: dict[str, Any] = {}
    shocks: dict[str, Any] = {}
    profiles: dict[str, Any] = {}
    for v, idx in groups.items():
        key = format(v, "g")
        it = torch.as_tensor(idx)
        pick = 1 if len(idx) > 1 else 0
        cmask = np.isin(curve_idx, idx)
        metrics[key], shocks[key] = {}, {"front": fronts[v], "function": int(idx[pick])}
        profiles[key] = {
            "x": _rounded(x_t),
            "truth": _rounded(u[idx[pick], k_star]),
            "function": int(idx[pick]),
        }
        curves[key] = {
            "t": _rounded(torch.as_tensor(times)),
            "true_mass": _rounded(mass[curve_idx[cmask]].mean(0), 8),
        }
        for j, method in enumerate(cfg.methods):
            spec = METHOD_SPECS[method]
            means, variances = comps[spec.backbone]
            gen = torch.Generator().manual_seed(cfg.seed * 1000 + 31 * j + int(1000 * v))
            out, samples = apply_method(
                spec,
                means[:, it],
                variances[:, it],
                g,
                mass[it, k_star],
                noise_var=noise_var,
                inequality=cfg.inequality if spec.step == "probconserv" else None,
                n_samples=cfg.n_shock_samples if shock else 0,
                generator=gen,
                inflow=None if inflow is None else inflow[it, k_star],
                bounds=prob.bounds,
            )
            per_fn = slice_metrics(out, u[it, k_star], x_t, mass[it, k_star], samples)
            metrics[key][method] = summarise(per_fn, shock)
            profiles[key][method] = {
                "mean": _rounded(out.mean[pick]),
                "std": _rounded(out.var[pick].sqrt()),
            }
            if samples is not None:
                pos = shock_position(samples[:, pick], x_t)
                shocks[key][method] = _rounded(pos, 5)
            cm, cv = curve_comps[spec.backbone]
            ci = torch.as_tensor(np.flatnonzero(cmask))
            c_out, _ = apply_method(
                spec,
                cm[:, ci],
                cv[:, ci],
                g,
                mass[curve_idx[cmask]],
                noise_var=noise_var,
                inequality=cfg.inequality if spec.step == "probconserv" else None,
                inflow=None if inflow is None else inflow[curve_idx[cmask]],
                bounds=prob.bounds,
            )
            curves[key][method] = {
                "mse": _rounded(mse(c_out.mean, u[curve_idx[cmask]]).mean(0), 10),
                "mass": _rounded(torch.trapezoid(c_out.mean, x_t, dim=-1).mean(0), 10),
            }
    return {"metrics": metrics, "curves": curves, "shocks": shocks, "profiles": profiles}
