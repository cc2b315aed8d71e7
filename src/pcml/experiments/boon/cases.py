"""Registry of BOON experiment cases: what data to build and which boundary data a model receives.

A :class:`BoonCase` is everything the one runner (:mod:`pcml.experiments.boon.runner`) needs to
know about one problem, as data: the model grid is ``spatial_axes`` (+ ``"t"`` for multi-step),
``layout`` says how its data become tensors ("1d": one file split by index, boundary values per
face and frame; "2d": independent train / test draws, wall data constant in time, a lift for the
cavity), ``boundary_params`` say which generator parameters carry the boundary data and their
training and out-of-distribution ranges. The boundary conditions and their kinds come from the
dataset (``BoundaryData``). A new case only registers itself with :func:`register_case`.

Imports point one way: ``cases2d`` (constants) ← ``cases`` ← ``config`` ← ``models`` ←
``layouts`` ← ``runner`` ← ``study``; nothing here imports torch or h5py (``pcml --help``
stays light).

What each model receives (stated in every report, reference §11.2 and §14.12):

* **FNO**: u₀ only (and the grid coordinates); never any boundary value.
* **BOON**: u₀ plus the prescribed boundary data of the *target* time(s):

  - heat-neumann: the fluxes u_x(0, t) = 0 (insulator) and u_x(1, t) = U sin(πt) (heater) —
    prescribed physics, known without the solution;
  - stokes-dirichlet: the plate velocity u(0, t) = U cos(ωt) and the closed form
    u(1, t) = U e^{−κ} cos(κ − ωt) at the far end. Both are the Dirichlet data that define this
    problem on [0, 1] (the closed form is the solution of exactly this boundary-value problem);
    they are computed from (ω, U, ν) and stored as the end columns of the data, bit for bit;
  - burgers-dirichlet: u(0, t) = u(1, t) = 0;
  - burgers-periodic: nothing (periodicity is a structural constraint).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pcml.experiments.boon.cases2d import CAVITY_BC_SOURCE, WAVE_BC_SOURCE

if TYPE_CHECKING:  # keep ``pcml --help`` light: no h5py/torch import here
    from pcml.data import PDEData

__all__ = ["CASES", "BoonCase", "BoundaryParam", "get_case", "register_case"]

Builder = Callable[..., "PDEData"]  # (n_traj, n_x, multi_step, seed, **generator) -> PDEData


@dataclass(frozen=True)
class BoundaryParam:
    """A generator parameter that carries boundary data, drawn per sample from U[lo, hi].

    ``train`` = (lo, hi) for the training, validation and in-distribution test splits, ``ood`` =
    (lo, hi) for the out-of-distribution test split, disjoint from ``train``; ``keys`` = the
    generator keywords (min, max) that receive the range (e.g. ``("amplitude_min",
    "amplitude_max")`` of :class:`pcml.pdes.stokes.StokesProblem`), or one keyword that receives
    the pair (``("lid_speed_range",)`` of the cavity); ``why``: the reason for the ranges
    (reported with the study)."""

    name: str
    keys: tuple[str, ...]
    train: tuple[float, float]
    ood: tuple[float, float]
    why: str = ""

    def __post_init__(self) -> None:
        (a, b), (c, d) = self.train, self.ood
        if not (a <= b and c <= d) or not (b < c or d < a):
            raise ValueError(
                f"BoundaryParam {self.name}: train {self.train} and ood {self.ood} must be "
                "ordered and disjoint"
            )

    def kwargs(self, split: str) -> dict[str, Any]:
        """Generator keywords of ``split``: the OOD range for "ood", else the training range."""
        lo, hi = self.ood if split == "ood" else self.train
        if len(self.keys) == 1:
            return {self.keys[0]: (lo, hi)}
        return {self.keys[0]: lo, self.keys[1]: hi}


@dataclass(frozen=True)
class BoonCase:
    """One experiment.

    ``build(n_traj=, n_x=, multi_step=, seed=)`` returns a PDEData whose first step is the input
    and whose later steps are the targets (the last one for single-step), with BoundaryData per
    constrained face; ``spatial_axes``: grid axes of the fields (BCs live on them);
    ``bc_source``: the sentence telling what boundary data BOON receives; ``paper_n_x_single`` /
    ``paper_n_x_multi``: the article's grids; ``periodic_closed_grid``: n_x − 1 must divide the
    solver grid (the quick profile keeps the article's grid); ``kind``: figure family.
    """

    name: str
    build: Builder
    spatial_axes: tuple[str, ...]
    bc_source: str
    paper_n_x_single: int
    paper_n_x_multi: int
    kind: str = "generic"
    periodic_closed_grid: bool = False
    paper_multi_step_size: int = 50
    description: str = ""
    layout: Literal["1d", "2d"] = "1d"
    boundary_params: tuple[BoundaryParam, ...] = ()

    def generator_kwargs(self, split: str) -> dict[str, Any]:
        """Generator keywords of ``split`` ("train" | "val" | "test" | "ood" | "2x" | "4x"; only
        "ood" differs) for the boundary parameters (empty when the case has none)."""
        out: dict[str, Any] = {}
        for p in self.boundary_params:
            out.update(p.kwargs(split))
        return out

    def grid_axes(self, multi_step: bool) -> tuple[str, ...]:
        return self.spatial_axes + (("t",) if multi_step else ())

    def paper_n_x(self, multi_step: bool) -> int:
        return self.paper_n_x_multi if multi_step else self.paper_n_x_single

    def profile_n_x(self, profile: str, multi_step: bool, n_x: int) -> int:
        """The profile's grid; closed periodic grids keep the article's grid (128 + endpoint)
        except in the smoke profile (n_x − 1 must divide the solver grid)."""
        if self.periodic_closed_grid and profile != "smoke":
            return self.paper_n_x(multi_step)
        return n_x

    def fine_n_x(self, n_x: int, factor: int = 2) -> int:
        """``factor`` times the resolution on the same closed grid: spacing h/factor,
        factor (n_x − 1) + 1 nodes (nested: the coarse nodes are every factor-th fine node)."""
        return factor * (n_x - 1) + 1


def _boon1d(case: str) -> Builder:
    def build(n_traj: int, n_x: int, multi_step: bool, seed: int, **kw: Any) -> PDEData:
        from pcml.pdes.boon_datasets import build_dataset

        return build_dataset(case, n_traj=n_traj, n_x=n_x, multi_step=multi_step, seed=seed, **kw)

    return build


def _boon2d(case: str) -> Builder:
    def build(n_traj: int, n_x: int, multi_step: bool = True, seed: int = 0, **kw: Any) -> PDEData:
        """The case's dataset on n_x nodes per axis (n = n_x − 1 intervals), 25 frames."""
        from pcml.experiments.boon.data2d import build_case_data

        return build_case_data(case, n_traj, n_x, seed, **kw)

    return build


CASES: dict[str, BoonCase] = {}


def register_case(case: BoonCase) -> BoonCase:
    """Add ``case`` to the registry (name must be new)."""
    if case.name in CASES:
        raise ValueError(f"register_case: case {case.name!r} is already registered")
    CASES[case.name] = case
    return case


def get_case(name: str) -> BoonCase:
    if name not in CASES:
        raise ValueError(f"case: got {name!r}, expected one of {sorted(CASES)}")
    return CASES[name]


register_case(
    BoonCase(
        "heat-neumann",
        _boon1d("heat-neumann"),
        ("x",),
        "BOON receives the prescribed fluxes u_x(0,t) = 0 (insulator) and u_x(1,t) = U sin(πt) "
        "(heater, U = 5); the FNO receives no boundary data.",
        500,
        1024,
        kind="heat",
        boundary_params=(
            BoundaryParam(
                "heater flux amplitude U",
                ("heater_amplitude_min", "heater_amplitude_max"),
                (1.0, 5.0),
                (7.0, 10.0),
                "train U in [1, 5]: up to the article's heater U = 5 and down to a weak one; OOD "
                "U in [7, 10]: 1.4-2x the strongest training flux, so the near-wall gradient "
                "(which grows with U) is outside anything seen in training, while the interior "
                "(set by u0 and diffusion) stays in distribution",
            ),
        ),
        description="u_t = 0.01 u_xx, insulator at x=0, heater at x=1, u0 = cos(ωπx)",
    )
)
register_case(
    BoonCase(
        "stokes-dirichlet",
        _boon1d("stokes-dirichlet"),
        ("x",),
        "BOON receives the Dirichlet data u(0,t) = U cos(ωt) (plate velocity) and the closed form "
        "u(1,t) = U e^(−κ) cos(κ − ωt) at x = 1, both the physical boundary data of this problem "
        "on [0, 1]; the FNO receives no boundary data.",
        500,
        500,
        kind="stokes",
        boundary_params=(
            BoundaryParam(
                "plate amplitude U",
                ("amplitude_min", "amplitude_max"),
                (0.5, 1.5),
                (2.0, 3.0),
                "train U in [0.5, 1.5] around the original U = 1; OOD U in [2, 3], 1.3-2x the "
                "largest training amplitude (the field is linear in U: a method that reads the "
                "wall data scales with it, one that memorised amplitudes does not)",
            ),
            BoundaryParam(
                "plate frequency ω",
                ("omega_min", "omega_max"),
                (2.0, 8.0),
                (9.0, 11.0),
                "train ω in [2, 8] (pcml's law, κ = √(ω/2ν) in [3.2, 6.3]); OOD ω in [9, 11] "
                "(κ in [6.7, 7.4]): a faster plate and a thinner boundary layer, just beyond "
                "the training frequencies",
            ),
        ),
        description="Stokes' second problem u_t = ν u_xx, ν = 0.1, ω ~ U[2, 8]",
    )
)
register_case(
    BoonCase(
        "burgers-dirichlet",
        _boon1d("burgers-dirichlet"),
        ("x",),
        "BOON receives the Dirichlet data u(0,t) = a, u(1,t) = b (homogeneous: a = b = 0, unless "
        "the end values vary per sample); the FNO receives none.",
        500,
        500,
        boundary_params=(
            BoundaryParam(
                "end values a = u(0), b = u(1)",
                ("end_min", "end_max"),
                (-0.5, 0.5),
                (0.75, 1.0),
                "train a, b in [-0.5, 0.5] (about half the pointwise std 0.9 of u0: the ends "
                "matter but do not dominate); OOD a, b in [0.75, 1.0]: both ends high, above "
                "every training end value, so the boundary layers change sign and size",
            ),
        ),
        description="viscous Burgers, ν = 0.1, u = 0 at both ends, GRF sine-series u0",
    )
)
register_case(
    BoonCase(
        "burgers-periodic",
        _boon1d("burgers-periodic"),
        ("x",),
        "Periodicity u(0) = u(1) is structural: no boundary values are given to any model.",
        129,
        129,
        periodic_closed_grid=True,
        paper_multi_step_size=100,
        description="viscous Burgers, ν = 0.1, t = 1, GRF 625(−Δ+25I)^−2 u0 (closed grid)",
    )
)

_LID = BoundaryParam(
    "lid speed U",
    ("lid_speed_range",),
    (0.5, 1.5),
    (1.75, 2.25),
    "train U in [0.5, 1.5] (Re 50-150, the existing law); OOD U in [1.75, 2.25] (Re 175-225): "
    "a faster lid, 1.2-1.5x the fastest training lid, still a laminar flow the solver resolves",
)
# wave2d: homogeneous Neumann walls, no boundary data to vary (its hard splits are 2x / 4x)
for _name, _source, _desc, _params in (
    (
        "cavity",
        CAVITY_BC_SOURCE,
        "lid-driven cavity, incompressible NS, nu = 0.01, lid U ~ U[0.5, 1.5] (Re 50-150), "
        "random smooth initial vortex; (u0, v0) -> 25 velocity frames on [0, 1]",
        (_LID,),
    ),
    (
        "wave2d",
        WAVE_BC_SOURCE,
        "2-D wave equation u_tt = Δu, Neumann walls, exact cosine series released from rest; "
        "u0 -> 25 frames on [0, 1]",
        (),
    ),
):
    register_case(
        BoonCase(
            _name, _boon2d(_name), ("x", "y"), _source, 50, 50, kind=_name, description=_desc,
            layout="2d", boundary_params=_params,
        )
    )  # fmt: skip
