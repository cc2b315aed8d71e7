"""Context/target point tasks of the ProbConserv experiments (reference §6) and their datasets.

For every function f with parameter θ_f, independently (n_t = n_x = 10 in the article):

- contexts: t_i = t_min + (i + U_i)/n_t · (t_max − t_min), i = 0..n_t−1, U_i ~ U[0, 1)
  (stratified), and x_1 ≤ … ≤ x_{n_x} sorted draws from U(x_range); the context set is the full
  product {(t_i, x_j)}, every time using the same x;
- targets: n_t sorted draws t ~ U(t_range) × n_x sorted draws x ~ U(x_range), independent of
  the contexts;
- values: the closed form u(t, x; θ_f), no observation noise.

Points are ordered time-major: ``inputs[f, i * n_x + j] = (t_i, x_j)``. The random stream per
call draws, in this order, U (n_fn, n_t), context x (n_fn, n_x), target t (n_fn, n_t), target x
(n_fn, n_x). ``make_split`` seeds ``numpy.random.default_rng([seed, split_id])`` (train 0,
valid 1, test 2), draws the train/valid parameters θ ~ U(train_range) first and records the seed;
the original generated its datasets without any seed (defect 12.15).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pcml.data import BoundaryData, ConservedData, PDEData, PointData
from pcml.pdes.gpme import PROBLEMS, ConservationProblem, get_problem

__all__ = [
    "DEFAULT_SIZES",
    "SPLIT_IDS",
    "TaskSplit",
    "evaluation_grid",
    "make_split",
    "sample_point_tasks",
    "split_size",
    "task_split_from_pdedata",
    "to_pdedata",
]

F64 = NDArray[np.float64]

SPLIT_IDS: dict[str, int] = {"train": 0, "valid": 1, "test": 2}
#: Reference sizes: 10,000 train and 100 valid functions, 50 test functions per test value.
DEFAULT_SIZES: dict[str, int] = {"train": 10_000, "valid": 100, "test_per_value": 50}
GENERATOR_VERSION = "1"


def _resolve(problem: ConservationProblem | str) -> ConservationProblem:
    if isinstance(problem, str):
        return get_problem(problem)
    if not isinstance(problem, ConservationProblem):
        raise ValueError(f"problem must be a ConservationProblem or a name; got {problem!r}")
    return problem


def _check_count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be an int >= 1; got {value!r}")
    return int(value)


def _grid_inputs(t: F64, x: F64) -> F64:
    """(n_fn, n_t), (n_fn, n_x) -> (n_fn, n_t * n_x, 2) time-major (t, x) pairs."""
    n_fn, n_t = t.shape
    n_x = x.shape[1]
    tt = np.broadcast_to(t[:, :, None], (n_fn, n_t, n_x))
    xx = np.broadcast_to(x[:, None, :], (n_fn, n_t, n_x))
    return np.stack([tt, xx], axis=-1).reshape(n_fn, n_t * n_x, 2)


def sample_point_tasks(
    problem: ConservationProblem | str,
    params: NDArray[np.floating],
    rng: np.random.Generator,
    n_t: int = 10,
    n_x: int = 10,
) -> dict[str, F64]:
    """Contexts and targets for each θ in ``params: (n_fn,)``.

    Returns ``context_inputs (n_fn, n_t·n_x, 2)`` [(t, x)], ``context_values (n_fn, n_t·n_x, 1)``,
    ``target_inputs (n_fn, n_t·n_x, 2)``, ``target_values (n_fn, n_t·n_x, 1)``, all float64.
    """
    prob = _resolve(problem)
    n_t, n_x = _check_count("n_t", n_t), _check_count("n_x", n_x)
    p = np.asarray(params, dtype=np.float64)
    if p.ndim != 1 or p.shape[0] < 1:
        raise ValueError(f"params must have shape (n_fn,) with n_fn >= 1; got shape {p.shape}")
    prob.check_param(p, name="params")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator; got {type(rng).__name__}")
    n_fn = p.shape[0]
    (t0, t1), (x0, x1) = prob.t_range, prob.x_range
    strata = rng.random((n_fn, n_t))
    t_ctx = t0 + (np.arange(n_t) + strata) / n_t * (t1 - t0)
    x_ctx = np.sort(rng.uniform(x0, x1, (n_fn, n_x)), axis=1)
    t_tgt = np.sort(rng.uniform(t0, t1, (n_fn, n_t)), axis=1)
    x_tgt = np.sort(rng.uniform(x0, x1, (n_fn, n_x)), axis=1)
    out: dict[str, F64] = {}
    for kind, t, x in (("context", t_ctx, x_ctx), ("target", t_tgt, x_tgt)):
        inputs = _grid_inputs(t, x)
        values = prob.solution(inputs[..., 0], inputs[..., 1], p[:, None])
        out[f"{kind}_inputs"] = inputs
        out[f"{kind}_values"] = values[..., None]
    return out


@dataclass(frozen=True, eq=False)
class TaskSplit:
    """One split of point tasks: ``params (n_fn,)`` and the four arrays of ``sample_point_tasks``.

    ``seed`` and ``split`` reproduce it exactly: ``make_split(problem, split, n_fn, seed, ...)``.
    """

    problem: ConservationProblem
    split: str
    seed: int
    n_t: int
    n_x: int
    params: F64
    context_inputs: F64
    context_values: F64
    target_inputs: F64
    target_values: F64

    @property
    def n_functions(self) -> int:
        return int(self.params.shape[0])


def split_size(problem: ConservationProblem | str, split: str) -> int:
    """Reference number of functions: 10,000 (train), 100 (valid), 50 × #test values (test)."""
    prob = _resolve(problem)
    if split not in SPLIT_IDS:
        raise ValueError(f"split must be one of {sorted(SPLIT_IDS)}; got {split!r}")
    if split == "test":
        return DEFAULT_SIZES["test_per_value"] * len(prob.test_values)
    return DEFAULT_SIZES[split]


def make_split(
    problem: ConservationProblem | str,
    split: str,
    n_functions: int | None = None,
    seed: int = 0,
    *,
    n_t: int = 10,
    n_x: int = 10,
) -> TaskSplit:
    """Parameters and point tasks of one split.

    train/valid: θ_f ~ U(train_range), f = 1..n_functions. test: every test value repeated
    ``n_functions / len(test_values)`` times, in the order of ``test_values`` (n_functions must be
    a multiple). ``n_functions=None`` gives the reference size (``split_size``). The generator is
    ``numpy.random.default_rng([seed, SPLIT_IDS[split]])``.
    """
    prob = _resolve(problem)
    if split not in SPLIT_IDS:
        raise ValueError(f"split must be one of {sorted(SPLIT_IDS)}; got {split!r}")
    n_fn = split_size(prob, split) if n_functions is None else n_functions
    n_fn = _check_count("n_functions", n_fn)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be an int >= 0; got {seed!r}")
    rng = np.random.default_rng([int(seed), SPLIT_IDS[split]])
    if split == "test":
        n_values = len(prob.test_values)
        if n_fn % n_values:
            raise ValueError(
                f"n_functions must be a multiple of the {n_values} test values "
                f"{prob.test_values} for the test split; got {n_fn}"
            )
        params = np.repeat(np.asarray(prob.test_values, dtype=np.float64), n_fn // n_values)
    else:
        params = rng.uniform(*prob.train_range, n_fn)
    tasks = sample_point_tasks(prob, params, rng, n_t=n_t, n_x=n_x)
    return TaskSplit(prob, split, int(seed), n_t, n_x, params, **tasks)


def evaluation_grid(
    problem: ConservationProblem | str,
    n_t: int = 201,
    n_x: int = 201,
    *,
    include_t_star: bool = False,
) -> tuple[F64, F64]:
    """Dense prediction grid: ``t = linspace(*t_range, n_t)``, ``x = linspace(*x_range, n_x)``.

    ``include_t_star``: if the problem's t* is not a grid time (to 1e-9 relative), insert it in
    sorted order (then t has n_t + 1 points), so any user-chosen t* is evaluated exactly."""
    prob = _resolve(problem)
    n_t, n_x = _check_count("n_t", n_t), _check_count("n_x", n_x)
    t = np.linspace(*prob.t_range, n_t)
    if include_t_star and not np.any(np.abs(t - prob.t_star) <= 1e-9 * max(1.0, prob.t_star)):
        t = np.sort(np.append(t, prob.t_star))
    return t, np.linspace(*prob.x_range, n_x)


def _problem_constants(split: TaskSplit) -> dict[str, float | int | str]:
    prob = split.problem
    consts: dict[str, float | int | str] = {
        "problem": prob.name,
        "problem_class": f"{type(prob).__module__}.{type(prob).__qualname__}",
        "pde": prob.pde,
        "param_name": prob.param_name,
        "split": split.split,
        "split_id": SPLIT_IDS[split.split],
        "rng": "numpy.random.default_rng([seed, split_id])",
        "sampling": "contexts: stratified t x sorted uniform x; targets: sorted uniform t x x",
        "n_t_points": split.n_t,
        "n_x_points": split.n_x,
        "x_min": prob.x_range[0],
        "x_max": prob.x_range[1],
    }
    for f in dataclasses.fields(prob):
        value = getattr(prob, f.name)
        if isinstance(value, tuple):
            consts[f.name] = ",".join(repr(float(v)) for v in value)
        else:
            consts[f.name] = value
    return consts


def to_pdedata(
    split: TaskSplit, *, n_t: int = 201, n_x: int = 201, dense: bool | None = None
) -> PDEData:
    """The split as a :class:`pcml.data.PDEData` (float64 arrays; write it with ``write_dataset``).

    Stores ``params[param_name] (n_fn,)``, the point sets, ``conserved.mass_rhs (n_fn, n_t)`` =
    b(t) on the evaluation time grid (``evaluation_grid(..., include_t_star=True)``: t* is always
    one of its times), Dirichlet data of the inflow face (and of the far face where
    the problem prescribes it; periodic faces for diffusion), the seed and every generator setting
    as constants. ``dense`` (default: only for the test split) adds the field ``u (n_fn, n_t, n_x)``
    on the evaluation grid.
    """
    prob = split.problem
    t, x = evaluation_grid(prob, n_t, n_x, include_t_star=True)
    p = split.params
    dense = split.split == "test" if dense is None else dense
    fields = {}
    if dense:
        fields["u"] = prob.solution(t[None, :, None], x[None, None, :], p[:, None, None])
    boundary: tuple[BoundaryData, ...]
    if prob.name == "diffusion":
        boundary = (
            BoundaryData("x", "lower", "periodic", None),
            BoundaryData("x", "upper", "periodic", None),
        )
    else:
        faces = [("lower", x[0])] + ([("upper", x[-1])] if prob.name in ("pme", "stefan") else [])
        boundary = tuple(
            BoundaryData("x", side, "dirichlet", prob.solution(t[None, :], xb, p[:, None]))
            for side, xb in faces
        )
    return PDEData(
        name=f"{prob.name}_{split.split}",
        fields=fields,
        time=t,
        coords={"x": x},
        params={prob.param_name: p},
        constants=_problem_constants(split),
        boundary=boundary,
        conserved=ConservedData(
            mass_rhs=prob.mass(t[None, :], p[:, None]),
            quantity="mass",
            domain=prob.x_range,
            derivation="closed_form",
            rule="trapezoid",
        ),
        points=PointData(
            split.context_inputs, split.context_values, split.target_inputs, split.target_values
        ),
        generator="pcml.pdes.tasks.make_split",
        generator_version=GENERATOR_VERSION,
        seed=split.seed,
    )


def task_split_from_pdedata(data: PDEData) -> TaskSplit:
    """Inverse of :func:`to_pdedata` for the point tasks: the problem (with every stored setting),
    split, seed, parameters and point sets."""
    c = data.constants
    missing = [k for k in ("problem", "split", "n_t_points", "n_x_points") if k not in c]
    if missing or data.points is None or data.seed is None:
        raise ValueError(
            f"data {data.name!r} was not written by to_pdedata: missing constants {missing}, "
            f"points {'absent' if data.points is None else 'present'}, seed {data.seed}"
        )
    name = str(c["problem"])
    if name not in PROBLEMS:
        raise ValueError(f"data constant problem={name!r}; expected one of {sorted(PROBLEMS)}")
    default = get_problem(name)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(default):
        if f.name in c:
            value = c[f.name]
            kwargs[f.name] = (
                tuple(float(v) for v in str(value).split(","))
                if isinstance(getattr(default, f.name), tuple)
                else value
            )
    prob = dataclasses.replace(default, **kwargs)
    pts = data.points
    return TaskSplit(
        prob,
        str(c["split"]),
        int(data.seed),
        int(c["n_t_points"]),
        int(c["n_x_points"]),
        np.asarray(data.params[prob.param_name], dtype=np.float64),
        np.asarray(pts.context_inputs, dtype=np.float64),
        np.asarray(pts.context_values, dtype=np.float64),
        np.asarray(pts.target_inputs, dtype=np.float64),
        np.asarray(pts.target_values, dtype=np.float64),
    )
