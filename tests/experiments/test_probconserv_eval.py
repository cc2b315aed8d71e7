"""The evaluation math of the ProbConserv experiments (pcml.experiments.probconserv_eval)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pcml.constraints import quadrature_weights
from pcml.experiments.probconserv_config import (
    ALL_METHODS,
    apply_overrides,
    load_config,
    make_config,
)
from pcml.experiments.probconserv_eval import (
    METHOD_SPECS,
    MethodOutput,
    _sample_diagonal_mixture,
    apply_method,
    slice_metrics,
    summarise,
)
from pcml.metrics.probabilistic import shock_position
from pcml.pdes.gpme import get_problem

F64 = torch.float64


def _exact(problem: str, param: float, n: int = 201) -> tuple[torch.Tensor, torch.Tensor, float]:
    prob = get_problem(problem)
    x = np.linspace(*prob.x_range, n)
    u = prob.solution(prob.t_star, x, param)
    b = float(prob.mass(prob.t_star, param))
    return torch.as_tensor(x), torch.as_tensor(u), b


def _as_output(u: torch.Tensor) -> MethodOutput:
    return MethodOutput(u[None], torch.full_like(u[None], 1e-4))


@pytest.mark.parametrize(("problem", "param"), [("diffusion", 5.0), ("pme", 1.0)])
def test_ce_of_exact_solution_is_round_off_when_trapezoid_is_exact(
    problem: str, param: float
) -> None:
    # sin over a full period and the piecewise-linear PME m = 1 profile (kink at x = 0.5, a grid
    # point) are integrated exactly by the trapezoid rule: CE is pure round-off.
    x, u, b = _exact(problem, param)
    m = slice_metrics(_as_output(u), u[None], x, torch.tensor([b]))
    assert abs(float(m["ce"][0])) < 1e-13
    assert float(m["mse"][0]) == 0.0


def test_ce_of_exact_stefan_profile_is_the_quadrature_error_of_the_jump() -> None:
    # The Stefan profile jumps from u* to 0 at the front: the trapezoid error is at most the jump
    # times one grid cell (the trapezoid error of the smooth part is O(h²), far smaller).
    errs = []
    for n in (101, 201, 401, 801, 1601):
        x, u, b = _exact("stefan", 0.6, n)
        ce = float(slice_metrics(_as_output(u), u[None], x, torch.tensor([b]))["ce"][0])
        h = float(x[1] - x[0])
        assert abs(ce) <= 0.6 * h
        errs.append(abs(ce))
    assert max(errs) > 1e-6  # not accidentally exact


@pytest.mark.parametrize(("problem", "param"), [("stefan", 0.6), ("stefan", 0.5), ("pme", 3.0)])
def test_shock_of_exact_profile_is_the_front_within_a_cell(problem: str, param: float) -> None:
    x, u, _ = _exact(problem, param)
    prob = get_problem(problem)
    front = float(prob.front(prob.t_star, param))
    pos = float(shock_position(u[None], x)[0])
    assert abs(pos - front) <= float(x[1] - x[0])
    if problem == "stefan" and param == 0.6:
        assert abs(front - 0.2351) < 5e-5


def _components(seed: int, s: int, b: int, n: int) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.linspace(0.0, 1.0, n, dtype=F64)
    means = torch.randn(s, b, n, generator=gen, dtype=F64)
    variances = torch.rand(s, b, n, generator=gen, dtype=F64) * 0.5 + 0.01
    mass = torch.randn(b, generator=gen, dtype=F64)
    return x, means, variances, mass


@settings(max_examples=25)
@given(
    seed=st.integers(0, 10_000),
    s=st.integers(1, 6),
    b=st.integers(1, 4),
    n=st.integers(3, 40),
    method=st.sampled_from(["hardc_anp", "probconserv_anp"]),
)
def test_constrained_methods_conserve_exactly(
    seed: int, s: int, b: int, n: int, method: str
) -> None:
    x, means, variances, mass = _components(seed, s, b, n)
    g = quadrature_weights(x)
    out, samples = apply_method(
        METHOD_SPECS[method],
        means,
        variances,
        g,
        mass,
        n_samples=7,
        generator=torch.Generator().manual_seed(seed),
    )
    assert torch.allclose(torch.trapezoid(out.mean, x, dim=-1), mass, atol=1e-10, rtol=0)
    assert bool((out.var > 0).all())
    assert samples is not None and samples.shape == (7, b, n)
    if method == "probconserv_anp":  # every exact sample of the conditioned mixture conserves
        assert torch.allclose(torch.trapezoid(samples, x, dim=-1), mass.expand(7, b), atol=1e-10)


def test_unconstrained_method_is_the_exact_mixture_of_the_components() -> None:
    x, means, variances, mass = _components(3, 5, 2, 11)
    g = quadrature_weights(x)
    out, _ = apply_method(METHOD_SPECS["anp"], means, variances, g, mass)
    loc = means.mean(0)
    second = (variances + means**2).mean(0)  # E[u²] of the mixture
    assert torch.allclose(out.mean, loc, atol=1e-14)
    assert torch.allclose(out.var, second - loc**2, atol=1e-12)
    assert bool((out.var >= variances.mean(0) - 1e-14).all())


def test_hardc_keeps_the_variance_and_moves_the_mean_orthogonally() -> None:
    x, means, variances, mass = _components(4, 1, 3, 9)
    g = quadrature_weights(x)
    out, _ = apply_method(METHOD_SPECS["hardc_anp"], means, variances, g, mass)
    shift = out.mean - means[0]
    # Euclidean projection: the shift is parallel to g
    ratio = shift / g
    assert torch.allclose(ratio, ratio[:, :1].expand_as(ratio), atol=1e-10)
    assert torch.allclose(out.var, variances[0], atol=1e-14)


def test_noisy_probconserv_shrinks_the_mass_error_by_the_kalman_factor() -> None:
    x, means, variances, mass = _components(5, 1, 2, 15)
    g = quadrature_weights(x)
    sigma2 = 1e-3
    out, _ = apply_method(
        METHOD_SPECS["probconserv_anp_noisy"], means, variances, g, mass, noise_var=sigma2
    )
    before = (means[0] * g).sum(-1) - mass
    after = (out.mean * g).sum(-1) - mass
    gsg = (g * g * variances[0]).sum(-1)
    assert torch.allclose(after, before * sigma2 / (sigma2 + gsg), rtol=1e-10, atol=1e-14)


def test_probconserv_sigma0_is_the_d_weighted_projection() -> None:
    x, means, variances, mass = _components(6, 1, 1, 12)
    g = quadrature_weights(x)
    out, _ = apply_method(METHOD_SPECS["probconserv_anp"], means, variances, g, mass)
    mu, d = means[0, 0], variances[0, 0]
    dense = torch.diag(d)
    gg = g[None]
    k = dense @ gg.T @ torch.linalg.inv(gg @ dense @ gg.T)
    expected = mu - (k @ (gg @ mu - mass)).squeeze(-1)
    var = torch.diagonal(dense - k @ gg @ dense)
    assert torch.allclose(out.mean[0], expected, atol=1e-12)
    assert torch.allclose(out.var[0], var.clamp_min(1e-12), atol=1e-12)


def test_diagonal_mixture_samples_have_the_mixture_moments() -> None:
    gen = torch.Generator().manual_seed(0)
    mu = torch.tensor([[[0.0, 1.0]], [[2.0, -1.0]]], dtype=F64)  # (S=2, B=1, n=2)
    d = torch.tensor([[[1.0, 0.25]], [[0.5, 0.25]]], dtype=F64)
    y = _sample_diagonal_mixture(mu, d, 40_000, gen)
    loc = mu.mean(0)
    var = d.mean(0) + (mu - loc).square().mean(0)
    se = (var / 40_000).sqrt()
    assert bool(((y.mean(0) - loc).abs() < 5 * se).all())
    assert torch.allclose(y.var(0), var, rtol=0.05)


def test_inequality_step_keeps_mass_and_sign() -> None:
    x = torch.linspace(0.0, 1.0, 21, dtype=F64)
    means = 0.3 * torch.sin(6 * x).expand(3, 2, 21).clone()
    means[1] += 0.05
    variances = torch.full_like(means, 0.01)
    mass = torch.tensor([0.2, 0.1], dtype=F64)
    g = quadrature_weights(x)
    for kind in ("nonneg", "monotone"):
        out, _ = apply_method(
            METHOD_SPECS["probconserv_anp"], means, variances, g, mass, inequality=kind
        )
        assert bool((out.mean >= -1e-12).all())
        assert torch.allclose(torch.trapezoid(out.mean, x, dim=-1), mass, atol=1e-10)
        if kind == "monotone":
            assert bool((out.mean.diff(dim=-1) <= 1e-12).all())


def test_summarise_means_and_standard_errors() -> None:
    per_fn = {k: torch.tensor([1.0, 2.0, 3.0, 6.0], dtype=F64) for k in ("mse", "ce", "ll", "crps")}
    per_fn["shock_mean"] = torch.tensor([0.2, 0.3, 0.2, 0.3], dtype=F64)
    per_fn["shock_std"] = torch.tensor([0.01, 0.02, 0.01, 0.02], dtype=F64)
    s = summarise(per_fn, shock=True)
    assert s["mse"] == pytest.approx(3.0)
    assert s["mse_se"] == pytest.approx(math.sqrt(3.5) / 2)
    assert s["shock_mean"] == pytest.approx(0.25)
    assert s["shock_std"] == pytest.approx(0.015)
    s2 = summarise(per_fn, shock=False)
    assert s2["shock_mean"] is None and s2["shock_std"] is None


def test_bad_shapes_are_rejected() -> None:
    x, means, variances, mass = _components(1, 2, 2, 5)
    g = quadrature_weights(x)
    with pytest.raises(ValueError, match="g, b"):
        apply_method(METHOD_SPECS["anp"], means, variances, g[:-1], mass)
    with pytest.raises(ValueError, match="means/variances"):
        apply_method(METHOD_SPECS["anp"], means, variances[:1], g, mass)


def test_config_profiles_toml_round_trip_and_overrides(tmp_path: Path) -> None:
    from pcml.experiments.config import to_toml

    for profile in ("smoke", "quick", "paper"):
        cfg = make_config("stefan", profile)
        assert cfg.methods == ALL_METHODS
        path = tmp_path / f"{profile}.toml"
        path.write_text(to_toml(cfg), encoding="utf-8")
        assert load_config(path) == cfg
    paper = make_config("pme", "paper")
    assert (paper.anp.hidden_channels, paper.data.n_train, paper.n_latent_samples) == (
        128,
        10_000,
        100,
    )
    assert (paper.train.anp.lr, paper.train.anp.batch_size, paper.train.anp.epochs) == (
        1e-4,
        250,
        500,
    )
    cfg = apply_overrides(
        make_config("stefan", "quick"),
        ["train.anp.lr=3e-4", 'inequality="nonneg"', "data.n_train=64", "train.gp.grad_clip=1"],
    )
    assert cfg.train.anp.lr == 3e-4 and cfg.inequality == "nonneg" and cfg.data.n_train == 64
    assert cfg.train.gp.grad_clip == 1.0
    with pytest.raises(ValueError, match="unknown key"):
        apply_overrides(cfg, ["train.anp.learning_rate=1"])
    with pytest.raises(ValueError, match="methods"):
        apply_overrides(cfg, ['methods=["anp", "magic"]'])
    with pytest.raises(ValueError, match="inequality"):
        apply_overrides(cfg, ['inequality="positive"'])
