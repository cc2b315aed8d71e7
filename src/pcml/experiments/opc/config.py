"""Configuration of Operator-ProbConserv runs (``pcml opc run``): frozen dataclasses, profiles.

- ``smoke``: seconds (tests): a 16 × 6 grid, tiny FNOs, one epoch;
- ``quick``: ≤ 15 min per problem on 2 CPU cores (measured: PME, the costliest, 8 min 53 s with
  2 threads on an idle machine, docs/results/opc.md): the follow-up's 100 × 20 grid and
  320/80 train/validation functions, a small FNO (modes 8 × 6, width 16, 3 layers), 50 epochs
  of batch 20 (800 steps), M = 5 members, 10 DiverseNO heads, 10 MC-dropout passes;
- ``paper``: the follow-up's settings (reference §10): FNO modes 12 × 12, width 32, 4 layers,
  padding 9, projection 128; Adam 1e-3, weight decay 1e-4, StepLR(50, 0.5), batch 20, 500
  epochs keeping the best validation loss; M = 10; 200 test functions per split (for a GPU).

``stefan_anp`` (the ProbConserv-ANP Stefan setting) has t* = 0.05 on its grid in every profile
(quick 201 × 10, paper 201 × 20, smoke 21 × 10).

Methods: ``ensemble``, ``diverse``, ``mcdropout``, ``meanvar`` (post hoc: trained on their own
loss, ProbConserv applied at test time) and ``diverse_e2e``, ``meanvar_e2e`` (the same backbone,
initialisation and budget, trained through the update on the CRPS of the conserved predictive).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pcml.experiments.config import from_dict, to_dict
from pcml.models.uq_operators import UQ_KINDS, FNOSettings
from pcml.pdes.operator_tasks import OPERATOR_TASKS, OperatorTask, get_operator_task
from pcml.train import TrainConfig

__all__ = [
    "ALL_METHODS",
    "PROFILE_NAMES",
    "OPCConfig",
    "OPCData",
    "UQSettings",
    "make_config",
    "method_kind",
]

ALL_METHODS: tuple[str, ...] = (
    "ensemble",
    "diverse",
    "mcdropout",
    "meanvar",
    "diverse_e2e",
    "meanvar_e2e",
)
PROFILE_NAMES = ("smoke", "quick", "paper")


def method_kind(method: str) -> str:
    """The UQ kind of a method ("diverse_e2e" → "diverse")."""
    return method.removesuffix("_e2e")


@dataclass(frozen=True)
class OPCData:
    """Grid and split sizes; ``n_test`` functions for the in-domain test and for each OOD shift;
    ``phase_range``: the heat phase θ_2 ~ U(phase_range), diffusion only (a point: fixed)."""

    n_x: int = 100
    n_t: int = 20
    n_train: int = 320
    n_valid: int = 80
    n_test: int = 200
    seed: int = 314271
    phase_range: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class UQSettings:
    """M (ensemble members), DiverseNO heads and λ, MC-dropout p and passes."""

    n_members: int = 10
    n_heads: int = 10
    diversity_weight: float = 0.01
    dropout: float = 0.1
    mc_samples: int = 10


@dataclass(frozen=True)
class OPCConfig:
    """One Operator-ProbConserv run. ``joint``: condition all slices at once (G of shape
    (n_t, n_x n_t)) instead of per slice (same posterior); ``noise_var``: σ_G² (0: exact)."""

    problem: str = "stefan"
    profile: str = "paper"
    data: OPCData = field(default_factory=OPCData)
    fno: FNOSettings = field(default_factory=FNOSettings)
    uq: UQSettings = field(default_factory=UQSettings)
    train: TrainConfig = field(default_factory=TrainConfig)
    methods: tuple[str, ...] = ALL_METHODS
    joint: bool = False
    noise_var: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.problem not in OPERATOR_TASKS:
            raise ValueError(
                f"problem: got {self.problem!r}, expected one of {sorted(OPERATOR_TASKS)}"
            )
        if self.profile not in PROFILE_NAMES:
            raise ValueError(f"profile: got {self.profile!r}, expected one of {PROFILE_NAMES}")
        bad = [m for m in self.methods if m not in ALL_METHODS]
        if bad or not self.methods or len(set(self.methods)) != len(self.methods):
            raise ValueError(
                f"methods: got {list(self.methods)}, expected distinct names from {ALL_METHODS}"
            )
        for name in ("n_train", "n_valid", "n_test"):
            if getattr(self.data, name) < 1:
                raise ValueError(f"data.{name}: expected >= 1, got {getattr(self.data, name)}")
        if self.uq.n_members < 1 or self.uq.n_heads < 2 or self.uq.mc_samples < 2:
            raise ValueError(
                "uq: expected n_members >= 1, n_heads >= 2, mc_samples >= 2, got "
                f"{self.uq.n_members}, {self.uq.n_heads}, {self.uq.mc_samples}"
            )
        if not self.noise_var >= 0:
            raise ValueError(f"noise_var: expected >= 0, got {self.noise_var}")
        if self.seed < 0:
            raise ValueError(f"seed: expected >= 0, got {self.seed}")
        assert all(method_kind(m) in UQ_KINDS for m in ALL_METHODS)
        self.task()  # validates the grid against the problem

    def task(self) -> OperatorTask:
        d = self.data
        return get_operator_task(self.problem, n_x=d.n_x, n_t=d.n_t, phase_range=d.phase_range)


def _profile(profile: str, problem: str) -> OPCConfig:
    # stefan_anp keeps its task's grid (201 x 10, t* = 0.05 on it); smoke keeps t* on the grid
    anp = problem == "stefan_anp"
    if profile == "smoke":
        return OPCConfig(
            problem,
            "smoke",
            OPCData(n_x=21 if anp else 16, n_t=10 if anp else 6, n_train=8, n_valid=4, n_test=4),
            FNOSettings((4, 3), 4, 1, 8, (2, 2)),
            UQSettings(n_members=2, n_heads=3, mc_samples=3),
            TrainConfig(epochs=1, batch_size=4, lr=1e-3, device="cpu", keep_best=True),
        )
    if profile == "quick":
        return OPCConfig(
            problem,
            "quick",
            OPCData(n_x=201, n_t=10, n_test=100) if anp else OPCData(n_test=100),
            FNOSettings((8, 6), 16, 3, 32, (4, 4)),
            UQSettings(n_members=5),
            TrainConfig(
                epochs=50,
                batch_size=20,
                lr=1e-3,
                weight_decay=1e-4,
                scheduler="step",
                step_size=20,
                gamma=0.5,
                validate_every=5,
                checkpoint_every=5,
                keep_best=True,
                device="cpu",
            ),
        )
    if profile == "paper":
        return OPCConfig(
            problem,
            "paper",
            OPCData(n_x=201, n_t=20) if anp else OPCData(),  # t* = 0.05 = t_9
            train=TrainConfig(
                epochs=500,
                batch_size=20,
                lr=1e-3,
                weight_decay=1e-4,
                scheduler="step",
                step_size=50,
                gamma=0.5,
                validate_every=10,
                checkpoint_every=10,
                keep_best=True,
            ),
        )
    raise ValueError(f"profile: got {profile!r}, expected one of {PROFILE_NAMES}")


def _literal(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _merge(base: dict[str, Any], new: dict[str, Any], path: str = "") -> dict[str, Any]:
    out = dict(base)
    for key, value in new.items():
        if key not in base:
            raise ValueError(f"config: unknown key {path + key!r}; expected one of {sorted(base)}")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ValueError(f"config: {path + key!r} is a table, got {value!r}")
            out[key] = _merge(base[key], value, f"{path}{key}.")
        else:
            out[key] = value
    return out


def make_config(
    problem: str,
    profile: str = "quick",
    config_file: str | Path | None = None,
    overrides: Iterable[str] = (),
) -> OPCConfig:
    """Profile defaults, then the TOML file (the tables of a saved config.toml), then the
    ``key.path=value`` overrides (TOML literals); unknown keys and bad values raise
    ``ValueError``."""
    data = to_dict(_profile(profile, problem))
    if config_file is not None:
        with Path(config_file).open("rb") as fh:
            try:
                loaded = tomllib.load(fh)
            except tomllib.TOMLDecodeError as err:
                raise ValueError(f"config file {config_file} is not valid TOML: {err}") from err
        data = _merge(data, loaded)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set: expected KEY=VALUE (e.g. train.lr=1e-3), got {item!r}")
        nested: dict[str, Any] = {}
        node = nested
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = _literal(value.strip())
        data = _merge(data, nested)
    if data["problem"] != problem or data["profile"] != profile:
        raise ValueError(
            f"config: problem/profile ({data['problem']}, {data['profile']}) contradict the "
            f"command line ({problem}, {profile})"
        )
    try:
        return from_dict(OPCConfig, data)
    except TypeError as err:
        raise ValueError(f"config: {err}") from err


def with_methods(cfg: OPCConfig, methods: Iterable[str]) -> OPCConfig:
    """``cfg`` with another method list."""
    return replace(cfg, methods=tuple(methods))
