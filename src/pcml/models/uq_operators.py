r"""Uncertainty-aware neural operators (Mouli et al. 2024) returning a :class:`MixturePrediction`.

Every model maps an input field a ``(B, C_in, *grid)`` to an equal-weight mixture of S Gaussians
over the n = ∏ grid output values (flattened in C order: node (i, j) of an (n_x, n_t) grid is
i·n_t + j),

    p(u | a) = (1/S) Σ_s N(u; μ_s(a), diag σ_s²(a)),

built on a *feature trunk* φ: (B, C_in, *grid) → (B, F, *grid) (pcml's FNO up to its last
hidden layer, :class:`FNOFeatures`, or any channels-first operator, :class:`OperatorFeatures`)
and pointwise linear heads:

- :class:`EnsembleFNO`: M independent trunks and heads, μ_m = w_mᵀ φ_m(a) + c_m, σ_m² = ε
  (deterministic members; ε = ``variance_floor``); loss Σ_m relL2(μ_m, u);
- :class:`DiverseNO`: one trunk, M bias-free heads μ_m = w_mᵀ φ(a), σ_m² = ε; loss
  mean_m relL2(μ_m, u) − λ R, R = (2/(M(M−1))) Σ_{m<m'} ‖w_m − w_m'‖² (all pairs; the original
  sampled 5 heads with replacement per step, reference §10);
- :class:`MCDropoutFNO`: dropout p after every Fourier layer and before the head, kept on for S
  passes at prediction; σ_s² = ε; loss relL2 with dropout on;
- :class:`MeanVarFNO`: one trunk, μ = w_μᵀ φ, σ² = softplus(w_σᵀ φ) + ε, S = 1; loss the mean
  Gaussian NLL ½[(u − μ)²/σ² + log σ² + log 2π].

relL2(v, u) = ‖v − u‖/‖u‖ per sample, averaged over the batch. The mixture moments are
mean = (1/S) Σ μ_s and variance = (1/S) Σ σ_s² + (1/S) Σ (μ_s − mean)² (population variance, the
exact mixture variance; the original used the unbiased one). :func:`conserve_prediction`
conditions the moment-matched Gaussian N(mean, diag variance) on the conservation law, per time
slice (G = gᵀ, b_j) or jointly (G of shape (n_t, n_x n_t)); both give the same posterior.
"""

from __future__ import annotations

import abc
import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pcml.constraints.conservation import conserve
from pcml.models._foreign import tensors_only_state_dict
from pcml.models.base import LOG_2PI, MixturePrediction, eval_mode
from pcml.models.fno import FNO

__all__ = [
    "UQ_KINDS",
    "DiverseNO",
    "EnsembleFNO",
    "FNOFeatures",
    "FNOSettings",
    "MCDropoutFNO",
    "MeanVarFNO",
    "OperatorFeatures",
    "UQOperator",
    "conserve_prediction",
    "joint_constraint",
    "relative_l2_loss",
    "uq_operator",
    "uq_operator_from",
]

UQ_KINDS = ("ensemble", "diverse", "mcdropout", "meanvar")


@dataclass(frozen=True)
class FNOSettings:
    """pcml FNO trunk sizes (the follow-up's FNO2d: modes 12 × 12, width 32, 4 layers, padding 9,
    projection 128)."""

    n_modes: tuple[int, ...] = (12, 12)
    hidden_channels: int = 32
    n_layers: int = 4
    projection_channels: int = 128
    padding: tuple[int, ...] = (9, 9)


class _Dropout(nn.Module):
    """Dropout that is on in train mode, or always while ``force`` is set (MC dropout)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout: expected p in [0, 1), got {p}")
        self.p, self.force = p, False

    def forward(self, v: Tensor) -> Tensor:
        return F.dropout(v, self.p, training=self.training or self.force) if self.p else v


class FNOFeatures(nn.Module):
    """pcml FNO without its last linear map: a ↦ GELU(P_1 v_L) ``(B, projection_channels, *grid)``,
    with dropout p after every Fourier layer and on the features. The coordinates are expected
    among the input channels (``positional_embedding=None``)."""

    def __init__(self, in_channels: int, settings: FNOSettings, dropout: float = 0.0) -> None:
        super().__init__()
        s = settings
        self.fno = FNO(
            s.n_modes,
            in_channels,
            1,
            s.hidden_channels,
            s.n_layers,
            projection_channels=s.projection_channels,
            positional_embedding=None,
            padding=s.padding,
        )
        del self.fno.projection_out  # replaced by the UQ heads
        self.drop = nn.ModuleList(_Dropout(dropout) for _ in range(s.n_layers + 1))
        self.out_channels = s.projection_channels

    def forward(self, a: Tensor) -> Tensor:
        grid = a.shape[2:]
        v = self.fno.pad(self.fno.lift(a))
        for layer, drop in zip(self.fno.layers, self.drop, strict=False):
            v = drop(layer(v))
        v = self.fno.crop(v, grid)
        return self.drop[-1](F.gelu(self.fno.project_hidden(v)))


class OperatorFeatures(nn.Module):
    """Any channels-first operator (e.g. ``neuralop.models.FNO(..., out_channels=F)``) as a
    trunk: a ↦ dropout(GELU(operator(a))) ``(B, F, *grid)``. The input's channel count is
    checked against the operator's ``in_channels`` attribute where it has one (pcml's and
    neuraloperator's FNO do), so that a wrong input is a ``ValueError`` naming ``a``, not the
    operator's own error from deep inside."""

    def __init__(self, operator: nn.Module, out_channels: int, dropout: float = 0.0) -> None:
        super().__init__()
        tensors_only_state_dict(self)
        self.operator, self.out_channels = operator, out_channels
        c_in = getattr(operator, "in_channels", None)
        self.in_channels: int | None = c_in if isinstance(c_in, int) else None
        self.drop = _Dropout(dropout)

    def forward(self, a: Tensor) -> Tensor:
        if self.in_channels is not None and a.shape[1] != self.in_channels:
            raise ValueError(
                f"a: expected (B, {self.in_channels}, *grid) for the operator's in_channels="
                f"{self.in_channels}, got shape {tuple(a.shape)}"
            )
        v = self.operator(a)
        if v.ndim != a.ndim or v.shape[1] != self.out_channels:
            raise ValueError(
                f"operator: expected output (B, {self.out_channels}, *grid), got {tuple(v.shape)}"
            )
        return self.drop(F.gelu(v))


def _head(features: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """(B, F, *grid), (K, F) → (B, K, *grid)."""
    out = torch.einsum("kf,bf...->bk...", weight.to(features.dtype), features)
    if bias is not None:
        out = out + bias.to(features.dtype).reshape(1, -1, *([1] * (features.ndim - 2)))
    return out


def _width(trunk: nn.Module) -> int:
    """The trunk's feature width F (its ``out_channels`` attribute)."""
    width = trunk.__dict__.get("out_channels")
    if not isinstance(width, int) or width < 1:
        raise ValueError(
            f"features: the trunk {type(trunk).__name__} must have an int out_channels >= 1, "
            f"got {width!r}"
        )
    return width


def _linear_params(k: int, f: int, bias: bool) -> tuple[nn.Parameter, nn.Parameter | None]:
    bound = 1.0 / math.sqrt(f)  # nn.Linear's default init
    w = nn.Parameter(torch.empty(k, f).uniform_(-bound, bound))
    return w, (nn.Parameter(torch.empty(k).uniform_(-bound, bound)) if bias else None)


def relative_l2_loss(pred: Tensor, target: Tensor) -> Tensor:
    """mean_b ‖pred_b − target_b‖ / ‖target_b‖ for ``(B, …)`` tensors."""
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must match")
    diff = (pred - target).flatten(1).norm(dim=1)
    return (diff / target.flatten(1).norm(dim=1).clamp_min(1e-12)).mean()


class UQOperator(nn.Module, abc.ABC):
    """Base class: ``components(a) -> (μ, σ²)`` each ``(S, B, *grid)`` in the module's mode;
    ``predict(a)`` the :class:`MixturePrediction` ``(S, B, n)`` in eval mode; ``loss(batch)``."""

    variance_floor: float

    @abc.abstractmethod
    def components(self, a: Tensor) -> tuple[Tensor, Tensor]:
        """Component means and variances ``(S, B, *grid)``."""

    @abc.abstractmethod
    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """Training loss of ``batch = {"a": (B, C_in, *grid), "y": (B, 1, *grid), ...}``."""

    def forward(self, a: Tensor) -> Tensor:
        """The mixture mean ``(B, 1, *grid)``."""
        return self.components(_check_input(a))[0].mean(0).unsqueeze(1)

    def _eval_mode(self) -> contextlib.AbstractContextManager[None]:
        return eval_mode(self)

    def predict(self, a: Tensor, generator: torch.Generator | None = None) -> MixturePrediction:
        """Predictive mixture ``(S, B, n)`` of ``a (B, C_in, *grid)``, in eval mode (the module's
        mode is restored); ``generator`` seeds all randomness (MC dropout)."""
        a = _check_input(a)
        with self._eval_mode():
            mu, var = self.components(a)
        return MixturePrediction(mu.flatten(2), var.flatten(2))


def _check_input(a: Tensor) -> Tensor:
    if not isinstance(a, Tensor) or a.ndim < 3:
        raise ValueError(
            f"a: expected a tensor of shape (B, C_in, *grid), got "
            f"{tuple(a.shape) if isinstance(a, Tensor) else type(a).__name__}"
        )
    return a


def _target(batch: dict[str, Tensor], like: Tensor) -> Tensor:
    y = batch["y"]
    if tuple(y.shape) != (like.shape[0], 1, *like.shape[2:]):
        raise ValueError(
            f"y: expected shape (B, 1, *grid) = {(like.shape[0], 1, *like.shape[2:])}, "
            f"got {tuple(y.shape)}"
        )
    return y


def _floor_like(mu: Tensor, floor: float) -> Tensor:
    return torch.full_like(mu, floor)


class EnsembleFNO(UQOperator):
    """M independent members (trunk + affine head), member m initialised with seed + m."""

    def __init__(
        self,
        features: Callable[[], nn.Module],
        n_members: int = 5,
        seed: int = 0,
        variance_floor: float = 1e-8,
    ) -> None:
        super().__init__()
        if n_members < 1:
            raise ValueError(f"n_members: expected >= 1, got {n_members}")
        self.variance_floor = variance_floor
        trunks, weights, biases = [], [], []
        for m in range(n_members):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed + m)
                trunk = features()
                w, b = _linear_params(1, _width(trunk), bias=True)
            trunks.append(trunk)
            weights.append(w)
            biases.append(b)
        self.trunks = nn.ModuleList(trunks)
        self.weights = nn.ParameterList(weights)
        self.biases = nn.ParameterList(biases)

    def components(self, a: Tensor) -> tuple[Tensor, Tensor]:
        mu = torch.stack(
            [
                _head(t(a), w, b)[:, 0]
                for t, w, b in zip(self.trunks, self.weights, self.biases, strict=True)
            ]
        )
        return mu, _floor_like(mu, self.variance_floor)

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        mu, _ = self.components(_check_input(batch["a"]))
        y = _target(batch, batch["a"])[:, 0]
        return torch.stack([relative_l2_loss(m, y) for m in mu]).sum()


class DiverseNO(UQOperator):
    """Shared trunk, M bias-free linear heads, diversity penalty −λ R on the head weights."""

    def __init__(
        self,
        features: Callable[[], nn.Module],
        n_heads: int = 10,
        diversity_weight: float = 0.01,
        seed: int = 0,
        variance_floor: float = 1e-8,
    ) -> None:
        super().__init__()
        if n_heads < 2:
            raise ValueError(f"n_heads: expected >= 2, got {n_heads}")
        if not diversity_weight >= 0:
            raise ValueError(f"diversity_weight: expected >= 0, got {diversity_weight}")
        self.variance_floor, self.diversity_weight = variance_floor, diversity_weight
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.trunk = features()
            self.heads, _ = _linear_params(n_heads, _width(self.trunk), bias=False)

    def components(self, a: Tensor) -> tuple[Tensor, Tensor]:
        mu = _head(self.trunk(a), self.heads).movedim(1, 0)
        return mu, _floor_like(mu, self.variance_floor)

    def diversity(self) -> Tensor:
        """R = mean over pairs m < m' of ‖w_m − w_m'‖²."""
        w = self.heads
        m = w.shape[0]
        sq = (w.unsqueeze(0) - w.unsqueeze(1)).square().sum(-1)
        return sq.sum() / (m * (m - 1))

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        mu, _ = self.components(_check_input(batch["a"]))
        y = _target(batch, batch["a"])[:, 0]
        fit = torch.stack([relative_l2_loss(m, y) for m in mu]).mean()
        return fit - self.diversity_weight * self.diversity()


class MCDropoutFNO(UQOperator):
    """Trunk with dropout (p inside ``features``), affine head; S passes with dropout on."""

    def __init__(
        self,
        features: Callable[[], nn.Module],
        n_samples: int = 10,
        seed: int = 0,
        variance_floor: float = 1e-8,
    ) -> None:
        super().__init__()
        if n_samples < 2:
            raise ValueError(f"n_samples: expected >= 2, got {n_samples}")
        self.n_samples, self.variance_floor = n_samples, variance_floor
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.trunk = features()
            self.weight, self.bias = _linear_params(1, _width(self.trunk), bias=True)
        if not any(isinstance(m, _Dropout) and m.p > 0 for m in self.trunk.modules()):
            raise ValueError("features: MC dropout needs a trunk built with dropout > 0")

    def _once(self, a: Tensor) -> Tensor:
        return _head(self.trunk(a), self.weight, self.bias)[:, 0]

    def components(self, a: Tensor) -> tuple[Tensor, Tensor]:
        if self.training:  # training: one pass with dropout, as the loss
            mu = self._once(a).unsqueeze(0)
        else:
            mu = torch.stack([self._once(a) for _ in range(self.n_samples)])
        return mu, _floor_like(mu, self.variance_floor)

    def predict(self, a: Tensor, generator: torch.Generator | None = None) -> MixturePrediction:
        """S = n_samples passes with dropout on, masks seeded from ``generator``."""
        a = _check_input(a)
        seed = int(torch.randint(2**62, (), generator=generator))
        drops = [m for m in self.modules() if isinstance(m, _Dropout)]
        with self._eval_mode(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for d in drops:
                d.force = True
            try:
                mu, var = self.components(a)
            finally:
                for d in drops:
                    d.force = False
        return MixturePrediction(mu.flatten(2), var.flatten(2))

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        a = _check_input(batch["a"])
        return relative_l2_loss(self._once(a), _target(batch, a)[:, 0])


class MeanVarFNO(UQOperator):
    """Trunk with a mean and a softplus-variance head (S = 1), Gaussian NLL."""

    def __init__(
        self, features: Callable[[], nn.Module], seed: int = 0, variance_floor: float = 1e-6
    ) -> None:
        super().__init__()
        self.variance_floor = variance_floor
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.trunk = features()
            self.weight, self.bias = _linear_params(2, _width(self.trunk), bias=True)

    def components(self, a: Tensor) -> tuple[Tensor, Tensor]:
        out = _head(self.trunk(a), self.weight, self.bias)
        var = F.softplus(out[:, 1]) + self.variance_floor
        return out[:, 0].unsqueeze(0), var.unsqueeze(0)

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        mu, var = self.components(_check_input(batch["a"]))
        y = _target(batch, batch["a"])[:, 0]
        return (0.5 * ((y - mu[0]) ** 2 / var[0] + var[0].log() + LOG_2PI)).mean()


def uq_operator_from(
    kind: str,
    build: Callable[[int], nn.Module],
    feature_channels: int = 64,
    *,
    n_members: int = 5,
    diversity_weight: float = 0.01,
    dropout: float = 0.1,
    seed: int = 0,
) -> UQOperator:
    """A UQ operator of ``kind`` (:data:`UQ_KINDS`) on any channels-first operator:
    ``build(out_channels)`` returns a module ``(B, C_in, *grid) → (B, out_channels, *grid)``,
    e.g. ``lambda c: neuralop.models.FNO(n_modes=(12, 12), in_channels=3, out_channels=c,
    hidden_channels=32)``. Its output (width ``feature_channels``) goes through GELU (and
    dropout for "mcdropout") into the heads. ``n_members``: M of the ensemble, heads of
    DiverseNO, passes of MC dropout."""
    p = dropout if kind == "mcdropout" else 0.0

    def features() -> nn.Module:
        return OperatorFeatures(build(feature_channels), feature_channels, p)

    return _make(kind, features, n_members, diversity_weight, seed)


def uq_operator(
    kind: str,
    in_channels: int,
    settings: FNOSettings | None = None,
    *,
    n_members: int = 5,
    diversity_weight: float = 0.01,
    dropout: float = 0.1,
    seed: int = 0,
) -> UQOperator:
    """A UQ operator of ``kind`` (:data:`UQ_KINDS`) on pcml's FNO (:class:`FNOFeatures`)."""
    s = settings or FNOSettings()
    p = dropout if kind == "mcdropout" else 0.0
    return _make(kind, lambda: FNOFeatures(in_channels, s, p), n_members, diversity_weight, seed)


def _make(
    kind: str, features: Callable[[], nn.Module], n: int, lam: float, seed: int
) -> UQOperator:
    if kind == "ensemble":
        return EnsembleFNO(features, n, seed)
    if kind == "diverse":
        return DiverseNO(features, n, lam, seed)
    if kind == "mcdropout":
        return MCDropoutFNO(features, n, seed)
    if kind == "meanvar":
        return MeanVarFNO(features, seed)
    raise ValueError(f"kind: got {kind!r}, expected one of {UQ_KINDS}")


def joint_constraint(g: Tensor, n_t: int) -> Tensor:
    """G ``(n_t, n_x n_t)`` with G[j, i n_t + j] = g_i: all slices' masses at once."""
    n_x = g.shape[-1]
    G = torch.zeros(n_t, n_x, n_t, dtype=g.dtype, device=g.device)
    idx = torch.arange(n_t, device=g.device)
    G[idx, :, idx] = g
    return G.reshape(n_t, n_x * n_t)


def conserve_prediction(
    pred: MixturePrediction,
    g: Tensor,
    b: Tensor,
    *,
    joint: bool = False,
    noise_var: float = 0.0,
) -> MixturePrediction:
    """ProbConserv on the moment-matched Gaussian of ``pred`` ``(S, B, n_x n_t)``:
    condition N(mean, diag variance) on Σ_i g_i u(t_j, x_i) = b_j for every slice j.

    g: ``(n_x,)`` quadrature weights; b: ``(B, n_t)``. ``joint``: one conditioning with
    G = :func:`joint_constraint` (equal to the per-slice update, since diag Σ and a
    block-diagonal G decouple the slices). Computed in float64; returns the posterior as a
    one-component :class:`MixturePrediction` ``(1, B, n)`` in float64, differentiable.
    """
    if b.ndim != 2 or b.shape[0] != pred.means.shape[1]:
        raise ValueError(
            f"b: expected shape (B, n_t) with B = {pred.means.shape[1]}, got {tuple(b.shape)}"
        )
    n_x, n_t = g.shape[-1], b.shape[-1]
    n = pred.means.shape[-1]
    if g.ndim != 1 or n_x * n_t != n:
        raise ValueError(
            f"g: expected shape (n_x,) with n_x · n_t = {n} (n_t = {n_t}), got {tuple(g.shape)}"
        )
    mean, var = pred.mean.to(torch.float64), pred.variance.to(torch.float64)
    g64, b64 = g.to(torch.float64), b.to(torch.float64)
    if joint:
        post = conserve(mean, var, G=joint_constraint(g64, n_t), b=b64, noise_var=noise_var)
        return MixturePrediction(post.mean.unsqueeze(0), post.variance.unsqueeze(0))
    shape = (mean.shape[0], n_x, n_t)
    m_s, v_s = (v.reshape(shape).transpose(-1, -2) for v in (mean, var))  # (B, n_t, n_x)
    post = conserve(m_s, v_s, G=g64, b=b64, noise_var=noise_var)
    back = [
        v.transpose(-1, -2).reshape(shape[0], n).unsqueeze(0) for v in (post.mean, post.variance)
    ]
    return MixturePrediction(back[0], back[1])
