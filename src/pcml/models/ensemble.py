"""Deep ensemble (Lakshminarayanan et al. 2017) of conditional MLPs with mean and variance heads.

Member m maps a function's contexts C = {(x_j, y_j)} and a query x to a Gaussian

    r = (1/N_c) Σ_j φ_m([x_j, y_j])                      (DeepSets encoder, mean pooling)
    μ_m(x), σ²_m(x) = ψ_m([x, r]),   σ²_m = softplus(·) + variance_floor,

and is trained on the Gaussian negative log-likelihood of the targets,

    loss = Σ_m (1/(B N_t)) Σ_{b,i} [ ½ (y_bi − μ_m)² / σ²_m + ½ log σ²_m + ½ log 2π ].

The members are independent (own initialisation seeds, disjoint parameters), so summing their losses
trains each one on its own objective. ``predict`` returns the M members as an equal-weight mixture
(S = M); ``n_samples`` and ``generator`` are not used because the members are deterministic.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pcml.models.base import LOG_2PI, MixturePrediction, ProbabilisticBackbone, check_point_sets

__all__ = ["ConditionalMLP", "DeepEnsemble"]


def _mlp(in_features: int, hidden_channels: int, n_layers: int, out_features: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = in_features
    for _ in range(n_layers):
        layers += [nn.Linear(width, hidden_channels), nn.ReLU()]
        width = hidden_channels
    layers.append(nn.Linear(width, out_features))
    return nn.Sequential(*layers)


class ConditionalMLP(nn.Module):
    """One ensemble member: ``(context_x, context_y, query_x) -> (μ, σ²)`` each ``(B, Nq)``."""

    def __init__(
        self,
        x_dim: int = 2,
        hidden_channels: int = 128,
        n_layers: int = 3,
        r_dim: int = 128,
        variance_floor: float = 1e-6,
    ) -> None:
        super().__init__()
        self.variance_floor = variance_floor
        self.encoder = _mlp(x_dim + 1, hidden_channels, n_layers, r_dim)
        self.decoder = _mlp(x_dim + r_dim, hidden_channels, n_layers, 2)

    def forward(
        self, context_x: Tensor, context_y: Tensor, query_x: Tensor
    ) -> tuple[Tensor, Tensor]:
        r = self.encoder(torch.cat([context_x, context_y], dim=-1)).mean(dim=-2)  # (B, r_dim)
        r = r.unsqueeze(-2).expand(*query_x.shape[:-1], r.shape[-1])
        mu, raw = self.decoder(torch.cat([query_x, r], dim=-1)).unbind(dim=-1)
        return mu, F.softplus(raw) + self.variance_floor


class DeepEnsemble(ProbabilisticBackbone):
    """M independently initialised ``ConditionalMLP`` members (member m seeded with ``seed + m``).

    Args:
        n_members: M (5).
        x_dim: input dimension d.
        hidden_channels, n_layers, r_dim: width and depth of encoder/decoder MLPs, size of r.
        variance_floor: σ² = softplus(·) + variance_floor.
        seed: base seed of the member initialisations (the global RNG is left untouched).
    """

    def __init__(
        self,
        n_members: int = 5,
        x_dim: int = 2,
        hidden_channels: int = 128,
        n_layers: int = 3,
        r_dim: int = 128,
        variance_floor: float = 1e-6,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if n_members < 1:
            raise ValueError(f"n_members must be >= 1, got {n_members}")
        members = []
        for m in range(n_members):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed + m)
                members.append(
                    ConditionalMLP(x_dim, hidden_channels, n_layers, r_dim, variance_floor)
                )
        self.members = nn.ModuleList(members)

    def member_outputs(
        self, context_x: Tensor, context_y: Tensor, query_x: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Stacked member (μ, σ²), each ``(M, B, Nq)``; runs in the module's current mode."""
        check_point_sets(context_x, context_y, query_x)
        outs = [member(context_x, context_y, query_x) for member in self.members]
        return torch.stack([o[0] for o in outs]), torch.stack([o[1] for o in outs])

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """Σ_m mean_{b,i} Gaussian NLL of ``target_y`` under member m."""
        ty = batch["target_y"]
        mu, var = self.member_outputs(batch["context_x"], batch["context_y"], batch["target_x"])
        if tuple(ty.shape) != (*mu.shape[1:], 1):
            raise ValueError(f"target_y must have shape (B, Nt, 1), got {tuple(ty.shape)}")
        nll = 0.5 * (ty.squeeze(-1) - mu) ** 2 / var + 0.5 * torch.log(var) + 0.5 * LOG_2PI
        return nll.mean(dim=(1, 2)).sum()

    def predict(
        self,
        context_x: Tensor,
        context_y: Tensor,
        query_x: Tensor,
        n_samples: int = 32,
        generator: torch.Generator | None = None,
    ) -> MixturePrediction:
        """S = M components ``(M, B, Nq)``, eval mode; ``n_samples``/``generator`` are unused."""
        with self._eval_mode():
            mu, var = self.member_outputs(context_x, context_y, query_x)
        return MixturePrediction(mu, var)
