"""Configuration of the BOON experiments: frozen dataclasses, three profiles, TOML and overrides.

A run is fully described by one :class:`BoonConfig`: the case and task (single-step u₀ → u(t₁) or
multi-step u₀ → 25 frames), data sizes, the FNO architecture shared by **all** compared models
(same n_modes, width, layers and padding: the original gave the FNO2d baseline x- and t-padding
and BOON only t-padding, reference §14.12), one :class:`pcml.train.TrainConfig` used for every
model, the seeds and the BOON options.

Profiles (per task; the case may override the grid, e.g. 129 closed nodes for periodic Burgers):

- ``smoke``: seconds; tiny models and datasets (the test suite);
- ``quick``: minutes per case on 2 CPU cores — the numbers pcml reports: single-step 100 / 50
  trajectories on 128 nodes (periodic Burgers: the article's 129), FNO 16 modes / width 32, 200
  epochs of batch 10, StepLR(50, 0.5) (100 epochs left both FNO and BOON under-trained: on a
  validation split of the heat training trajectories, 80/20, the FNO's validation error fell from
  0.0145 at 100 epochs to 0.0057 at 200, BOON's from 0.0062 to 0.0049, both still falling),
  targets normalised by a power of two (``normalize_targets``, every model alike: on periodic
  Burgers, whose targets are 60× smaller than the inputs, the training loss swung 3–5× between
  epochs and the final error depended on the seed; with the scale it falls smoothly — validation
  split of independent trajectories, 80 / 20, ``git show 6ba00dc:docs/results/boon.md``);
  heat-neumann: GELU also at the boundary nodes (``boon.mask_activation = false``; validation
  split of the heat training trajectories, 80 / 20, 200 epochs: BOON 0.00272 unmasked vs 0.00376
  masked, FNO 0.00565; the test split was not used); stokes-dirichlet: Tikhonov ε = 0.01 instead
  of 0.1 (validation splits of the Stokes training trajectories, test split not used: 80 / 20 —
  BOON 0.0311 vs 0.0336, paired difference −0.0026 ± 0.0015, FNO 0.0560; 200 / 50 of the first 250
  trajectories — BOON 0.0103 vs 0.0119, paired −0.0016 ± 0.0016, FNO 0.0105: the same direction on
  both, each within 1–2 standard errors; ε = 1 was worse, 0.0370; a test-split diagnostic run
  *after* the choice went the other way — BOON 0.0121 with ε = 0.1 vs 0.0202, FNO 0.0135 — one
  Stokes BOON run varies more than these validation gains). Not adopted, with their validation
  numbers (``git show 6ba00dc:docs/results/boon.md``, "Issue #6, round 7"): hidden boundary values
  independent of the target scale (``boon.hidden_values = "physical"``, worse on the heat and
  Stokes 80 / 20 splits, slightly better on Stokes 200 / 50), GELU at Stokes' end nodes (0.109),
  250 instead of 150 trajectories (the FNO gains more than BOON: heat 1.11×, Stokes 0.88× on a 200
  / 50 split) and width 64 (80 / 20: heat 1.04×, Stokes 1.13×); multi-step 60 / 20 trajectories on
  64 nodes × 25 frames, FNO 8×8 modes / width 16, t padded by 9, 60 epochs, StepLR(15, 0.5), no
  target scale (its numbers predate it);
- ``paper``: the article's settings (reference §11.2–11.3): single-step N = 500 (periodic Burgers
  128 + endpoint), 500 / 100 split, FNO1d 16 modes / width 64; multi-step 1000 / 200, FNO2d 12×12 /
  32 padded along t by 9; batch 20, Adam 1e-3, weight decay 1e-4, StepLR(50, 0.5) (periodic
  Burgers multi-step StepLR(100, 0.5)), 500 epochs, seed 0, no target normalisation (the
  article's normalisers were defined but unused) (meant for a GPU).

TOML files hold the same nested tables as the dataclasses (``[data]``, ``[model]``, ``[train]``,
``[boon]``); overrides are dotted ``key=value`` pairs with TOML literals (``train.lr=1e-3``).
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pcml.experiments.boon.cases import get_case
from pcml.experiments.boon.cases2d import CASES_2D, EPS_2D, MODELS_2D, PROFILE_TABLE_2D
from pcml.experiments.config import from_dict, to_dict
from pcml.train import TrainConfig

__all__ = [
    "ALL_MODEL_KEYS",
    "MODEL_KEYS",
    "PROFILES",
    "STUDY_MODELS",
    "STUDY_PROFILES",
    "BoonConfig",
    "BoonSettings",
    "DataSettings",
    "ModelSettings",
    "StudyProfile",
    "default_config",
    "make_config",
    "study_profile",
]

#: Model keys of metrics.json: plain FNO, BOON (channel-wise elimination), BOON (the article's
#: scalar-probe elimination, bugs fixed).
MODEL_KEYS: tuple[str, ...] = ("fno", "boon", "boon_reference")
#: Also accepted in ``models``: ``boon_extension`` — BOON in the resolution-invariant extension
#: mode (the library default of :class:`pcml.models.BOON`, :mod:`pcml.models.boon_extension`;
#: the channel-wise ``boon`` is the validated profile choice, not resolution-invariant);
#: ``boon_none`` — BOON without any kernel elimination (boundary
#: relation in the hidden layers and at the output only), the ablation of reference §10.4;
#: ``fno_bc`` — the FNO with the boundary data as input channels; ``fno_soft`` — the FNO with a
#: boundary-residual penalty, its weight chosen on validation (:mod:`pcml.experiments.boon.models`).
ALL_MODEL_KEYS: tuple[str, ...] = (
    *MODEL_KEYS,
    "boon_extension",
    "boon_none",
    "fno_bc",
    "fno_soft",
)
#: The models of ``pcml boon study``: the FNO, the two ways a user would give it the boundary
#: data, and BOON.
STUDY_MODELS: tuple[str, ...] = ("fno", "fno_bc", "fno_soft", "boon", "boon_extension")
PROFILES: tuple[str, ...] = ("smoke", "quick", "paper")


@dataclass(frozen=True, slots=True)
class StudyProfile:
    """What ``pcml boon study`` adds to a profile, per layout (:data:`STUDY_PROFILES`): the
    validation trajectories (``fno_soft``'s weight is chosen on them), whether to evaluate at 4×,
    the ``fno_soft`` weights, and ``sets`` — further ``key=value`` overrides of the profile
    (sizes), applied before the user's own."""

    n_val: int
    eval_4x: bool
    soft_weights: tuple[float, ...]
    sets: tuple[str, ...] = ()


#: The study's additions per (layout, profile). 1-D: the profile as it is, + 20 validation
#: trajectories, 4×, three weights. 2-D quick: the 2-D quick profile trains 3 models in ≈ 9-10
#: CPU-min per case (docs/results/boon2d.md, history); the study trains 6 (fno, fno_bc, two
#: fno_soft weights, boon, boon_extension) and evaluates each on ID, OOD and 2N, which took
#: 19-30 min per seed on 2 cores — over the ≤ 15 min per case and seed of issue #14. So the 2-D
#: study trains on half the data for two thirds of the epochs (50 instead of 100 trajectories,
#: 20 epochs with the rate halved every 7 instead of 30 / 10; 20 test and 10 validation
#: trajectories instead of 25 / 20), keeps the 16² grid, the architecture, every model and every
#: split except 4N (61² × 25 frames in float64: 75 s per model at load ≈ 10) and uses two penalty
#: weights (0.1, 1). Measured: one cavity seed ≈ 5 CPU-min single-threaded (boon2d.md).
#: A case may have its own entry ``(case, profile)`` (:func:`study_profile`). The wave's: at the
#: cavity's study sizes every wave model stayed at rel. L2 0.81–1.02 (3 seeds) — 5 optimiser
#: steps per epoch, the loss flat for 7 epochs. Chosen on the wave's validation split (seed 0,
#: fno / boon_extension, 10 validation trajectories; the test split not looked at):
#: 50 traj × 20 epochs, batch 10 / 5 / 2: 0.742 / 0.671 / 0.624 and 0.708 / 0.534 / 0.398;
#: 50 × 40 epochs, batch 2: 0.345 / 0.244; 100 × 30 epochs (the 2-D quick profile), batch
#: 10 / 5 / 2: 0.636 / 0.454 / 0.254 and 0.404 / 0.261 / 0.163. So the wave study keeps the 2-D
#: quick sizes (100 trajectories, 30 epochs, StepLR 10) with batch 2 (50 steps per epoch; a
#: step on 2 trajectories costs about a fifth of one on 10, so an epoch costs about the same),
#: 20 test / 10 validation trajectories, and adds 4N (its hard splits are 2N and 4N).
STUDY_PROFILES: dict[tuple[str, str], StudyProfile] = {
    ("1d", "smoke"): StudyProfile(4, True, (0.1, 1.0, 10.0)),
    ("1d", "quick"): StudyProfile(20, True, (0.1, 1.0, 10.0)),
    ("1d", "paper"): StudyProfile(100, True, (0.1, 1.0, 10.0)),
    ("2d", "smoke"): StudyProfile(2, True, (0.1, 1.0)),
    ("2d", "quick"): StudyProfile(
        10,
        False,
        (0.1, 1.0),
        ("data.n_train=50", "data.n_test=20", "train.epochs=20", "train.step_size=7"),
    ),
    ("2d", "paper"): StudyProfile(100, True, (0.1, 1.0, 10.0)),
    ("wave2d", "quick"): StudyProfile(
        10,
        True,
        (0.1, 1.0),
        ("data.n_test=20", "train.batch_size=2"),
    ),
}


def study_profile(case: str, profile: str) -> StudyProfile:
    """The study's additions for ``case``: its own entry ``(case, profile)`` of
    :data:`STUDY_PROFILES` where it has one, else its layout's ``(layout, profile)``."""
    layout = get_case(case).layout
    for key in ((case, profile), (layout, profile)):
        if key in STUDY_PROFILES:
            return STUDY_PROFILES[key]
    raise ValueError(f"profile must be one of smoke, quick, paper, got {profile!r}")


@dataclass(frozen=True, slots=True)
class DataSettings:
    """Trajectories per split (train = the first n_train, test = the last n_test, as the article;
    ``n_val`` validation trajectories between them, drawn from the training law), grid nodes n_x
    per spatial axis including both ends (closed grid), the data seed, whether to evaluate at
    twice / four times the resolution (f(n_x − 1) + 1 nodes: spacing h/f, nested grid, the test
    trajectories generated at that resolution), and the boundary data: ``"fixed"`` — the
    case's fixed generator values (e.g. heater U = 5); ``"varied"`` — the case's
    :class:`pcml.experiments.boon.cases.BoundaryParam` drawn per sample from the training range,
    plus an out-of-distribution test split (``n_test`` trajectories, data seed + 1000) drawn
    from the OOD range."""

    n_train: int = 500
    n_test: int = 100
    n_x: int = 500
    seed: int = 0
    eval_2x: bool = True
    n_val: int = 0
    eval_4x: bool = False
    boundary_data: Literal["fixed", "varied"] = "fixed"

    def __post_init__(self) -> None:
        if self.n_val < 0:
            raise ValueError(f"data.n_val must be >= 0, got {self.n_val}")
        if self.boundary_data not in ("fixed", "varied"):
            raise ValueError(
                f"data.boundary_data must be 'fixed' or 'varied', got {self.boundary_data!r}"
            )
        for name in ("n_train", "n_test"):
            if getattr(self, name) < 1:
                raise ValueError(f"data.{name} must be >= 1, got {getattr(self, name)}")
        if self.n_x < 9:
            raise ValueError(f"data.n_x must be >= 9, got {self.n_x}")
        if self.seed < 0:
            raise ValueError(f"data.seed must be >= 0, got {self.seed}")


@dataclass(frozen=True, slots=True)
class ModelSettings:
    """The FNO shared by every model: ``n_modes`` per grid axis ((x,) single-step, (x, t)
    multi-step), width, layers, projection width, zero-padding per grid axis (BC axes: 0)."""

    n_modes: tuple[int, ...] = (16,)
    hidden_channels: int = 64
    n_layers: int = 4
    projection_channels: int = 128
    padding: tuple[int, ...] = (0,)

    def __post_init__(self) -> None:
        if len(self.n_modes) != len(self.padding) or not 1 <= len(self.n_modes) <= 3:
            raise ValueError(
                f"model.n_modes {self.n_modes} and model.padding {self.padding} must have the "
                "same length (one entry per grid axis, 1-3)"
            )
        if min(self.n_modes) < 1 or min(self.padding) < 0:
            raise ValueError(f"model.n_modes must be >= 1 and padding >= 0, got {self}")
        if self.hidden_channels < 1 or self.n_layers < 1 or self.projection_channels < 1:
            raise ValueError(f"model sizes must be >= 1, got {self}")


@dataclass(frozen=True, slots=True)
class BoonSettings:
    """BOON options: Neumann stencil orders (lower, upper) of the enforced relation (the original
    used 1st order at x = 0, valid only for zero flux, and 3rd order at x = 1; pcml defaults to
    3rd order at both ends, built from the grid of every call), the Tikhonov ε of the channel-wise
    block solves, the scalar clamp of the reference mode, the article's ½ Neumann factor, GELU
    on interior nodes only, and the boundary values of the hidden layers under a target scale s
    (``hidden_values``): ``"output"`` — the values BOON receives, α/s, so the hidden injection
    (2α/s) grows by 1/s; ``"physical"`` — α (``BOON(hidden_value_scale=s)``), so s only
    reparametrises the output, as for the FNO (no effect without a target scale). "physical"
    was *worse* on validation splits of the training trajectories (quick profile, 80 / 20, data
    seed 0, 200 epochs; test split never used): Stokes BOON 0.0463 vs 0.0336 ("output"; FNO
    0.0560), heat 0.00378 vs 0.00272 (FNO 0.00565); on a Stokes 200 / 50 split slightly
    better (0.0111 vs 0.0119, FNO 0.0105) — no consistent gain, so "output" stays the default.

    ``eps = 0.1`` was selected on a validation split carved from the *training* trajectories of
    heat-neumann (quick profile, 80 train / 20 validation, 40 epochs; the test trajectories were
    never used): validation rel. L2 0.092 (ε = 1e-7), 0.078 (1e-3), 0.0144 (1e-1), FNO 0.034.
    The block systems are ill-conditioned at width 32–64 (reference §10.3), and a near-exact
    inverse injects large rank-2 changes into the interior outputs that slow training."""

    neumann_orders: tuple[int, int] = (3, 3)
    eps: float = 0.1
    reference_tol: float = 1e-7
    neumann_half: bool = False
    mask_activation: bool = True
    hidden_values: Literal["output", "physical"] = "output"

    def __post_init__(self) -> None:
        if self.hidden_values not in ("output", "physical"):
            raise ValueError(
                f"boon.hidden_values must be 'output' or 'physical', got {self.hidden_values!r}"
            )
        if not all(1 <= o <= 6 for o in self.neumann_orders):
            raise ValueError(f"boon.neumann_orders must be in 1..6, got {self.neumann_orders}")
        if self.eps < 0 or self.reference_tol <= 0:
            raise ValueError(f"boon.eps must be >= 0 and reference_tol > 0, got {self}")


@dataclass(frozen=True, slots=True)
class BoonConfig:
    """One BOON experiment run (module docstring). ``seed``: weight initialisation, identical for
    every model; ``train.seed``: data order, identical for every model. ``eval_dtype``: models are
    evaluated in float64 by default so that the measured boundary error is the method's and not
    float32 round-off amplified by the 1/h of a Neumann stencil (≈ 1e-4 at h = 1/500).
    ``normalize_targets``: every model predicts u/s with s the power of two nearest the rms of
    the training targets (:func:`pcml.experiments.boon.models.target_scale`; BOON receives α/s), the
    same s for all models. ``soft_weights``: the penalty weights λ tried for ``fno_soft`` (the one
    with the lowest validation rel. L2 is reported); ``split_metrics``: also write every metric
    per further split (``<metric>_val`` / ``_ood`` / ``_2x`` / ``_4x``,
    :mod:`pcml.experiments.boon.runner`)."""

    case: str = "heat-neumann"
    profile: Literal["smoke", "quick", "paper"] = "quick"
    multi_step: bool = False
    data: DataSettings = field(default_factory=DataSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    train: TrainConfig = field(default_factory=TrainConfig)
    boon: BoonSettings = field(default_factory=BoonSettings)
    models: tuple[str, ...] = MODEL_KEYS
    seed: int = 0
    eval_dtype: Literal["float64", "float32"] = "float64"
    normalize_targets: bool = False
    eval_batch_size: int = 50
    near_boundary_nodes: int = 5
    soft_weights: tuple[float, ...] = (0.1, 1.0, 10.0)
    split_metrics: bool = False

    def __post_init__(self) -> None:
        case = get_case(self.case)  # validates the name
        if not self.soft_weights or any(not w > 0 for w in self.soft_weights):
            raise ValueError(f"soft_weights must be > 0 (at least one), got {self.soft_weights}")
        if "fno_soft" in self.models and len(self.soft_weights) > 1 and self.data.n_val < 1:
            raise ValueError(
                f"fno_soft with soft_weights {self.soft_weights} selects the weight on the "
                "validation split: set data.n_val >= 1 (or give one weight)"
            )
        if self.data.boundary_data == "varied" and not case.boundary_params:
            raise ValueError(
                f"data.boundary_data='varied': case {self.case!r} has no boundary parameters"
            )
        bad = [m for m in self.models if m not in ALL_MODEL_KEYS]
        if bad or not self.models or len(set(self.models)) != len(self.models):
            raise ValueError(
                f"models must be distinct names from {ALL_MODEL_KEYS}, got {self.models}"
            )
        n_axes = len(case.spatial_axes) + int(self.multi_step)
        if len(self.model.n_modes) != n_axes:
            raise ValueError(
                f"model.n_modes {self.model.n_modes} must have {n_axes} entries for case "
                f"{self.case!r} (grid axes {case.grid_axes(self.multi_step)})"
            )
        if any(self.model.padding[: len(case.spatial_axes)]):
            raise ValueError(
                f"model.padding {self.model.padding}: spatial (boundary) axes cannot be padded "
                "(BOON's BCs sit on them); pad only time"
            )
        if self.eval_batch_size < 1 or self.near_boundary_nodes < 1:
            raise ValueError("eval_batch_size and near_boundary_nodes must be >= 1")
        if 2 * self.near_boundary_nodes > self.data.n_x:
            raise ValueError(f"near_boundary_nodes={self.near_boundary_nodes} too large")


def _train(epochs: int, step: int, batch: int, seed: int = 0) -> TrainConfig:
    return TrainConfig(
        epochs=epochs,
        batch_size=batch,
        lr=1e-3,
        weight_decay=1e-4,
        optimizer="adam",
        scheduler="step",
        step_size=step,
        gamma=0.5,
        seed=seed,
        validate_every=max(1, epochs),
        checkpoint_every=1,
        device="cpu",
    )


def default_config(case: str, profile: str, multi_step: bool = False) -> BoonConfig:
    """The built-in settings of ``profile`` for ``case`` (module docstring)."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    c = get_case(case)
    if c.layout == "2d":
        return _config_2d(case, profile)
    d = len(c.spatial_axes)
    normalize = False
    boon = BoonSettings()
    if profile == "smoke":
        data = DataSettings(n_train=8, n_test=4, n_x=33)
        model = ModelSettings(
            (4,) * d + ((4,) if multi_step else ()),
            8,
            2,
            16,
            (0,) * d + ((3,) if multi_step else ()),
        )
        train = _train(2, 1, 4)
    elif profile == "quick" and not multi_step:
        data = DataSettings(n_train=100, n_test=50, n_x=128)
        model = ModelSettings((16,) * d, 32, 4, 128, (0,) * d)
        train = _train(200, 50, 10)
        normalize = True
        if c.kind == "heat":  # GELU at the end nodes too: selected on a validation split, below
            boon = BoonSettings(mask_activation=False)
        elif c.kind == "stokes":  # ε = 0.01: selected on two validation splits, below
            boon = BoonSettings(eps=0.01)
    elif profile == "quick":
        data = DataSettings(n_train=60, n_test=20, n_x=64)
        model = ModelSettings((8,) * (d + 1), 16, 4, 64, (0,) * d + (9,))
        train = _train(60, 15, 10)
    elif not multi_step:
        data = DataSettings(n_train=500, n_test=100, n_x=c.paper_n_x(False))
        model = ModelSettings((16,) * d, 64, 4, 128, (0,) * d)
        train = _train(500, 50, 20)
    else:
        data = DataSettings(n_train=1000, n_test=200, n_x=c.paper_n_x(True))
        model = ModelSettings((12,) * (d + 1), 32, 4, 128, (0,) * d + (9,))
        train = _train(500, c.paper_multi_step_size, 20)
    data = dataclasses.replace(data, n_x=c.profile_n_x(profile, multi_step, data.n_x))
    return BoonConfig(
        case,
        profile,  # type: ignore[arg-type]
        multi_step,
        data,
        model,
        train,
        boon,
        normalize_targets=normalize,
    )


def _config_2d(case: str, profile: str) -> BoonConfig:
    """The built-in config of a 2-D case (:data:`PROFILE_TABLE_2D`, always multi-step)."""
    if case not in CASES_2D:
        raise ValueError(f"case must be one of {CASES_2D}, got {case!r}")
    n_train, n_test, n_x, modes, width, proj, pad, batch, epochs, step, near = PROFILE_TABLE_2D[
        profile
    ]
    return BoonConfig(
        case=case,
        profile=profile,  # type: ignore[arg-type]
        multi_step=True,
        data=DataSettings(n_train=n_train, n_test=n_test, n_x=n_x, seed=0, eval_2x=True),
        model=ModelSettings((modes,) * 3, width, 4 if profile != "smoke" else 2, proj, (0, 0, pad)),
        train=_train(epochs, step, batch),  # the 1-D profiles' optimiser and schedule
        boon=BoonSettings(eps=EPS_2D),
        models=MODELS_2D,
        near_boundary_nodes=near,
    )


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _literal(text: str) -> Any:
    """A TOML literal (``3``, ``1e-3``, ``true``, ``[8, 8]``, ``"x"``); bare words stay strings."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def make_config(
    case: str,
    profile: str = "quick",
    multi_step: bool = False,
    config_file: Path | str | None = None,
    overrides: Iterable[str] = (),
) -> BoonConfig:
    """Profile defaults, then the TOML file (same tables as a saved config.toml), then the
    ``key.path=value`` overrides; unknown keys and wrong types raise ``ValueError``."""
    data = to_dict(default_config(case, profile, multi_step))
    if config_file is not None:
        with Path(config_file).open("rb") as fh:
            try:
                loaded = tomllib.load(fh)
            except tomllib.TOMLDecodeError as err:
                raise ValueError(f"config file {config_file} is not valid TOML: {err}") from err
        for key in ("case", "profile", "multi_step"):
            if key in loaded and loaded[key] != data[key]:
                raise ValueError(
                    f"config file {config_file} sets {key}={loaded[key]!r}, but the command "
                    f"asks for {data[key]!r}"
                )
        data = _merge(data, loaded)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"override {item!r} must look like key.path=value")
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                raise ValueError(f"override {item!r}: {part!r} is not a table of the config")
            node = child
        if parts[-1] not in node:
            raise ValueError(f"override {item!r}: unknown key {key.strip()!r}")
        node[parts[-1]] = _literal(value.strip())
    return from_dict(BoonConfig, data)
