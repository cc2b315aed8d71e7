"""UQ operators: the shipped contract for every kind, on pcml's FNO and on a generic operator;
DiverseNO's penalty, the joint constraint matrix and training through the update."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pcml.constraints.quadrature import quadrature_weights
from pcml.models import FNO
from pcml.models.operator_testing import UQOperatorContract
from pcml.models.uq_operators import (
    UQ_KINDS,
    DiverseNO,
    FNOSettings,
    UQOperator,
    conserve_prediction,
    joint_constraint,
    uq_operator,
    uq_operator_from,
)
from pcml.train.through_constraint import conserved_crps_loss

TINY = FNOSettings((4, 3), 4, 1, 8, (0, 2))


class TestEnsemble(UQOperatorContract):
    def make_operator(self, seed: int) -> UQOperator:
        return uq_operator("ensemble", 3, TINY, n_members=3, seed=seed)


class TestDiverseNO(UQOperatorContract):
    def make_operator(self, seed: int) -> UQOperator:
        return uq_operator("diverse", 3, TINY, n_members=4, seed=seed)


class TestMCDropout(UQOperatorContract):
    def make_operator(self, seed: int) -> UQOperator:
        return uq_operator("mcdropout", 3, TINY, n_members=3, seed=seed)


class TestMeanVar(UQOperatorContract):
    def make_operator(self, seed: int) -> UQOperator:
        return uq_operator("meanvar", 3, TINY, seed=seed)


def _generic(c: int) -> nn.Module:
    """A stand-in for neuraloperator's FNO: any channels-first operator with out_channels=c."""
    return FNO((4, 3), 3, c, 4, 1, positional_embedding=None)


@pytest.mark.parametrize("kind", UQ_KINDS)
def test_generic_operator_contract(kind: str) -> None:
    class _Contract(UQOperatorContract):
        def make_operator(self, seed: int) -> UQOperator:
            return uq_operator_from(kind, _generic, 6, n_members=3, seed=seed)

    c = _Contract()
    for name in dir(c):
        if name.startswith("test_"):
            getattr(c, name)()


def test_unknown_kind_and_bad_sizes_raise() -> None:
    with pytest.raises(ValueError, match="kind"):
        uq_operator("bayes", 3, TINY)
    with pytest.raises(ValueError, match="n_heads"):
        uq_operator("diverse", 3, TINY, n_members=1)
    with pytest.raises(ValueError, match="dropout"):
        uq_operator("mcdropout", 3, TINY, dropout=0.0)


def test_ensemble_members_independent_and_mixture_variance() -> None:
    model = uq_operator("ensemble", 3, TINY, n_members=3)
    a = torch.rand(2, 3, 12, 6)
    pred = model.predict(a)
    assert not torch.allclose(pred.means[0], pred.means[1])
    spread = pred.means.var(0, unbiased=False)
    torch.testing.assert_close(pred.variance, spread + model.variance_floor)


def test_diversity_penalty_is_mean_pairwise_distance() -> None:
    model = uq_operator("diverse", 3, TINY, n_members=4)
    assert isinstance(model, DiverseNO)
    w = model.heads.detach()
    pairs = [((w[i] - w[j]) ** 2).sum() for i in range(4) for j in range(i + 1, 4)]
    torch.testing.assert_close(model.diversity().detach(), torch.stack(pairs).mean())
    batch = {"a": torch.rand(2, 3, 12, 6), "y": torch.rand(2, 1, 12, 6)}
    plain = uq_operator("diverse", 3, TINY, n_members=4, diversity_weight=0.0).loss(batch)
    assert float(model.loss(batch).detach()) < float(
        plain.detach()
    )  # same weights, penalty subtracted


def test_joint_constraint_matrix() -> None:
    g = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    G = joint_constraint(g, 2)
    u = torch.arange(6.0, dtype=torch.float64)  # (n_x=3, n_t=2) flattened
    torch.testing.assert_close(G @ u, (g[:, None] * u.reshape(3, 2)).sum(0))


def test_conserve_prediction_dense_reference() -> None:
    """Per-slice update against the dense float64 formula μ − ΣGᵀ(GΣGᵀ)⁻¹(Gμ − b)."""
    model = uq_operator("ensemble", 3, TINY, n_members=3)
    a = torch.rand(2, 3, 12, 6)
    pred = model.predict(a)
    g = quadrature_weights(torch.linspace(0, 1, 12, dtype=torch.float64))
    b = torch.rand(2, 6, dtype=torch.float64)
    post = conserve_prediction(pred, g, b)
    G = joint_constraint(g, 6)
    for i in range(2):
        S = torch.diag(pred.variance[i].double())
        mu = pred.mean[i].double()
        K = S @ G.T @ torch.linalg.inv(G @ S @ G.T)
        torch.testing.assert_close(post.mean[i], mu - K @ (G @ mu - b[i]))
        torch.testing.assert_close(post.variance[i], torch.diagonal(S - K @ G @ S))


def test_training_through_the_constraint_moves_toward_lower_crps() -> None:
    torch.manual_seed(0)
    model = uq_operator("meanvar", 3, TINY)
    x = torch.linspace(0, 1, 12, dtype=torch.float64)
    g = quadrature_weights(x)
    a = torch.rand(4, 3, 12, 6)
    y = torch.sin(3 * a[:, :1]) + a[:, -1:]
    b = (g[None, :, None] * y[:, 0].double()).sum(1)
    batch = {"a": a, "y": y, "b": b}
    loss_fn = conserved_crps_loss(g)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = float(loss_fn(model, batch).detach())
    for _ in range(80):
        opt.zero_grad()
        loss = loss_fn(model, batch)
        loss.backward()
        opt.step()
    assert all(p.grad is not None for p in model.parameters())
    assert float(loss_fn(model, batch).detach()) < 0.8 * first
    with pytest.raises(ValueError, match="UQOperator"):
        loss_fn(nn.Linear(2, 2), batch)


try:
    from neuralop.models import FNO as NeuralopFNO

    HAVE_NEURALOP = True
except ImportError:  # pragma: no cover - the [neuralop] extra is installed by `make test`
    HAVE_NEURALOP = False


@pytest.mark.skipif(not HAVE_NEURALOP, reason="neuraloperator is not importable")
@pytest.mark.parametrize("kind", UQ_KINDS)
def test_neuraloperator_fno_satisfies_the_contract(kind: str) -> None:
    """The documented use: ``uq_operator_from(kind, lambda c: neuralop.models.FNO(...))`` — the
    real neuraloperator FNO as feature operator passes the whole shipped contract (mixture
    shapes, float64, determinism, eval mode, gradients, state_dict, bad input, conservation
    after the update)."""

    def build(c: int) -> nn.Module:
        return NeuralopFNO(n_modes=(4, 3), in_channels=3, out_channels=c, hidden_channels=8)

    class _Contract(UQOperatorContract):
        def make_operator(self, seed: int) -> UQOperator:
            return uq_operator_from(kind, build, 6, n_members=3, seed=seed)

    c = _Contract()
    names = [n for n in dir(c) if n.startswith("test_")]
    assert len(names) >= 8
    for name in names:
        getattr(c, name)()
