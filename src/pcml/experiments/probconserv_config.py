"""Configuration of the ProbConserv experiments: frozen dataclasses, profiles, TOML, overrides.

A run is fully described by one :class:`ProbConservConfig` (problem, profile, data sizes, model
sizes, one :class:`pcml.train.TrainConfig` per trained backbone, the number of latent samples S,
the constraint noise σ_G, the methods, the inequality post-step and the seeds):

- ``smoke``: seconds; tiny models, a handful of functions, one epoch (used by the test suite);
- ``quick``: 13–14 CPU minutes per problem, one thread (the numbers pcml reports): a narrower
  ANP (H = 64) on (t, x) scaled to [0, 1], 3,000 steps with a step-decayed learning rate, 2,000
  training functions, evaluation over time on a coarse 21-point time grid;
- ``paper``: the article's settings (reference §3, §5, §13): ANP with H = 128 (989,826 parameters),
  10,000 training functions, Adam 1e-4, batch 250, 500 epochs keeping the best validation loss,
  100 latent samples, the full 201 × 201 evaluation grid (meant for a GPU).

The question asked is data too (:class:`ProblemSettings`): the test parameter values, the
evaluation time t*, the training range of the parameter and the time range. They default to the
article's (reference §5.1), are written in ``config.toml`` as ``[problem_settings]`` and enter the
data-cache key; ``--set problem.test_values=[0.65] --set problem.t_star=0.08`` is an alias of
``problem_settings.*`` (``problem`` itself stays the problem's name). Values outside the closed
form's validity are refused with the valid range, before any work.

TOML files hold the same nested tables as the dataclasses (``[data]``, ``[anp]``,
``[train.anp]``, ...); ``None`` is written as the string ``"none"``. Overrides use dotted paths,
``train.anp.lr=1e-3`` or ``n_latent_samples=32``, with TOML literals as values.
"""

from __future__ import annotations

import tomllib
import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from pcml.pdes.gpme import PROBLEMS, ConservationProblem, get_problem
from pcml.train import TrainConfig

__all__ = [
    "ALL_METHODS",
    "PROFILES",
    "ANPSettings",
    "DataSettings",
    "EnsembleSettings",
    "GPSettings",
    "ProbConservConfig",
    "ProblemSettings",
    "TrainSettings",
    "apply_overrides",
    "config_to_dict",
    "load_config",
    "make_config",
]

#: Method keys of metrics.json, in table order. ``probconserv_anp_noisy`` is the finite-σ_G
#: variant (σ_G² = 1/noise_precision); every other ``probconserv_*`` uses σ_G = 0 (§7.5).
#: ``probconserv_anp_bounded``: mass and (where the problem prescribes one) the Dirichlet value
#: u(t, x_min) as two exact linear constraints, then the problem's physical bounds.
ALL_METHODS: tuple[str, ...] = (
    "anp",
    "softc_anp",
    "hardc_anp",
    "probconserv_anp",
    "probconserv_anp_noisy",
    "probconserv_anp_bounded",
    "ensemble",
    "probconserv_ensemble",
    "gp",
    "probconserv_gp",
)
INEQUALITIES = (None, "nonneg", "monotone")
SOFTC_INITS = ("scratch", "anp")


@dataclass(frozen=True)
class ProblemSettings:
    """The question: test parameter values θ (one group of test functions each), evaluation time
    t*, training range θ ~ U(train_range) and time range [t0, t1] of the data.

    None means the problem's default (reference §5.1); :class:`ProbConservConfig` resolves every
    None to that default, so a saved config.toml states the values used. Valid: θ in the
    closed form's admissible set (Stefan u* ∈ (0, 1), others θ > 0), 0 ≤ t0 < t1, t* ∈ [t0, t1],
    and (Stefan) t1 ≤ 1/α(θ)², the time the front leaves [0, 1], for every train and test θ.
    """

    test_values: tuple[float, ...] | None = None
    t_star: float | None = None
    train_range: tuple[float, float] | None = None
    t_range: tuple[float, float] | None = None


def _admissible(prob: ConservationProblem) -> str:
    """Human text of the admissible parameter set, from the problem's own check."""
    try:
        prob.check_param(np.array([1.5]))
    except ValueError:
        return "(0, 1)"
    return "(0, inf)"


def resolve_problem(name: str, settings: ProblemSettings) -> ConservationProblem:
    """The problem ``name`` with ``settings`` applied (None: default); a clear ``ValueError``
    naming ``problem.<key>``, the value and the valid range for values outside validity."""
    default = get_problem(name)
    tv = default.test_values if settings.test_values is None else settings.test_values
    ts = default.t_star if settings.t_star is None else settings.t_star
    tr = default.train_range if settings.train_range is None else settings.train_range
    tt = default.t_range if settings.t_range is None else settings.t_range
    valid = f"{default.param_name} in {_admissible(default)}"
    for key, value in (("test_values", tv), ("train_range", tr)):
        count = "2" if key == "train_range" else ">= 1"
        if len(value) < 1 or (key == "train_range" and len(value) != 2):
            raise ValueError(f"problem.{key}: got {list(value)}, expected {count} values")
        arr = np.asarray(value, dtype=np.float64)
        try:
            default.check_param(arr, name=f"problem.{key}")
        except ValueError:
            raise ValueError(f"problem.{key}: got {list(value)}, expected {valid}") from None
    if not tr[0] < tr[1]:
        raise ValueError(f"problem.train_range: got {list(tr)}, expected lo < hi")
    if not (np.isfinite(tt).all() and 0.0 <= tt[0] < tt[1]) or len(tt) != 2:
        raise ValueError(f"problem.t_range: got {list(tt)}, expected [t0, t1] with 0 <= t0 < t1")
    if not tt[0] <= ts <= tt[1]:
        raise ValueError(f"problem.t_star: got {ts}, expected a time in problem.t_range {list(tt)}")
    params = np.asarray([*tr, *tv], dtype=np.float64)
    limit = default.valid_until(params)
    if bool((limit < tt[1]).any()):
        i = int(np.argmin(limit))
        raise ValueError(
            f"problem.t_range: t1 = {tt[1]} is past {limit[i]:.6g}, the last time the closed form "
            f"holds on {default.x_range} for {default.param_name} = {params[i]} (train_range and "
            f"test_values); expected t1 <= {limit.min():.6g} or other parameter values"
        )
    return replace(
        default,
        test_values=tuple(float(v) for v in tv),
        t_star=float(ts),
        train_range=(float(tr[0]), float(tr[1])),
        t_range=(float(tt[0]), float(tt[1])),
    )


@dataclass(frozen=True)
class DataSettings:
    """Functions per split, point-set sizes (n_t × n_x contexts and targets), evaluation grid.

    eval_n_t × eval_n_x is the prediction grid (t* must be one of its times); curve_functions is
    the number of test functions per test value used for the curves over time (MSE(t), mass(t)).
    """

    n_train: int = 10_000
    n_valid: int = 100
    n_test_per_value: int = 50
    n_t: int = 10
    n_x: int = 10
    eval_n_t: int = 201
    eval_n_x: int = 201
    curve_functions: int = 50
    seed: int = 0


@dataclass(frozen=True)
class ANPSettings:
    """Attentive neural process sizes (reference §3); also used for the SoftC-ANP.

    normalize_inputs: map t and x to [0, 1] by the problem's t_range and x_range before the
    first layers (the article feeds raw (t, x); pcml's quick profile normalises, see
    :class:`pcml.models.AttentiveNeuralProcess`)."""

    hidden_channels: int = 128
    latent_dim: int = 128
    n_heads: int = 4
    n_attention_layers: int = 2
    n_decoder_layers: int = 3
    dropout: float = 0.1
    normalize_inputs: bool = False


@dataclass(frozen=True)
class EnsembleSettings:
    """Deep ensemble of conditional MLPs (mean and variance heads)."""

    n_members: int = 5
    hidden_channels: int = 128
    n_layers: int = 3
    r_dim: int = 128


@dataclass(frozen=True)
class GPSettings:
    """Exact GP with shared hyper-parameters learned on the training functions."""

    kernel: str = "rbf"
    lengthscale: float = 0.3
    outputscale: float = 1.0
    noise: float = 1e-4
    refine_steps: int = 0


@dataclass(frozen=True)
class TrainSettings:
    """One optimisation setting per trained backbone."""

    anp: TrainConfig = field(default_factory=TrainConfig)
    softc: TrainConfig = field(default_factory=TrainConfig)
    ensemble: TrainConfig = field(default_factory=TrainConfig)
    gp: TrainConfig = field(default_factory=TrainConfig)


@dataclass(frozen=True)
class ProbConservConfig:
    """Everything that defines a ProbConserv run (see the module docstring).

    noise_precision: σ_G⁻² of ``probconserv_anp_noisy`` (1e5, the Stefan config of the article).
    softc_lambda: λ of the SoftC penalty λ·mean(r²). softc_init: "scratch" (train the SoftC-ANP
    from its own initialisation, as the article) or "anp" (start from the trained ANP and
    fine-tune it with the penalty for ``train.softc`` epochs: the ANP's budget plus the
    fine-tuning, used by the quick profile). inequality: None | "nonneg" | "monotone",
    applied to the means of the probconserv_* methods. n_shock_samples: exact samples per test
    function for the shock-position posterior. seed: model initialisation and prediction RNG.
    """

    problem: str = "stefan"
    profile: str = "paper"
    problem_settings: ProblemSettings = field(default_factory=ProblemSettings)
    data: DataSettings = field(default_factory=DataSettings)
    anp: ANPSettings = field(default_factory=ANPSettings)
    ensemble: EnsembleSettings = field(default_factory=EnsembleSettings)
    gp: GPSettings = field(default_factory=GPSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    methods: tuple[str, ...] = ALL_METHODS
    n_latent_samples: int = 100
    noise_precision: float = 1e5
    softc_lambda: float = 1.0
    softc_init: str = "scratch"
    inequality: str | None = None
    n_shock_samples: int = 500
    seed: int = 0

    def __post_init__(self) -> None:
        if self.problem not in PROBLEMS:
            raise ValueError(f"problem: got {self.problem!r}, expected one of {sorted(PROBLEMS)}")
        prob = resolve_problem(self.problem, self.problem_settings)
        resolved = ProblemSettings(prob.test_values, prob.t_star, prob.train_range, prob.t_range)
        object.__setattr__(self, "problem_settings", resolved)
        if self.profile not in PROFILES_NAMES:
            raise ValueError(f"profile: got {self.profile!r}, expected one of {PROFILES_NAMES}")
        unknown = [m for m in self.methods if m not in ALL_METHODS]
        if unknown or not self.methods:
            raise ValueError(f"methods: unknown {unknown} (or empty); expected from {ALL_METHODS}")
        if self.softc_init not in SOFTC_INITS:
            raise ValueError(f"softc_init: got {self.softc_init!r}, expected one of {SOFTC_INITS}")
        if self.inequality not in INEQUALITIES:
            raise ValueError(f"inequality: got {self.inequality!r}, expected one of {INEQUALITIES}")
        for name in ("n_latent_samples", "n_shock_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if not self.noise_precision > 0:
            raise ValueError(f"noise_precision: must be > 0, got {self.noise_precision}")
        d = self.data
        for name in ("n_train", "n_valid", "n_test_per_value", "eval_n_t", "curve_functions"):
            if getattr(d, name) < 1:
                raise ValueError(f"data.{name}: must be >= 1, got {getattr(d, name)}")
        if d.eval_n_x < 3:
            raise ValueError(f"data.eval_n_x: must be >= 3, got {d.eval_n_x}")

    def conservation_problem(self) -> ConservationProblem:
        """The problem with this config's question (test values, t*, ranges) applied."""
        return resolve_problem(self.problem, self.problem_settings)


PROFILES_NAMES = ("smoke", "quick", "paper")


def _train(**kw: Any) -> TrainConfig:
    return TrainConfig(**kw)


def _profile(name: str, problem: str) -> ProbConservConfig:
    if name == "smoke":
        fast = _train(epochs=1, batch_size=10, lr=1e-3, device="cpu")
        return ProbConservConfig(
            problem=problem,
            profile="smoke",
            data=DataSettings(
                n_train=20,
                n_valid=4,
                n_test_per_value=2,
                eval_n_t=11,
                eval_n_x=41,
                curve_functions=1,
            ),
            anp=ANPSettings(16, 8, 2, 1, 1, 0.0),
            ensemble=EnsembleSettings(2, 16, 1, 8),
            gp=GPSettings(),
            train=TrainSettings(fast, fast, fast, fast),
            n_latent_samples=3,
            n_shock_samples=20,
        )
    if name == "quick":
        # Sized for 2 CPU cores, one thread (measured 0.16 s CPU per ANP step of batch 16): dropout
        # off in training, 3,000 ANP steps (24 epochs of 125) at lr 1e-3 halved every 5 epochs,
        # instead of 20,000 steps at 1e-4 with batch 250. The step decay was chosen on the
        # validation loss (summed over 16 functions): 1,000 constant-lr steps reached −2,388,
        # 2,000 steps halved every 4 epochs −4,725 (docs/results/probconserv.md).
        anp = _train(
            epochs=24,
            batch_size=16,
            lr=1e-3,
            scheduler="step",
            step_size=5,
            gamma=0.5,
            device="cpu",
            validate_every=2,
            checkpoint_every=1,
            keep_best=True,
        )
        return ProbConservConfig(
            problem=problem,
            profile="quick",
            data=DataSettings(
                n_train=2000,
                n_valid=100,
                n_test_per_value=50,
                eval_n_t=21,
                eval_n_x=201,
                curve_functions=5,
            ),
            anp=ANPSettings(64, 64, 4, 2, 3, 0.0, normalize_inputs=True),
            ensemble=EnsembleSettings(5, 64, 3, 64),
            gp=GPSettings(),
            train=TrainSettings(
                anp=anp,
                # SoftC-ANP = the trained ANP fine-tuned with the residual penalty for 2 epochs
                # (250 steps at lr 1e-4): training it from scratch with the ANP's 3,000 steps
                # costs ~3x the ANP's time (second derivatives), past the 15-minute budget
                softc=replace(anp, epochs=2, lr=1e-4, scheduler="none", validate_every=1),
                ensemble=replace(anp, epochs=6, scheduler="none"),
                gp=_train(epochs=1, batch_size=50, lr=2e-2, device="cpu"),
            ),
            n_latent_samples=50,
            n_shock_samples=500,
            softc_init="anp",
        )
    if name == "paper":
        anp = _train(
            epochs=500,
            batch_size=250,
            lr=1e-4,
            validate_every=10,
            checkpoint_every=10,
            keep_best=True,
        )
        return ProbConservConfig(
            problem=problem,
            profile="paper",
            train=TrainSettings(
                anp=anp,
                softc=anp,
                ensemble=replace(anp, lr=1e-3),
                gp=_train(epochs=5, batch_size=100, lr=2e-2),
            ),
        )
    raise ValueError(f"profile: got {name!r}, expected one of {PROFILES_NAMES}")


#: Profile builders: ``PROFILES[name](problem)``.
PROFILES = {name: (lambda problem, _n=name: _profile(_n, problem)) for name in PROFILES_NAMES}


def make_config(
    problem: str,
    profile: str = "quick",
    config_file: str | Path | None = None,
    overrides: typing.Sequence[str] = (),
) -> ProbConservConfig:
    """Profile defaults, then the TOML ``config_file`` (if any), then ``key=value`` overrides."""
    cfg = _profile(profile, problem)
    if config_file is not None:
        cfg = load_config(config_file, base=cfg)
    cfg = apply_overrides(cfg, overrides)
    if cfg.problem != problem or cfg.profile != profile:
        raise ValueError(
            f"config: problem/profile ({cfg.problem}, {cfg.profile}) from the file or overrides "
            f"contradict the command line ({problem}, {profile})"
        )
    return cfg


# ------------------------------------------------------------------------------ serialisation
def config_to_dict(cfg: Any) -> dict[str, Any]:
    """Nested plain dict (tuples as lists, None kept) of a (nested) dataclass."""
    out: dict[str, Any] = {}
    for f in fields(cfg):
        v = getattr(cfg, f.name)
        out[f.name] = (
            config_to_dict(v) if is_dataclass(v) else (list(v) if isinstance(v, tuple) else v)
        )
    return out


def _coerce(tp: Any, value: Any, path: str) -> Any:
    """Convert a TOML value to the annotated field type (None from "none", tuple from list)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None or value == "none":
            if type(None) in args:
                return None
        non_none = [a for a in args if a is not type(None)]
        return _coerce(non_none[0], value, path)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            value = [value]
        return tuple(_coerce(args[0], v, path) for v in value)
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp is bool and isinstance(value, bool):
        return value
    if tp is str and isinstance(value, str):
        return value
    raise ValueError(f"{path}: got {value!r} ({type(value).__name__}), expected {tp}")


def _merge(obj: Any, updates: dict[str, Any], path: str = "") -> Any:
    hints = typing.get_type_hints(type(obj))
    names = {f.name for f in fields(obj)}
    changes: dict[str, Any] = {}
    updates = dict(updates)
    if not path and isinstance(updates.get("problem"), dict):  # problem.X = problem_settings.X
        alias = updates.pop("problem")
        updates["problem_settings"] = {**updates.get("problem_settings", {}), **alias}
    for key, value in updates.items():
        where = f"{path}{key}"
        if key not in names:
            raise ValueError(f"config: unknown key {where!r}; expected one of {sorted(names)}")
        current = getattr(obj, key)
        if is_dataclass(current):
            if not isinstance(value, dict):
                raise ValueError(f"config: {where!r} is a table, got {value!r}")
            changes[key] = _merge(current, value, f"{where}.")
        else:
            changes[key] = _coerce(hints[key], value, where)
    try:
        return replace(obj, **changes)
    except (TypeError, ValueError) as err:
        raise ValueError(f"config{' ' + path.rstrip('.') if path else ''}: {err}") from err


def load_config(path: str | Path, base: ProbConservConfig | None = None) -> ProbConservConfig:
    """Read a TOML file onto ``base`` (default: the paper profile of its ``problem``)."""
    with open(path, "rb") as fh:
        raw = tomllib.load(fh)
    if base is None:
        base = _profile(raw.get("profile", "paper"), raw.get("problem", "stefan"))
    merged: ProbConservConfig = _merge(base, raw)
    return merged


def apply_overrides(cfg: ProbConservConfig, overrides: typing.Sequence[str]) -> ProbConservConfig:
    """Apply ``key.sub=value`` strings (value: a TOML literal, else a bare string)."""
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set: expected KEY=VALUE (e.g. train.anp.lr=1e-3), got {item!r}")
        try:
            value = tomllib.loads(f"v = {text.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = text.strip()
        nested: dict[str, Any] = {}
        node = nested
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
        cfg = _merge(cfg, nested)
    return cfg
