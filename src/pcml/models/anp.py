"""Attentive neural process (Kim et al. 2019) exactly as used by ProbConserv (reference §3).

    z ~ q(z | C) = N(μ_z, diag exp(ℓ_z)),   r_i = CrossAttn(x_i | C),
    p(y_i | x_i, C, z) = N(μ(r_i, z, x_i), σ(r_i, z, x_i)²),   σ = softplus(·) + 1e-3.

Training (as the original): z ~ q(z | T) from the *target* set only and

    loss = −Σ_{b,i} log N(y_bi | μ_bi, σ_bi²) + Σ_b KL(q(z | T_b) ‖ q(z | C_b)),

summed over batch, points and latent dimensions (``reduction="mean"`` divides by B·N_t).
Test: z_s ~ q(z | C), s = 1..S, giving an S-component mixture.

Architecture with the defaults (989,826 parameters for d = 2): width H = 128, latent 128;
every attention block has 4 heads × 32, bias-free K/Q/V, softmax(QKᵀ/√32) with dropout 0.1,
[query, heads] → Linear(256→128), dropout 0.1, + query, LayerNorm; latent path Linear(3→H),
2 self-attentions, set mean, Linear+ReLU, heads (μ_z, ℓ_z) with ℓ_z a log-variance;
deterministic path Linear(3→H) + 2 self-attentions (values), Linear(2→H) keys of context x,
Linear(2→H) queries of target x, 2 cross-attentions; decoder Linear(2→H) of x, [r, z, x-embedding]
→ 3 × (Linear(3H→3H) + ReLU) → Linear(3H→2). Xavier-uniform weights (gain √2 before a ReLU, else 1).

Differences from the original code, on purpose:
- ``predict`` runs in eval mode, so attention/residual dropout is OFF at inference. The original
  never called ``eval()`` and mixed dropout noise into its UQ (reference defect 12.1). MC-dropout is
  an explicit option (``mc_dropout=True``), which reruns the whole network per latent sample.
- Targets never attend to each other, so predictions are computed in chunks of query points
  (``query_chunk_size``); this is exact. By default the chunk is chosen so that one decoder
  activation (S·B·chunk·3H values) stays below ``max_chunk_elements`` (2^25, 128 MiB in float32),
  so a 201×201 grid with 100 latent samples fits in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pcml.models.base import LOG_2PI, MixturePrediction, ProbabilisticBackbone, check_point_sets

__all__ = ["ANPTrainingOutput", "AttentiveNeuralProcess"]


def _linear(
    in_features: int, out_features: int, *, bias: bool = True, relu: bool = False
) -> nn.Linear:
    layer = nn.Linear(in_features, out_features, bias=bias)
    gain = nn.init.calculate_gain("relu" if relu else "linear")
    nn.init.xavier_uniform_(layer.weight, gain=gain)
    return layer


class _Attention(nn.Module):
    """out = LayerNorm(q + Dropout(W [q, MultiHead(q, k, v)])); q, k, v: (..., N, H)."""

    def __init__(self, hidden: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        if hidden % n_heads != 0:
            raise ValueError(f"hidden_channels={hidden} must be divisible by n_heads={n_heads}")
        self.n_heads = n_heads
        self.key = _linear(hidden, hidden, bias=False)
        self.value = _linear(hidden, hidden, bias=False)
        self.query = _linear(hidden, hidden, bias=False)
        self.attn_dropout = nn.Dropout(dropout)
        self.final_linear = _linear(2 * hidden, hidden)
        self.residual_dropout = nn.Dropout(dropout)
        self.layer_norm = nn.LayerNorm(hidden)

    def _heads(self, x: Tensor) -> Tensor:  # (..., N, H) -> (..., heads, N, H/heads)
        return x.unflatten(-1, (self.n_heads, -1)).transpose(-3, -2)

    def forward(self, key: Tensor, value: Tensor, query: Tensor) -> Tensor:
        k, v, q = (
            self._heads(self.key(key)),
            self._heads(self.value(value)),
            self._heads(self.query(query)),
        )
        # softmax(q kᵀ/√d_h) v with dropout on the weights, as one fused kernel (about 1.5x faster
        # than the three explicit ops on CPU). Its CPU backward is not differentiable again: code
        # that needs second derivatives (SoftC) runs under sdpa_kernel(SDPBackend.MATH).
        p = self.attn_dropout.p if self.training else 0.0
        heads = F.scaled_dot_product_attention(q, k, v, dropout_p=p)
        heads = heads.transpose(-3, -2).flatten(-2)
        out = self.residual_dropout(self.final_linear(torch.cat([query, heads], dim=-1)))
        return self.layer_norm(out + query)


@dataclass(frozen=True)
class ANPTrainingOutput:
    """Training forward pass: ``mean``/``std`` ``(B, Nt)``, scalar ``nll``, ``kl`` and ``loss``."""

    loss: Tensor
    nll: Tensor
    kl: Tensor
    mean: Tensor
    std: Tensor


class AttentiveNeuralProcess(ProbabilisticBackbone):
    """ANP backbone; see the module docstring for the model and its differences from the original.

    Args:
        x_dim: input dimension d (2 for (t, x)); outputs are scalar.
        hidden_channels: width H (128 in the article).
        latent_dim: size of z (128 in the article).
        n_heads: attention heads (4).
        n_attention_layers: self-attention blocks per path and cross-attention blocks (2).
        n_decoder_layers: hidden decoder layers of width 3H (3).
        dropout: attention and residual dropout probability (0.1).
        std_floor: σ = softplus(·) + std_floor (1e-3).
        query_chunk_size: query points decoded at a time in ``predict``; ``None`` picks the largest
            chunk with S·B·chunk·(2H + L) ≤ ``max_chunk_elements``.
        max_chunk_elements: activation budget of the automatic chunk size.
        mc_dropout: default for ``predict(..., mc_dropout=...)``.
        input_range: ``(low, high)``, each of length d: every input point is mapped to
            (x − low)/(high − low) before its first linear layer (so each coordinate spans [0, 1]);
            ``None`` (the article) feeds the raw inputs. Not in the original: its Stefan inputs
            are t ∈ [0, 0.1] next to x ∈ [0, 1], and the raw t is then hard to resolve.
    """

    def __init__(
        self,
        x_dim: int = 2,
        hidden_channels: int = 128,
        latent_dim: int = 128,
        n_heads: int = 4,
        n_attention_layers: int = 2,
        n_decoder_layers: int = 3,
        dropout: float = 0.1,
        std_floor: float = 1e-3,
        query_chunk_size: int | None = None,
        max_chunk_elements: int = 2**25,
        mc_dropout: bool = False,
        input_range: tuple[Sequence[float], Sequence[float]] | None = None,
    ) -> None:
        super().__init__()
        low, scale = torch.zeros(x_dim), torch.ones(x_dim)
        if input_range is not None:
            lo, hi = (torch.as_tensor(v, dtype=torch.float64) for v in input_range)
            if lo.shape != (x_dim,) or hi.shape != (x_dim,) or not bool((hi > lo).all()):
                raise ValueError(
                    f"input_range must be (low, high) with {x_dim} values each and high > low, "
                    f"got {input_range!r}"
                )
            low, scale = lo.float(), (hi - lo).float()
        self.input_range = input_range
        # not persistent: rebuilt from the constructor argument (the run's model config)
        self.register_buffer("_input_low", low, persistent=False)
        self.register_buffer("_input_scale", scale, persistent=False)
        h = hidden_channels
        if query_chunk_size is not None and query_chunk_size < 1:
            raise ValueError(f"query_chunk_size must be >= 1 or None, got {query_chunk_size}")
        self.max_chunk_elements = max_chunk_elements
        self.x_dim, self.latent_dim, self.std_floor = x_dim, latent_dim, std_floor
        self.query_chunk_size, self.mc_dropout = query_chunk_size, mc_dropout

        def blocks() -> nn.ModuleList:
            return nn.ModuleList(_Attention(h, n_heads, dropout) for _ in range(n_attention_layers))

        # latent path
        self.latent_input = _linear(x_dim + 1, h)
        self.latent_self_attention = blocks()
        self.latent_hidden = _linear(h, h, relu=True)
        self.latent_mu = _linear(h, latent_dim)
        self.latent_log_var = _linear(h, latent_dim)
        # deterministic path
        self.det_input = _linear(x_dim + 1, h)
        self.det_self_attention = blocks()
        self.det_key = _linear(x_dim, h)
        self.det_query = _linear(x_dim, h)
        self.det_cross_attention = blocks()
        # decoder
        width = 2 * h + latent_dim
        self.dec_input = _linear(x_dim, h)
        self.dec_hidden = nn.ModuleList(
            _linear(width, width, relu=True) for _ in range(n_decoder_layers)
        )
        self.dec_output = _linear(width, 2)

    # ----------------------------------------------------------------------------------- pieces
    def _scaled(self, x: Tensor) -> Tensor:
        """(x − low)/(high − low) with ``input_range``; the identity without it."""
        if self.input_range is None:
            return x
        low, scale = self._input_low, self._input_scale
        assert isinstance(low, Tensor) and isinstance(scale, Tensor)
        return (x - low.to(x.dtype)) / scale.to(x.dtype)

    def latent_distribution(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """q(z | {(x_i, y_i)}): ``x (B, N, d)``, ``y (B, N, 1)`` -> (μ_z, ℓ_z) each ``(B, L)``."""
        h = self.latent_input(torch.cat([self._scaled(x), y], dim=-1))
        for block in self.latent_self_attention:
            h = block(h, h, h)
        h = torch.relu(self.latent_hidden(h.mean(dim=-2)))
        return self.latent_mu(h), self.latent_log_var(h)

    def encode_contexts(self, context_x: Tensor, context_y: Tensor) -> tuple[Tensor, Tensor]:
        """Deterministic-path context encoding: (keys, values) each ``(B, Nc, H)``."""
        cx = self._scaled(context_x)
        values = self.det_input(torch.cat([cx, context_y], dim=-1))
        for block in self.det_self_attention:
            values = block(values, values, values)
        return self.det_key(cx), values

    def cross_attend(self, keys: Tensor, values: Tensor, query_x: Tensor) -> Tensor:
        """r ``(B, Nq, H)`` for ``query_x (B, Nq, d)``; each query only attends to the contexts."""
        r = self.det_query(self._scaled(query_x))
        for block in self.det_cross_attention:
            r = block(keys, values, r)
        return r

    def decode(self, r: Tensor, z: Tensor, query_x: Tensor) -> tuple[Tensor, Tensor]:
        """(μ, σ) ``(*lead, B, Nq)`` from ``r (B, Nq, H)``, ``z (*lead, B, L)``,
        ``query_x (B, Nq, d)``."""
        # The first layer W [r, z, x_emb] + c is evaluated as (W_r r + W_x x_emb + c) + W_z z: the
        # z term is one vector per function and sample, so it is computed once and broadcast over
        # the queries instead of concatenating S copies of r and x_emb (same map, fewer FLOPs).
        first: nn.Linear = self.dec_hidden[0]  # type: ignore[assignment]
        rest = list(self.dec_hidden)[1:]
        h_dim = r.shape[-1]
        w_r, w_z, w_x = first.weight.split([h_dim, z.shape[-1], h_dim], dim=1)
        x_emb = self.dec_input(self._scaled(query_x))
        shared = F.linear(r, w_r, first.bias) + F.linear(x_emb, w_x)
        h = torch.relu(shared + F.linear(z, w_z).unsqueeze(-2))  # (*lead, B, Nq, 3H)
        for layer in rest:
            h = torch.relu(layer(h))
        mu, raw = self.dec_output(h).unbind(dim=-1)
        return mu, F.softplus(raw) + self.std_floor

    def predict_mean_std(
        self, context_x: Tensor, context_y: Tensor, query_x: Tensor, z: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Differentiable (μ, σ) ``(*lead, B, Nq)`` given ``z (*lead, B, L)``.

        Runs in the module's current mode (dropout on in train mode). Gradients flow to ``query_x``,
        so SoftC can take ∂μ/∂(t, x) with ``torch.autograd.grad(..., create_graph=True)``.
        """
        check_point_sets(context_x, context_y, query_x)
        keys, values = self.encode_contexts(context_x, context_y)
        return self.decode(self.cross_attend(keys, values, query_x), z, query_x)

    forward = predict_mean_std

    # ----------------------------------------------------------------------------------- training
    def training_outputs(
        self, batch: dict[str, Tensor], reduction: str = "sum"
    ) -> ANPTrainingOutput:
        """Loss terms with z ~ q(z | targets) (reparameterised, global RNG), as the original."""
        cx, cy, tx, ty = (batch[k] for k in ("context_x", "context_y", "target_x", "target_y"))
        check_point_sets(cx, cy, tx)
        if tuple(ty.shape) != (*tx.shape[:2], 1):
            raise ValueError(f"target_y must have shape (B, Nt, 1), got {tuple(ty.shape)}")
        if reduction not in ("sum", "mean"):
            raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
        prior_mu, prior_lv = self.latent_distribution(cx, cy)
        post_mu, post_lv = self.latent_distribution(tx, ty)
        z = post_mu + torch.exp(0.5 * post_lv) * torch.randn_like(post_mu)
        mean, std = self.predict_mean_std(cx, cy, tx, z)
        y = ty.squeeze(-1)
        nll = (0.5 * ((y - mean) / std) ** 2 + torch.log(std) + 0.5 * LOG_2PI).sum()
        kl = (
            0.5
            * (
                (post_lv.exp() + (post_mu - prior_mu) ** 2) / prior_lv.exp()
                - 1.0
                + prior_lv
                - post_lv
            ).sum()
        )
        loss = nll + kl
        if reduction == "mean":
            scale = 1.0 / y.numel()
            loss, nll, kl = loss * scale, nll * scale, kl * scale
        return ANPTrainingOutput(loss=loss, nll=nll, kl=kl, mean=mean, std=std)

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """−Σ log N(y | μ, σ²) + KL(q(z|T) ‖ q(z|C)), summed over batch, points, latent dims."""
        return self.training_outputs(batch).loss

    # ----------------------------------------------------------------------------------- inference
    def predict(
        self,
        context_x: Tensor,
        context_y: Tensor,
        query_x: Tensor,
        n_samples: int = 32,
        generator: torch.Generator | None = None,
        *,
        mc_dropout: bool | None = None,
        query_chunk_size: int | None = None,
    ) -> MixturePrediction:
        """S = ``n_samples`` components, z_s ~ q(z | contexts); ``(S, B, Nq)`` means/variances.

        With ``mc_dropout=True`` dropout stays on and every latent sample gets its own dropout masks
        (drawn from the global torch RNG, which ``generator`` does not control).
        """
        check_point_sets(context_x, context_y, query_x)
        if n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer, got {n_samples}")
        chunk = self.query_chunk_size if query_chunk_size is None else query_chunk_size
        if chunk is None:
            width = self.dec_output.in_features
            chunk = max(1, self.max_chunk_elements // (n_samples * context_x.shape[0] * width))
        if chunk < 1:
            raise ValueError(f"query_chunk_size must be >= 1, got {chunk}")
        mc = self.mc_dropout if mc_dropout is None else mc_dropout
        with self._eval_mode():
            if mc:
                for module in self.modules():
                    if isinstance(module, nn.Dropout):
                        module.train(True)
                return self._predict_mc_dropout(
                    context_x, context_y, query_x, n_samples, generator, chunk
                )
            mu_z, lv_z = self.latent_distribution(context_x, context_y)
            eps = torch.randn(
                (n_samples, *mu_z.shape), generator=generator, device=mu_z.device, dtype=mu_z.dtype
            )
            z = mu_z + torch.exp(0.5 * lv_z) * eps  # (S, B, L)
            keys, values = self.encode_contexts(context_x, context_y)
            means, stds = [], []
            for start in range(0, query_x.shape[1], chunk):
                q = query_x[:, start : start + chunk]
                mu, std = self.decode(self.cross_attend(keys, values, q), z, q)
                means.append(mu)
                stds.append(std)
        std = torch.cat(stds, dim=-1)
        return MixturePrediction(torch.cat(means, dim=-1), std * std)

    def _predict_mc_dropout(
        self,
        context_x: Tensor,
        context_y: Tensor,
        query_x: Tensor,
        n_samples: int,
        generator: torch.Generator | None,
        chunk: int,
    ) -> MixturePrediction:
        batch = context_x.shape[0]

        def rep(t: Tensor) -> Tensor:  # (B, N, k) -> (S·B, N, k), sample-major
            return t.repeat(n_samples, 1, 1)

        cx, cy = rep(context_x), rep(context_y)
        mu_z, lv_z = self.latent_distribution(cx, cy)
        eps = torch.randn(mu_z.shape, generator=generator, device=mu_z.device, dtype=mu_z.dtype)
        z = mu_z + torch.exp(0.5 * lv_z) * eps
        keys, values = self.encode_contexts(cx, cy)
        means, stds = [], []
        for start in range(0, query_x.shape[1], chunk):
            q = rep(query_x[:, start : start + chunk])
            mu, std = self.decode(self.cross_attend(keys, values, q), z, q)
            means.append(mu)
            stds.append(std)
        mean = torch.cat(means, dim=-1).unflatten(0, (n_samples, batch))
        std = torch.cat(stds, dim=-1).unflatten(0, (n_samples, batch))
        return MixturePrediction(mean, std * std)
