"""SoftC residuals: zero on exact solutions, own parameter per function, analytic reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pcml.pdes.gpme import PROBLEMS, get_problem, stefan_constants
from pcml.pdes.gpme_residuals import RESIDUALS, pde_residual

B, N = 4, 25


def _points(t_lo: float, t_hi: float, x_lo: float, x_hi: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = t_lo + (t_hi - t_lo) * torch.rand(B, N, 1, generator=g, dtype=torch.float64)
    x = x_lo + (x_hi - x_lo) * torch.rand(B, N, 1, generator=g, dtype=torch.float64)
    return torch.cat([t, x], dim=-1)


def _exact_cases() -> dict[str, tuple[torch.Tensor, object, torch.Tensor]]:
    """name -> (params (B,), mean_fn(z; params), inputs) with an exact smooth solution."""
    c = torch.tensor([1.0, 2.0, 3.5, 5.0], dtype=torch.float64)
    a = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)
    m = torch.tensor([1.0, 2.0, 3.0, 6.0], dtype=torch.float64)
    us = torch.tensor([0.55, 0.6, 0.65, 0.7], dtype=torch.float64)
    c1 = torch.as_tensor(stefan_constants(us.numpy())[2])

    def heat(z: torch.Tensor) -> torch.Tensor:
        return torch.sin(z[..., 1:]) * torch.exp(-c[:, None, None] * z[..., :1])

    def adv(z: torch.Tensor) -> torch.Tensor:
        return torch.sin(2 * (z[..., 1:] - a[:, None, None] * z[..., :1]))

    def pme(z: torch.Tensor) -> torch.Tensor:
        mm = m[:, None, None]
        return (mm * (z[..., :1] - z[..., 1:])) ** (1 / mm)

    def stefan(z: torch.Tensor) -> torch.Tensor:
        return 1 - c1[:, None, None] * torch.erf(z[..., 1:] / (2 * torch.sqrt(z[..., :1])))

    def burgers(z: torch.Tensor) -> torch.Tensor:  # the compressive ramp a x / (a t − 1)
        aa = a[:, None, None]
        return aa * z[..., 1:] / (aa * z[..., :1] - 1)

    return {
        "diffusion": (c, heat, _points(0, 1, 0, 2 * math.pi)),
        "advection": (a, adv, _points(0, 1, 0, 1)),
        "pme": (m, pme, _points(0.5, 1.0, 0.0, 0.4)),  # x < t: smooth region, u > 0
        "stefan": (us, stefan, _points(0.02, 0.1, 0.0, 0.15)),  # behind the front: u > u*
        "burgers": (a, burgers, _points(0.0, 0.2, -0.1, 0.0)),  # before breaking t < 1/a
    }


CASES = _exact_cases()


@pytest.mark.parametrize("name", sorted(CASES))
def test_exact_solutions_have_zero_residual(name: str) -> None:
    params, mean, z = CASES[name]
    r = pde_residual(name, lambda q: mean(q), z, params)  # type: ignore[operator]
    assert r.shape == (B, N) and r.dtype == torch.float64
    assert r.abs().max().item() < 1e-10


def test_closed_forms_of_the_module_match_the_torch_exact_solutions() -> None:
    for name, (params, mean, z) in CASES.items():
        if name == "advection":  # sin(2(x − a t)) is smooth, not the benchmark's step
            continue
        prob = get_problem(name)
        ref = prob.solution(z[..., 0].numpy(), z[..., 1].numpy(), params.numpy()[:, None])
        got = mean(z)[..., 0].numpy()  # type: ignore[operator]
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("name", ["diffusion", "advection", "pme", "stefan"])
def test_each_function_uses_its_own_parameter(name: str) -> None:
    """Defect 12.4: with mixed parameters the residual must not leak across functions."""
    params, mean, z = CASES[name]
    batched = pde_residual(name, lambda q: mean(q), z, params)  # type: ignore[operator]
    for i in range(B):
        one = pde_residual(
            name,
            lambda q, i=i: mean(q.expand(B, -1, -1))[i : i + 1],  # type: ignore[operator]
            z[i : i + 1],
            params[i : i + 1],
        )
        np.testing.assert_allclose(
            batched[i : i + 1].detach().numpy(), one.detach().numpy(), rtol=0, atol=1e-12
        )
    if name == "stefan":
        return  # k = 1 for every u* below the solution: the wrong u* gives the same residual
    wrong = pde_residual(name, lambda q: mean(q), z, params.roll(1))  # type: ignore[operator]
    assert wrong.abs().amax(dim=1).min().item() > 1e-2


def test_original_broadcasting_bug_would_be_caught() -> None:
    params, mean, z = CASES["advection"]
    with pytest.raises(ValueError, match=r"params must have shape \(B,\)"):
        pde_residual("advection", lambda q: mean(q), z, params[:, None])  # type: ignore[operator]


def _poly_reference(name: str, coef: np.ndarray, t: np.ndarray, x: np.ndarray, th: np.ndarray):
    """Analytic residual of μ = Σ c_ij t^i x^j (i, j ≤ 2) in float64 numpy."""
    p = np.arange(3)
    tp, xp = t[..., None] ** p, x[..., None] ** p  # (B, n, 3)
    dtp = np.where(p > 0, p * t[..., None] ** np.maximum(p - 1, 0), 0.0)
    dxp = np.where(p > 0, p * x[..., None] ** np.maximum(p - 1, 0), 0.0)
    ddxp = np.where(p > 1, p * (p - 1) * x[..., None] ** np.maximum(p - 2, 0), 0.0)

    def ev(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.einsum("bni,bnj,bij->bn", a, b, coef)

    mu, mu_t, mu_x, mu_xx = ev(tp, xp), ev(dtp, xp), ev(tp, dxp), ev(tp, ddxp)
    th = th[:, None]
    if name == "advection":
        return mu_t + th * mu_x
    if name == "burgers":
        return mu_t + mu * mu_x
    if name == "diffusion":
        return mu_t - th * mu_xx
    if name == "stefan":
        return mu_t - (mu >= th) * mu_xx
    pos = np.maximum(mu, 0.0)
    k = pos**th
    dk = np.where(mu > 0, th * pos ** (th - 1), 0.0)
    return mu_t - (dk * mu_x**2 + k * mu_xx)


@settings(max_examples=25)
@given(
    name=st.sampled_from(sorted(PROBLEMS)),
    batch=st.integers(1, 3),
    n=st.integers(1, 6),
    seed=st.integers(0, 10_000),
)
def test_polynomial_means_match_analytic_residual(name: str, batch: int, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    coef = rng.normal(size=(batch, 3, 3))
    prob = get_problem(name)
    theta = rng.uniform(*prob.train_range, batch)
    z = torch.as_tensor(rng.uniform(0.05, 1.0, (batch, n, 2)))
    c = torch.as_tensor(coef)

    def mean(q: torch.Tensor) -> torch.Tensor:
        p = torch.arange(3, dtype=q.dtype)
        tp, xp = q[..., :1] ** p, q[..., 1:] ** p
        return torch.einsum("bni,bnj,bij->bn", tp, xp, c)[..., None]

    r = pde_residual(prob, mean, z, torch.as_tensor(theta))
    ref = _poly_reference(name, coef, z[..., 0].numpy(), z[..., 1].numpy(), theta)
    np.testing.assert_allclose(r.detach().numpy(), ref, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_residual_trains_through_the_model(name: str) -> None:
    """create_graph: λ·mean(r²) back-propagates to the weights, finitely, also where μ ≤ 0."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    z = torch.rand(3, 20, 2)
    theta = torch.full((3,), 0.5 if name == "pme" else 0.6 if name == "stefan" else 2.0)
    with torch.no_grad():
        shift = net(z).median()  # half the means are <= 0, where relu(μ)^m has a kink

    def mean(q: torch.Tensor) -> torch.Tensor:
        return net(q) - shift

    assert bool((mean(z) < 0).any()) and bool((mean(z) > 0).any())
    r = pde_residual(name, mean, z, theta)
    assert r.dtype == torch.float32 and r.requires_grad
    (r**2).mean().backward()
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    assert len(grads) >= 3  # the output bias may not enter r (transport, constant k)
    assert all(torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    # a gradient step on the penalty reduces it
    loss0 = float((r**2).mean().detach())
    with torch.no_grad():
        for p in net.parameters():
            if p.grad is not None:
                p -= 1e-3 * p.grad
    loss1 = float((pde_residual(name, mean, z, theta) ** 2).mean().detach())
    assert loss1 < loss0


def test_registry_and_bad_input() -> None:
    assert set(RESIDUALS) == set(PROBLEMS)
    z = torch.rand(2, 3, 2)
    f = lambda q: q[..., :1] * q[..., 1:]  # noqa: E731
    with pytest.raises(ValueError, match="unknown problem 'heat'"):
        pde_residual("heat", f, z, torch.ones(2))
    with pytest.raises(ValueError, match=r"inputs must be a tensor of shape \(B, n, 2\)"):
        pde_residual("pme", f, torch.rand(2, 3), torch.ones(2))
    with pytest.raises(ValueError, match="inputs must be a floating tensor"):
        pde_residual("pme", f, torch.ones(2, 3, 2, dtype=torch.int64), torch.ones(2))
    with pytest.raises(ValueError, match=r"mean_fn must return shape \(B, n, 1\)"):
        pde_residual("pme", lambda q: q, z, torch.ones(2))
    r = pde_residual("advection", lambda q: torch.zeros(2, 3, 1), z, torch.ones(2))
    assert torch.equal(r, torch.zeros(2, 3))
