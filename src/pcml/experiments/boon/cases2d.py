r"""BOON in 2-D + time: the lid-driven cavity (Dirichlet) and the 2-D wave equation (Neumann).

Both cases learn :math:`a = f(\cdot, 0) \mapsto (f(\cdot, t_1), \dots, f(\cdot, t_{25}))` on the
closed grid :math:`x_i = i/n,\ y_j = j/n` (walls included) with an FNO over (x, y, t): the
input is repeated over the 25 frames, the grid is zero-padded along t only (BCs sit on x and y),
all frames are predicted jointly (reference §8). FNO and BOON share architecture, padding, initial
weights, data order and training settings (§14.12: the original gave its baselines different
padding).

What each model receives (reference §11.2 notes):

* **cavity** (:func:`pcml.pdes.cavity_datasets.build_cavity_dataset`, ν = 0.01, lid speed
  U ~ U[0.5, 1.5], random smooth initial vortex): input channels (u₀, v₀) — u₀'s top row holds
  the lid speed, so every model knows U; output channels (u, v). The wall velocities (lid
  u = U g(x), no slip elsewhere, v = 0) are the physical Dirichlet data. BOON receives them as a
  *lift* L (the prescribed wall values on the wall nodes, 0 inside) and enforces homogeneous
  Dirichlet data on the remainder w = (u, v) − L on all four walls, in every layer and at the
  output: û = BOON(a; 0) + L. (The BOON layers broadcast one value over all channels; u and v have
  different wall data, so the lift is the exact way to impose both.) Wall **vorticity** is not
  prescribed physics and is never given to any model (the original gave BOON the true wall
  vorticity of the targets, an oracle); vorticity is derived from the predicted velocity by the
  same finite-difference curl applied to the truth (:func:`pcml.experiments.boon.data2d.curl`).
* **wave2d** (:func:`pcml.pdes.wave2d.build_wave2d_dataset`, c = 1, released from rest,
  K = :func:`pcml.experiments.boon.data2d.wave_modes` cosine modes per axis so that the grid
  resolves the data: 4 on the quick 16² grid, 8 on the paper's 50²): input
  u(·, 0), output u; BOON receives the Neumann data ∂u/∂x = 0 on x = 0, 1 and ∂u/∂y = 0 on
  y = 0, 1 (exact for the cosine series), enforced with the one-sided stencils of
  ``cfg.boon.neumann_orders``; the x faces are processed first, then the y faces (at the corners
  both relations hold because the data are zero; see ``pcml.constraints.boundary``).
* **FNO**: the input only; no boundary value of any kind.

**Residual in time** (:data:`RESIDUAL_2D`, every model): the network predicts the increment
u(t) − u(0); the FNO adds the raw input, BOON adds the input with its own homogeneous output BCs
(so its walls stay exact; :class:`pcml.experiments.boon.models.Surrogate2D`). Selected on the
validation split (80 / 20 of the training trajectories, quick profile, 15 epochs): cavity FNO
0.325 → 0.262, BOON 0.250 → 0.220. Without it both models were worse than persistence
(û = u(0)) at the first frames: cavity frame 1, FNO 0.45 and BOON 0.29 vs 0.08 for u(0), the
error mostly in the interior (BOON's wall band was 4× better than the FNO's) — the early-frame
deficit was the 15-epoch networks failing to learn near-identity early frames, not the lift or
the elimination. wave2d: FNO 0.699 → 0.729 (not better), kept for uniformity; the wave also
trains on the per-frame relative L2 (:data:`FRAME_LOSS_2D`).

**Increment scaling** (:data:`INCREMENT_SCALING_2D`: ``"none"`` for both cases). The option
û(t_k) = base + τ_k^p N(a)_k, τ_k = k/25, makes the increment vanish at t = 0 by construction
for every model alike (a scalar per frame keeps BOON's homogeneous wall relations). For the wave,
released from rest (u_t(0) = 0, u − u(0) = ½t²Δu(0) + O(t⁴)), p = 2 is the physical order: the
data's increments grow 1 : 4.1 : 9.8 : 18.4 over frames 1–4 (t²: 1 : 4 : 9 : 16), and the
fastest mode has ωt₁ = π√18/25 ≈ 0.53, inside the t² regime. Tried on the wave's validation split
(80 / 20 of the training trajectories, 30 epochs, StepLR 10; persistence û = u(0) scores 0.027
at frame 1), validation rel. L2 FNO / ``boon_none``, frame 1 FNO / ``boon_none``, paired frame-1
difference (± SE), frames at which ``boon_none`` ≤ FNO:

=================  ===============  ===============  ===================  ==================
scaling            mean             frame 1          boon_none − FNO, f1  frames ≤ FNO
=================  ===============  ===============  ===================  ==================
none (p = 0)       0.704 / 0.564    0.061 / 0.053    −0.0078 ± 0.0029     25 / 25
linear (p = 1)     0.698 / 0.607    0.035 / 0.032    −0.0032 ± 0.0003     17 / 25 (not 2–9)
quadratic (p = 2)  0.697 / 0.585    0.021 / 0.022    +0.0015 ± 0.0001     15 / 25 (not 1–10)
=================  ===============  ===============  ===================  ==================

The scaling lowers every model's frame-1 error (p = 2: below persistence for the first time) and
turns frame 1 from noise between runs into a resolved difference (SE 0.0029 → 0.0001), but it
removes ``boon_none``'s early-frame advantage (frames 2–10 above the FNO for p = 1 and 2; p = 2
also above at frame 1, on every validation trajectory). Not adopted for either case (rule: adopt
only if ``boon_none`` stays ≤ FNO at all 25 validation frames and the frame-1 margin improves);
the test split was not run with it. The channel-wise ``boon`` (ε = 0.1), same split: 0.359 /
0.400 / 0.464 for p = 0 / 1 / 2, frame 1 0.115 / 0.049 / 0.023, still above the FNO at frames
1–2 / 1–2 / 1–5 (an earlier 15-epoch trial of p = 2 on it: 0.899 vs 0.601 without).

Profiles (:data:`PROFILE_TABLE_2D`, built by
:func:`pcml.experiments.boon.config.default_config`): ``smoke`` (seconds, tests); ``quick`` (the
numbers in docs/results/boon2d.md: 16² nodes, 100 / 25 trajectories, FNO3d 6×6×6 / width 12, 30
epochs with the learning rate halved every 10 (15 / 5 before; see *Models* below) —
the brief's 32² grid and a few hundred samples did not fit 20 minutes on the shared 2-core
machine, where one BOON step on 33² × 31 took ~20 s); ``paper`` (§11.3: 50² nodes,
1000 / 200, FNO3d 8×8×8 / width 20, padding 6 along t, batch 10, Adam 1e-3, weight decay 1e-4,
StepLR(100, 0.5), 500 epochs; meant for a GPU). Train and test sets are independent draws (data
seeds ``seed`` and ``seed + 1``); the 2× test set holds the same test trajectories on the grid
of spacing h/2.

**Tikhonov ε of the channel-wise block solves: ε = 0.1** (:data:`EPS_2D`, pinned here so that
the 2-D cases do not move with the 1-D default). The x-elimination solves one complex 12×12 block
system per transverse (y, t) frequency; at initialisation these blocks are ill-conditioned
(quick profile, cavity: cond(D) median 250–310, max 1.9e3–3.3e4 per layer; Schur complement
max 1.5e3–1.1e5). With ε = 1e-7 the regularised inverse amplifies by ‖M‖‖M⁺‖ up to 1.1e5, the
gradient norm spikes (1027 at the second Adam step, against 3.5 with ε = 0.1) and the training
loss stalls at ≈ 0.45; ε = 0.1 caps the amplification at 1/(2ε) = 5. ε was selected on a
validation split carved from the cavity's *training* trajectories (80 train / 20 validation,
quick-profile model, 5 epochs at lr 1e-3; the test trajectories were not used): validation rel. L2
0.441 (ε = 1e-7), 0.443 (1e-3), 0.428 (1e-2), 0.351 (1e-1), 0.365 (1); BOON without elimination
(``boon_none``) 0.384, FNO 0.909 (slower start). ε = 1e-3 and 1e-2 cap the amplification at 500
and 50 and stall like 1e-7 (gradient spikes 17–23). A 5-epoch selection ranks early training
only. The wave case uses the same ε (not selected separately; its quick run already used 0.1).

**Models** (:data:`MODELS_2D`, every profile): ``fno``; ``boon_none`` — BOON without the
interior kernel elimination (boundary relation in every hidden layer, exact output enforcement;
reference §10.4's ablation, and in effect what the article's BOON computed at widths 32–64, where
its scalar-probe elimination barely changed the boundary outputs, §10.1); ``boon`` — with the
channel-wise elimination at ε = :data:`EPS_2D`. ``boon_reference`` (the article's scalar probes)
is available through ``--models`` but no longer a default: it was the worst model on the wave
(test 1.02 vs FNO 0.70, 15 epochs), and a fourth model adds ~25 % to the quick cases.
Selected on the validation split (80 / 20 of the training trajectories, quick-profile models,
30 epochs, step 10; the test split was not used); validation rel. L2, and the frames (of 25) at
which the variant is ≤ the FNO:

=========================  ======================  ======================
model                      cavity                  wave2d
=========================  ======================  ======================
FNO                        0.137                   0.704
BOON, ε = 0.1              0.186  (1 / 25)         0.359  (23 / 25: not frames 1–2)
BOON, ε = 1                0.192  (1 / 25)         0.426  (23 / 25: not frames 1–2)
BOON, ε = 10               0.141  (4 / 25)         0.423  (24 / 25: not frame 1)
BOON, no elimination       0.132  (25 / 25)        0.564  (25 / 25)
=========================  ======================  ======================

The Tikhonov λ = (ε‖M‖_F)² is already relative to each (transverse-frequency) block's own norm,
so a per-block relative floor is what ε sets; the sweep shows that the elimination's interior
injection itself costs accuracy on the cavity (towards "none" as ε grows, up to the noise of
ε = 1) and at the wave's first frames. On the wave the elimination lowers the mean (0.359 vs
0.564) but is above the FNO at frames 1–2 (0.115 / 0.112 vs 0.061 / 0.086). Where the frame-1
error sits (validation, error norm on the wall ring / rings 1–2 / inner nodes over ‖u₁‖): FNO
0.048 / 0.029 / 0.021, BOON (ε = 0.1) 0.064 / 0.075 / 0.058, BOON without elimination 0.027 /
0.032 / 0.031. The excess is in the near-wall rings and the interior, not on the wall nodes the
one-sided Neumann stencil sets, and the stencil's own floor is far below it: the exact data
projected onto the discrete relation, ‖𝓑₀(u) − u‖/‖u‖, is 0.002 per frame at order 3 (0.0037 at
order 2, 0.0001 at order 5). So the stencil order is kept (3) and the early-frame deficit is the
elimination's. Without the elimination BOON is below the FNO at every validation frame of both
cases, so ``boon_none`` is the variant that meets the per-frame floor; ``boon`` stays in the
table (the best mean on the wave). Test split, run once after this choice (docs/results): cavity
``boon_none`` below the FNO at 25 / 25 frames (0.112 vs 0.124); wave 24 / 25 — frame 1 is above
(0.080 vs 0.060; overall 0.414, ``boon`` 0.326, FNO 0.648): the validation margin at frame 1 did
not carry over.

This module holds the 2-D constants only (data, no imports): the registry is
:mod:`pcml.experiments.boon.cases`, the profiles :mod:`pcml.experiments.boon.config`, the run
loop :mod:`pcml.experiments.boon.runner`.
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "CASES_2D",
    "CAVITY_BC_SOURCE",
    "EPS_2D",
    "FRAME_LOSS_2D",
    "INCREMENT_POWER",
    "INCREMENT_SCALING_2D",
    "MODELS_2D",
    "PROFILE_TABLE_2D",
    "RESIDUAL_2D",
    "WAVE_BC_SOURCE",
    "IncrementScaling",
]

CASES_2D: tuple[str, ...] = ("cavity", "wave2d")
N_FRAMES = 25
#: Tikhonov ε of BOON's channel-wise block solves in 2-D + time (module docstring: selected on a
#: validation split of the cavity's training trajectories).
EPS_2D = 0.1
#: Models of every 2-D profile (module docstring, *Models*).
MODELS_2D: tuple[str, ...] = ("fno", "boon_none", "boon")
#: Predict the increment u(t) − u(0) (every model; see Surrogate2D in boon.models).
RESIDUAL_2D = True
#: How the predicted increment is scaled in time (every model alike, Surrogate2D in boon.models):
#: u(t_k) = base + τ_k^p · N(u₀)_k, τ_k = (t_k − t_0)/(t_K − t_0) = k/K, p from INCREMENT_POWER.
IncrementScaling = Literal["none", "linear", "quadratic"]
#: p of each :data:`IncrementScaling`: "none" (p = 0, factor 1), "linear" (τ), "quadratic" (τ²).
INCREMENT_POWER: dict[str, int] = {"none": 0, "linear": 1, "quadratic": 2}
#: The increment scaling per case (module docstring, *Increment scaling*).
INCREMENT_SCALING_2D: dict[str, IncrementScaling] = {"cavity": "none", "wave2d": "none"}
#: Train on the mean per-frame relative L2 instead of the per-trajectory one (per case, every
#: model). wave2d, validation split, residual models: per-trajectory loss FNO 0.729 / BOON 0.601,
#: BOON above the FNO at frames 1–4 (frame 1: 0.254 vs 0.151); per-frame loss FNO 0.738 / BOON
#: 0.599, BOON above at frames 1–2 only (0.155 vs 0.116). The cavity keeps the per-trajectory
#: loss (not tried: its residual models already had BOON lower at all 25 validation frames).
FRAME_LOSS_2D: dict[str, bool] = {"cavity": False, "wave2d": True}

CAVITY_BC_SOURCE = (
    "Physical Dirichlet data only: BOON receives the prescribed wall velocities (lid u = U, "
    "no slip u = v = 0 elsewhere) as a lift L and enforces (u, v) - L = 0 on all four walls; "
    "wall vorticity (not prescribed physics) is given to no model; vorticity is the curl of the "
    "predicted velocity. The FNO receives no boundary values (it sees U in u0's top row, as BOON)."
)
WAVE_BC_SOURCE = (
    "BOON receives the Neumann data du/dn = 0 on the four walls (exact for the cosine series), "
    "enforced with one-sided stencils (x faces first, then y faces); the FNO receives no "
    "boundary values."
)

#: The 2-D profiles as data (module docstring, *Profiles*): (n_train, n_test, n_x, modes, width,
#: projection, t-padding, batch, epochs, lr step, near-wall nodes); n_layers 4 (smoke: 2).
PROFILE_TABLE_2D: dict[str, tuple[int, ...]] = {
    "smoke": (6, 3, 9, 3, 6, 8, 3, 3, 2, 1, 2),
    "quick": (100, 25, 16, 6, 12, 32, 7, 10, 30, 10, 2),
    "paper": (1000, 200, 50, 8, 20, 128, 6, 10, 500, 100, 5),
}
