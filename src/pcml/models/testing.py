"""Contract tests every ``ProbabilisticBackbone`` must pass; shipped in the package like GPyTorch's.

Use it from a test module by subclassing with a ``Test`` prefix and building a small model::

    class TestMyBackbone(BackboneContract):
        def make_backbone(self, seed: int) -> ProbabilisticBackbone:
            torch.manual_seed(seed)
            return MyBackbone(hidden_channels=8)

The checks: output shapes and dtype (float32 and float64), positive finite variances, mixture
sample shapes, determinism under a seeded generator, batch independence (function i's prediction
does not depend on the other functions in the batch), invariance to splitting the query set,
finite loss with finite gradients, eval-mode inference (dropout off, mode restored), a
``state_dict`` round trip through ``torch.save``/``torch.load(weights_only=True)``, and
``ValueError`` on malformed inputs.
"""

from __future__ import annotations

import io

import torch
from torch import Tensor

from pcml.models.base import MixturePrediction, ProbabilisticBackbone

__all__ = ["BackboneContract"]


class BackboneContract:
    """Mixin of contract tests; subclasses implement ``make_backbone(seed)``."""

    x_dim: int = 2
    batch_size: int = 3
    n_context: int = 7
    n_target: int = 6
    n_query: int = 9
    n_samples: int = 4
    rtol: float = 1e-5
    atol: float = 1e-6

    def make_backbone(self, seed: int) -> ProbabilisticBackbone:
        """A small model; different seeds may give different initial weights."""
        raise NotImplementedError

    # ------------------------------------------------------------------------------ helpers
    def make_batch(self, seed: int = 0, dtype: torch.dtype = torch.float32) -> dict[str, Tensor]:
        """Contexts/targets/queries on [0, 1]^d with y = sin(3 x_1 + 2 x_2 + …) + offset_b."""
        g = torch.Generator().manual_seed(seed)
        b, d = self.batch_size, self.x_dim
        w = torch.arange(3.0, 3.0 - d, -1.0, dtype=dtype)[:d]
        offset = torch.rand(b, 1, 1, generator=g, dtype=dtype)

        def points(n: int) -> Tensor:
            return torch.rand(b, n, d, generator=g, dtype=dtype)

        def values(x: Tensor) -> Tensor:
            return torch.sin(x @ w).unsqueeze(-1) + offset

        cx, tx, qx = points(self.n_context), points(self.n_target), points(self.n_query)
        return {
            "context_x": cx,
            "context_y": values(cx),
            "target_x": tx,
            "target_y": values(tx),
            "query_x": qx,
        }

    def _predict(
        self, model: ProbabilisticBackbone, batch: dict[str, Tensor], seed: int = 123
    ) -> MixturePrediction:
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            return model.predict(
                batch["context_x"], batch["context_y"], batch["query_x"], self.n_samples, g
            )

    def _assert_same(self, a: MixturePrediction, b: MixturePrediction, exact: bool = False) -> None:
        rtol, atol = (0.0, 0.0) if exact else (self.rtol, self.atol)
        torch.testing.assert_close(a.means, b.means, rtol=rtol, atol=atol)
        torch.testing.assert_close(a.variances, b.variances, rtol=rtol, atol=atol)

    # ------------------------------------------------------------------------------ tests
    def test_shapes_and_dtype(self) -> None:
        model = self.make_backbone(0)
        pred = self._predict(model, self.make_batch())
        s = pred.means.shape[0]
        assert s >= 1
        assert tuple(pred.means.shape) == (s, self.batch_size, self.n_query)
        assert pred.means.dtype == torch.float32 and pred.variances.dtype == torch.float32
        assert (
            tuple(pred.mean.shape) == tuple(pred.variance.shape) == (self.batch_size, self.n_query)
        )

    def test_float64(self) -> None:
        model = self.make_backbone(0).double()
        pred = self._predict(model, self.make_batch(dtype=torch.float64))
        assert pred.means.dtype == torch.float64 and pred.variances.dtype == torch.float64

    def test_variances_positive_and_finite(self) -> None:
        pred = self._predict(self.make_backbone(0), self.make_batch())
        assert bool(torch.isfinite(pred.means).all())
        assert bool(torch.isfinite(pred.variances).all()) and bool((pred.variances > 0).all())
        assert bool((pred.variance > 0).all())

    def test_sample_shape(self) -> None:
        pred = self._predict(self.make_backbone(0), self.make_batch())
        samples = pred.sample(5, generator=torch.Generator().manual_seed(0))
        assert tuple(samples.shape) == (5, self.batch_size, self.n_query)
        assert bool(torch.isfinite(samples).all())

    def test_seeded_determinism(self) -> None:
        model, batch = self.make_backbone(0), self.make_batch()
        self._assert_same(
            self._predict(model, batch, 7), self._predict(model, batch, 7), exact=True
        )

    def test_batch_independence(self) -> None:
        model, batch = self.make_backbone(0), self.make_batch(0)
        other = self.make_batch(1)
        mixed = {k: torch.cat([v[:1], other[k][1:]]) for k, v in batch.items()}
        a, b = self._predict(model, batch), self._predict(model, mixed)
        first = MixturePrediction(a.means[:, :1], a.variances[:, :1])
        self._assert_same(first, MixturePrediction(b.means[:, :1], b.variances[:, :1]))
        assert not torch.allclose(a.means[:, 1:], b.means[:, 1:])

    def test_query_split_invariance(self) -> None:
        model, batch = self.make_backbone(0), self.make_batch()
        full = self._predict(model, batch)
        k = self.n_query // 3
        parts = [
            self._predict(model, {**batch, "query_x": batch["query_x"][:, sl]})
            for sl in (slice(0, k), slice(k, None))
        ]
        joined = MixturePrediction(
            torch.cat([p.means for p in parts], dim=-1),
            torch.cat([p.variances for p in parts], dim=-1),
        )
        self._assert_same(full, joined)

    def test_loss_finite_and_backward(self) -> None:
        model = self.make_backbone(0)
        model.train()
        loss = model.loss(self.make_batch())
        assert loss.ndim == 0 and bool(torch.isfinite(loss))
        loss.backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        assert grads, "no parameter received a gradient"
        assert all(bool(torch.isfinite(g).all()) for g in grads)
        assert any(bool((g != 0).any()) for g in grads)

    def test_predict_runs_in_eval_mode(self) -> None:
        model, batch = self.make_backbone(0), self.make_batch()
        model.train()
        in_train = [self._predict(model, batch, 5) for _ in range(2)]
        assert model.training and all(m.training for m in model.modules())
        model.eval()
        in_eval = self._predict(model, batch, 5)
        assert not any(m.training for m in model.modules())
        self._assert_same(in_train[0], in_train[1], exact=True)
        self._assert_same(in_train[0], in_eval, exact=True)

    def test_state_dict_round_trip(self) -> None:
        model, batch = self.make_backbone(0), self.make_batch()
        opt = torch.optim.SGD(model.parameters(), lr=1e-2)
        model.loss(batch).backward()
        opt.step()
        buffer = io.BytesIO()
        torch.save(model.state_dict(), buffer)
        buffer.seek(0)
        fresh = self.make_backbone(0)
        before = self._predict(fresh, batch)
        expected = self._predict(model, batch)
        assert not torch.equal(before.means, expected.means)
        fresh.load_state_dict(torch.load(buffer, weights_only=True))
        self._assert_same(self._predict(fresh, batch), expected, exact=True)

    def test_malformed_inputs_raise(self) -> None:
        model, batch = self.make_backbone(0), self.make_batch()
        cx, cy, qx = batch["context_x"], batch["context_y"], batch["query_x"]
        bad = [
            (cx[0], cy, qx),  # missing batch axis
            (cx, cy[:, :-1], qx),  # context count mismatch
            (cx, cy, qx[..., :1]),  # query dimension mismatch
            (cx, cy, qx[:1]),  # batch mismatch
        ]
        for args in bad:
            try:
                model.predict(*args, n_samples=self.n_samples)
            except ValueError:
                continue
            raise AssertionError(f"no ValueError for shapes {[tuple(a.shape) for a in args]}")
