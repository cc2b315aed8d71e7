"""Contract tests every :class:`~pcml.models.uq_operators.UQOperator` must pass (shipped, like
:mod:`pcml.models.testing` for point-set backbones).

Subclass with a ``Test`` prefix and build a small model::

    class TestMyOperator(UQOperatorContract):
        def make_operator(self, seed: int) -> UQOperator:
            return uq_operator("diverse", 3, FNOSettings((4, 3), 4, 1, 8, (0, 0)), seed=seed)

Checks: ``predict`` returns a :class:`MixturePrediction` ``(S, B, n_x n_t)`` (float32 and
float64) with positive finite variances and exact samples of the right shape; seeded
determinism; batch independence; eval-mode inference with the module's modes restored; finite
loss with finite, non-zero gradients; a ``state_dict`` round trip through
``torch.load(weights_only=True)``; ``ValueError`` on malformed input; and that ProbConserv
applies unchanged: after ``conserve_prediction`` (per slice or joint, which agree) every slice's
trapezoid mass equals b to 1e-12 relative, and the variance does not increase.
"""

from __future__ import annotations

import io

import torch
from torch import Tensor

from pcml.constraints.quadrature import quadrature_weights
from pcml.models.base import MixturePrediction
from pcml.models.uq_operators import UQOperator, conserve_prediction

__all__ = ["UQOperatorContract"]


class UQOperatorContract:
    """Mixin of contract tests; subclasses implement ``make_operator(seed)``."""

    in_channels: int = 3
    n_x: int = 12
    n_t: int = 6
    batch_size: int = 3

    def make_operator(self, seed: int) -> UQOperator:
        raise NotImplementedError

    def make_batch(self, seed: int = 0, dtype: torch.dtype = torch.float32) -> dict[str, Tensor]:
        g = torch.Generator().manual_seed(seed)
        shape = (self.batch_size, self.in_channels, self.n_x, self.n_t)
        a = torch.rand(shape, generator=g, dtype=dtype)
        y = torch.sin(3 * a[:, :1]) + a[:, -1:]
        b = torch.rand(self.batch_size, self.n_t, generator=g, dtype=torch.float64)
        return {"a": a, "y": y, "b": b}

    def _predict(self, model: UQOperator, a: Tensor, seed: int = 11) -> MixturePrediction:
        with torch.no_grad():
            return model.predict(a, torch.Generator().manual_seed(seed))

    def test_mixture_prediction(self) -> None:
        pred = self._predict(self.make_operator(0), self.make_batch()["a"])
        assert isinstance(pred, MixturePrediction)
        s = pred.n_components
        assert s >= 1 and tuple(pred.means.shape) == (s, self.batch_size, self.n_x * self.n_t)
        assert pred.means.dtype == pred.variances.dtype == torch.float32
        assert bool(torch.isfinite(pred.means).all()) and bool((pred.variances > 0).all())
        samples = pred.sample(4, torch.Generator().manual_seed(0))
        assert tuple(samples.shape) == (4, self.batch_size, self.n_x * self.n_t)

    def test_float64(self) -> None:
        model = _double(self.make_operator(0))
        pred = self._predict(model, self.make_batch(dtype=torch.float64)["a"])
        assert pred.means.dtype == pred.variances.dtype == torch.float64

    def test_seeded_determinism_and_batch_independence(self) -> None:
        model = self.make_operator(0)
        a = self.make_batch(0)["a"]
        p1, p2 = self._predict(model, a), self._predict(model, a)
        assert torch.equal(p1.means, p2.means) and torch.equal(p1.variances, p2.variances)
        mixed = torch.cat([a[:1], self.make_batch(1)["a"][1:]])
        p3 = self._predict(model, mixed)
        torch.testing.assert_close(p3.means[:, 0], p1.means[:, 0], rtol=1e-5, atol=1e-6)
        assert not torch.allclose(p3.means[:, 1:], p1.means[:, 1:])

    def test_predict_runs_in_eval_mode(self) -> None:
        model, a = self.make_operator(0), self.make_batch()["a"]
        model.train()
        p_train = self._predict(model, a)
        assert all(m.training for m in model.modules())
        model.eval()
        p_eval = self._predict(model, a)
        assert not any(m.training for m in model.modules())
        assert torch.equal(p_train.means, p_eval.means)

    def test_loss_and_gradients(self) -> None:
        model = self.make_operator(0)
        model.train()
        loss = model.loss(self.make_batch())
        assert loss.ndim == 0 and bool(torch.isfinite(loss))
        loss.backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        assert grads and all(bool(torch.isfinite(g).all()) for g in grads)
        assert any(bool((g != 0).any()) for g in grads)

    def test_state_dict_round_trip(self) -> None:
        model, batch = self.make_operator(0), self.make_batch()
        opt = torch.optim.SGD(model.parameters(), lr=1e-2)
        model.loss(batch).backward()
        opt.step()
        buf = io.BytesIO()
        torch.save(model.state_dict(), buf)
        buf.seek(0)
        fresh = self.make_operator(0)
        expected = self._predict(model, batch["a"])
        assert not torch.equal(self._predict(fresh, batch["a"]).means, expected.means)
        fresh.load_state_dict(torch.load(buf, weights_only=True))
        assert torch.equal(self._predict(fresh, batch["a"]).means, expected.means)

    def test_malformed_input_raises(self) -> None:
        model, batch = self.make_operator(0), self.make_batch()
        for bad in (batch["a"][0, 0], batch["a"][:, :1]):
            try:
                model.predict(bad)
            except ValueError:
                continue
            raise AssertionError(f"no ValueError for input shape {tuple(bad.shape)}")
        try:
            model.loss({**batch, "y": batch["y"][:, :, :-1]})
        except ValueError:
            return
        raise AssertionError("no ValueError for a target of the wrong shape")

    def test_conserve_applies(self) -> None:
        model, batch = self.make_operator(0), self.make_batch()
        pred = self._predict(model, batch["a"])
        x = torch.linspace(0.0, 1.0, self.n_x, dtype=torch.float64)
        g = quadrature_weights(x)
        post = conserve_prediction(pred, g, batch["b"])
        joint = conserve_prediction(pred, g, batch["b"], joint=True)
        torch.testing.assert_close(post.means, joint.means, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(post.variances, joint.variances, rtol=1e-9, atol=1e-15)
        u = post.mean.reshape(self.batch_size, self.n_x, self.n_t)
        mass = (g[None, :, None] * u).sum(1)
        scale = (g[None, :, None] * u.abs()).sum(1) + batch["b"].abs()
        assert bool(((mass - batch["b"]).abs() <= 1e-12 * scale).all())
        assert bool((post.variance <= pred.variance.double() * (1 + 1e-12)).all())


def _double(model: UQOperator) -> UQOperator:
    """``model.double()`` with complex parameters and buffers too (``nn.Module.double`` leaves
    them complex64, e.g. neuraloperator's spectral weights, and ``.to(float64)`` drops their
    imaginary parts)."""
    model = model.double()
    for t in (*model.parameters(), *model.buffers()):
        if t.is_complex():
            t.data = t.data.to(torch.complex128)
    return model
