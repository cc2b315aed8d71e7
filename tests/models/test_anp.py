"""Attentive neural process: architecture of the article, loss, latent sampling, chunking, grads."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import Normal, kl_divergence
from torch.nn.attention import SDPBackend, sdpa_kernel

from pcml.models.anp import AttentiveNeuralProcess


def _small(**kw: object) -> AttentiveNeuralProcess:
    torch.manual_seed(0)
    return AttentiveNeuralProcess(hidden_channels=16, latent_dim=8, **kw)  # type: ignore[arg-type]


def _batch(b: int = 2, nc: int = 6, nt: int = 5, dtype: torch.dtype = torch.float32) -> dict:
    g = torch.Generator().manual_seed(1)
    cx, tx = (
        torch.rand(b, nc, 2, generator=g, dtype=dtype),
        torch.rand(b, nt, 2, generator=g, dtype=dtype),
    )
    f = lambda x: torch.sin(3 * x[..., :1] - 2 * x[..., 1:])  # noqa: E731
    return {"context_x": cx, "context_y": f(cx), "target_x": tx, "target_y": f(tx)}


def test_article_parameter_count() -> None:
    assert sum(p.numel() for p in AttentiveNeuralProcess().parameters()) == 989_826


def test_article_block_structure() -> None:
    model = AttentiveNeuralProcess()
    attn = model.det_cross_attention[0]
    assert attn.n_heads == 4 and attn.key.bias is None and attn.key.weight.shape == (128, 128)
    assert attn.final_linear.weight.shape == (128, 256)
    assert attn.attn_dropout.p == attn.residual_dropout.p == 0.1
    assert [tuple(layer.weight.shape) for layer in model.dec_hidden] == [(384, 384)] * 3
    assert model.dec_output.weight.shape == (2, 384)
    assert len(model.latent_self_attention) == len(model.det_self_attention) == 2


@pytest.mark.parametrize(
    ("name", "gain"),
    [
        ("dec_hidden.0", math.sqrt(2.0)),
        ("latent_hidden", math.sqrt(2.0)),
        ("det_cross_attention.0.key", 1.0),
        ("dec_output", 1.0),
    ],
)
def test_xavier_uniform_init(name: str, gain: float) -> None:
    weight = dict(AttentiveNeuralProcess().named_modules())[name].weight
    fan_out, fan_in = weight.shape
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    assert weight.abs().max().item() <= bound
    assert weight.abs().max().item() > 0.97 * bound if weight.numel() > 1000 else True
    # uniform on [−bound, bound] has variance bound²/3
    if weight.numel() > 1000:
        assert weight.var().item() == pytest.approx(bound**2 / 3, rel=0.1)


def test_loss_matches_distributions_reference() -> None:
    model, batch = _small().double().eval(), _batch(dtype=torch.float64)
    torch.manual_seed(5)
    out = model.training_outputs(batch)
    torch.manual_seed(5)
    prior = model.latent_distribution(batch["context_x"], batch["context_y"])
    post = model.latent_distribution(batch["target_x"], batch["target_y"])
    z = post[0] + torch.exp(0.5 * post[1]) * torch.randn_like(post[0])  # z ~ q(z | targets)
    mean, std = model(batch["context_x"], batch["context_y"], batch["target_x"], z)
    nll = -Normal(mean, std).log_prob(batch["target_y"].squeeze(-1)).sum()
    kl = kl_divergence(
        Normal(post[0], (0.5 * post[1]).exp()), Normal(prior[0], (0.5 * prior[1]).exp())
    ).sum()
    torch.testing.assert_close(out.nll, nll)
    torch.testing.assert_close(out.kl, kl)
    torch.testing.assert_close(out.loss, nll + kl)
    torch.manual_seed(5)
    mean_out = model.training_outputs(batch, reduction="mean")
    torch.testing.assert_close(mean_out.loss, (nll + kl) / 10)


def test_predict_samples_z_from_context_posterior() -> None:
    model, batch = _small().eval(), _batch()
    cx, cy, qx = batch["context_x"], batch["context_y"], batch["target_x"]
    with torch.no_grad():
        pred = model.predict(cx, cy, qx, n_samples=3, generator=torch.Generator().manual_seed(9))
        mu_z, lv_z = model.latent_distribution(cx, cy)
        eps = torch.randn((3, *mu_z.shape), generator=torch.Generator().manual_seed(9))
        mean, std = model(cx, cy, qx, mu_z + (0.5 * lv_z).exp() * eps)
    torch.testing.assert_close(pred.means, mean)
    torch.testing.assert_close(pred.variances, std**2)
    assert pred.n_components == 3


def test_chunked_prediction_is_exact() -> None:
    model, batch = _small(), _batch(nt=23)
    args = (batch["context_x"], batch["context_y"], batch["target_x"])
    with torch.no_grad():
        whole = model.predict(*args, 4, torch.Generator().manual_seed(0), query_chunk_size=1000)
        chunked = model.predict(*args, 4, torch.Generator().manual_seed(0), query_chunk_size=5)
    # automatic chunk size from the activation budget: S·B·chunk·(2H + L) ≤ 4·2·3·40 → chunk = 3
    model.max_chunk_elements = 4 * 2 * 3 * 40
    with torch.no_grad():
        auto = model.predict(*args, 4, torch.Generator().manual_seed(0))
    for other in (chunked, auto):
        torch.testing.assert_close(other.means, whole.means, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(other.variances, whole.variances, rtol=1e-6, atol=1e-7)


def test_mean_given_z_is_deterministic_in_eval_and_random_with_dropout() -> None:
    model, batch = _small(), _batch()
    args = (batch["context_x"], batch["context_y"], batch["target_x"], torch.zeros(2, 8))
    model.eval()
    torch.testing.assert_close(model(*args)[0], model(*args)[0], rtol=0, atol=0)
    model.train()
    assert not torch.equal(model(*args)[0], model(*args)[0])


def test_mc_dropout_is_explicit_option() -> None:
    model, batch = _small(), _batch()
    args = (batch["context_x"], batch["context_y"], batch["target_x"], 5)
    with torch.no_grad():
        plain = model.predict(*args, torch.Generator().manual_seed(0))
        torch.manual_seed(1)
        mc = model.predict(*args, torch.Generator().manual_seed(0), mc_dropout=True)
    assert mc.means.shape == plain.means.shape == (5, 2, 5)
    assert not torch.allclose(mc.means, plain.means)
    assert all(m.training for m in model.modules())  # the caller's (train) mode is restored


def test_mean_gradient_wrt_query_for_softc() -> None:
    """∂μ/∂(t, x) by autograd (create_graph) matches central differences, second order too."""
    model, batch = _small().double().eval(), _batch(dtype=torch.float64)
    cx, cy = batch["context_x"], batch["context_y"]
    z = torch.randn(2, 8, dtype=torch.float64)
    qx = batch["target_x"].clone().requires_grad_(True)
    with sdpa_kernel(SDPBackend.MATH):  # the fused CPU attention has no double backward
        mean, _ = model(cx, cy, qx, z)
        (grad,) = torch.autograd.grad(mean.sum(), qx, create_graph=True)
        (hess_x,) = torch.autograd.grad(grad[..., 1].sum(), qx)
    h = 1e-6
    for k in range(2):
        step = torch.zeros(2, dtype=torch.float64)
        step[k] = h
        with torch.no_grad():
            fd = (model(cx, cy, qx + step, z)[0] - model(cx, cy, qx - step, z)[0]) / (2 * h)
        torch.testing.assert_close(grad[..., k], fd, rtol=1e-5, atol=1e-7)
    assert bool(torch.isfinite(hess_x).all()) and bool((hess_x != 0).any())


def test_training_reduces_loss() -> None:
    """A few Adam steps on a smooth function family lower the loss (the model can learn)."""
    model = _small()
    g = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(25):
        x = torch.rand(8, 20, 2, generator=g)
        a = torch.rand(8, 1, 1, generator=g) + 0.5
        y = a * torch.sin(3 * x[..., :1]) + x[..., 1:]
        batch = {
            "context_x": x[:, :10],
            "context_y": y[:, :10],
            "target_x": x[:, 10:],
            "target_y": y[:, 10:],
        }
        loss = model.loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    # the first step removes the huge initial NLL; compare against the steps right after it
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[1:6]) / 5


def test_bad_arguments_raise() -> None:
    model, batch = _small(), _batch()
    with pytest.raises(ValueError, match="n_samples"):
        model.predict(batch["context_x"], batch["context_y"], batch["target_x"], n_samples=0)
    with pytest.raises(ValueError, match="target_y"):
        model.loss({**batch, "target_y": batch["target_y"][..., 0]})
    with pytest.raises(ValueError, match="divisible"):
        AttentiveNeuralProcess(hidden_channels=10, n_heads=4)


def _explicit_attention(block: torch.nn.Module, k: torch.Tensor, v: torch.Tensor, q: torch.Tensor):
    """LayerNorm(q + W [q, concat_h softmax(Q_h K_hᵀ/√d_h) V_h]) written out op by op."""
    heads, d_h = block.n_heads, q.shape[-1] // block.n_heads
    qq, kk, vv = (
        (t @ lin.weight.T).unflatten(-1, (heads, d_h)).transpose(-3, -2)
        for t, lin in ((q, block.query), (k, block.key), (v, block.value))
    )
    weights = torch.softmax(qq @ kk.transpose(-1, -2) / math.sqrt(d_h), dim=-1)
    cat = torch.cat([q, (weights @ vv).transpose(-3, -2).flatten(-2)], dim=-1)
    out = cat @ block.final_linear.weight.T + block.final_linear.bias
    return torch.nn.functional.layer_norm(
        out + q, q.shape[-1:], block.layer_norm.weight, block.layer_norm.bias
    )


@settings(deadline=None, max_examples=15)
@given(b=st.integers(1, 3), nq=st.integers(1, 7), nk=st.integers(1, 9), seed=st.integers(0, 99))
def test_fused_attention_equals_explicit_formula(b: int, nq: int, nk: int, seed: int) -> None:
    model = _small().double().eval()
    g = torch.Generator().manual_seed(seed)
    k, v = (torch.randn(b, nk, 16, generator=g, dtype=torch.float64) for _ in range(2))
    q = torch.randn(b, nq, 16, generator=g, dtype=torch.float64)
    block = model.det_cross_attention[0]
    torch.testing.assert_close(block(k, v, q), _explicit_attention(block, k, v, q))


@settings(deadline=None, max_examples=15)
@given(s=st.integers(1, 3), b=st.integers(1, 3), nq=st.integers(1, 6), seed=st.integers(0, 99))
def test_split_first_decoder_layer_equals_concatenation(s: int, b: int, nq: int, seed: int) -> None:
    """decode() never concatenates [r, z, x_emb]; it must equal the article's concatenated MLP."""
    model = _small().double().eval()
    g = torch.Generator().manual_seed(seed)
    r = torch.randn(b, nq, 16, generator=g, dtype=torch.float64)
    z = torch.randn(s, b, 8, generator=g, dtype=torch.float64)
    qx = torch.rand(b, nq, 2, generator=g, dtype=torch.float64)
    x_emb = model.dec_input(qx)
    h = torch.cat(
        [r.expand(s, b, nq, 16), z.unsqueeze(-2).expand(s, b, nq, 8), x_emb.expand(s, b, nq, 16)],
        dim=-1,
    )
    for layer in model.dec_hidden:
        h = torch.relu(layer(h))
    mu, raw = model.dec_output(h).unbind(-1)
    mean, std = model.decode(r, z, qx)
    torch.testing.assert_close(mean, mu)
    torch.testing.assert_close(std, torch.nn.functional.softplus(raw) + model.std_floor)


def test_attention_dropout_acts_on_the_weights_in_train_mode_only() -> None:
    model = _small(dropout=0.5).double()
    block = model.det_cross_attention[0]
    g = torch.Generator().manual_seed(3)
    k, v, q = (torch.randn(2, 5, 16, generator=g, dtype=torch.float64) for _ in range(3))
    block.eval()
    torch.testing.assert_close(block(k, v, q), _explicit_attention(block, k, v, q))
    block.train()
    block.residual_dropout.p = 0.0  # isolate the attention-weight dropout
    assert not torch.allclose(block(k, v, q), _explicit_attention(block, k, v, q))


def test_input_range_equals_the_model_on_prescaled_inputs() -> None:
    """input_range=(low, high) is the affine map (x − low)/(high − low) in front of the raw model,
    for predictions and for the query gradients SoftC takes (chain rule)."""
    low, high = (0.0, -1.0), (0.1, 3.0)
    torch.manual_seed(0)
    scaled = AttentiveNeuralProcess(hidden_channels=16, latent_dim=8, input_range=(low, high))
    torch.manual_seed(0)
    raw = AttentiveNeuralProcess(hidden_channels=16, latent_dim=8)
    scaled, raw = scaled.double().eval(), raw.double().eval()
    lo, span = torch.tensor(low, dtype=torch.float64), torch.tensor(high, dtype=torch.float64)
    span = span - lo
    batch = _batch(dtype=torch.float64)
    cx, cy = lo + span * batch["context_x"], batch["context_y"]
    qx = (lo + span * batch["target_x"]).requires_grad_(True)
    z = torch.randn(2, 8, dtype=torch.float64)
    with torch.no_grad():
        a = scaled.predict(cx, cy, qx, 3, torch.Generator().manual_seed(4))
        b = raw.predict((cx - lo) / span, cy, (qx - lo) / span, 3, torch.Generator().manual_seed(4))
    torch.testing.assert_close(a.means, b.means, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(a.variances, b.variances, rtol=1e-6, atol=1e-7)
    (g_scaled,) = torch.autograd.grad(scaled(cx, cy, qx, z)[0].sum(), qx)
    q_unit = ((qx - lo) / span).detach().requires_grad_(True)
    (g_unit,) = torch.autograd.grad(raw((cx - lo) / span, cy, q_unit, z)[0].sum(), q_unit)
    torch.testing.assert_close(g_scaled, g_unit / span, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="input_range"):
        AttentiveNeuralProcess(input_range=((0.0, 1.0), (0.0, 2.0)))
    with pytest.raises(ValueError, match="input_range"):
        AttentiveNeuralProcess(input_range=((0.0,), (1.0,)))
