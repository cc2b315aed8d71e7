"""Allowed ranges of every numeric setting of the experiment configs, as data.

:func:`validate_config` checks a resolved :class:`~pcml.experiments.boon.config.BoonConfig` or
:class:`~pcml.experiments.probconserv_config.ProbConservConfig` before any work starts (the CLI
calls it after the profile, ``--config`` and ``--set`` are merged): each numeric field against
its :class:`~pcml.experiments.config.Bound` (keys are looked up by dotted path, then by their
last parts, so ``lr`` covers ``train.lr`` and ``train.anp.lr``), then the relations between
fields that the dataclasses cannot see alone (FNO modes against the grid).

The bounds are wide: they admit every built-in profile and the article's settings and reject
what can only be a mistake (a learning rate of 10⁶, 10¹² training functions, a seed that
``torch.manual_seed`` cannot take). Changing a bound is changing this table.
"""

from __future__ import annotations

from typing import Any

from pcml.experiments.config import Bound, ConfigRangeError, check_bounds, int_bound

__all__ = [
    "BOON_BOUNDS",
    "OPC_BOUNDS",
    "PROBCONSERV_BOUNDS",
    "SEED_BOUND",
    "TRAIN_BOUNDS",
    "validate_config",
]

#: Seeds feed ``torch.manual_seed`` (a signed/unsigned 64-bit integer) and
#: ``numpy.random.default_rng`` (any integer >= 0): [0, 2⁶³ − 1] suits both, with derived offsets.
SEED_BOUND = int_bound(0, 2**63 - 1)
_COUNT = int_bound(1, 10**7)  # functions, trajectories, samples, batch sizes, epochs
_WIDTH = int_bound(1, 16_384)  # channels, latent sizes

#: :class:`pcml.train.TrainConfig`.
TRAIN_BOUNDS: dict[str, Bound] = {
    "epochs": int_bound(1, 10**6),
    "batch_size": _COUNT,
    "lr": Bound(0.0, 1.0, lo_open=True),
    "weight_decay": Bound(0.0, 1.0),
    "step_size": int_bound(1, 10**6),
    "gamma": Bound(0.0, 1.0, lo_open=True),
    "seed": SEED_BOUND,
    "validate_every": int_bound(1, 10**6),
    "checkpoint_every": int_bound(1, 10**6),
    "grad_clip": Bound(0.0, 1e12, lo_open=True),
    "num_workers": int_bound(0, 256),
}

#: :class:`pcml.experiments.boon.config.BoonConfig` (and its 2-D cases).
BOON_BOUNDS: dict[str, Bound] = {
    **TRAIN_BOUNDS,
    "data.n_train": _COUNT,
    "data.n_test": _COUNT,
    "data.n_val": int_bound(0, 10**7),
    "data.n_x": int_bound(9, 65_537),
    "data.seed": SEED_BOUND,
    "model.n_modes": int_bound(1, 32_768),
    "model.hidden_channels": _WIDTH,
    "model.n_layers": int_bound(1, 256),
    "model.projection_channels": _WIDTH,
    "model.padding": int_bound(0, 65_536),
    "boon.neumann_orders": int_bound(1, 6),
    "boon.eps": Bound(0.0, 1e12),
    "boon.reference_tol": Bound(0.0, 1.0, lo_open=True),
    "eval_batch_size": _COUNT,
    "near_boundary_nodes": int_bound(1, 32_768),
    "soft_weights": Bound(0.0, 1e12),
}

#: :class:`pcml.experiments.probconserv_config.ProbConservConfig`.
PROBCONSERV_BOUNDS: dict[str, Bound] = {
    **TRAIN_BOUNDS,
    "data.n_train": _COUNT,
    "data.n_valid": _COUNT,
    "data.n_test_per_value": _COUNT,
    "data.n_t": int_bound(1, 100_000),
    "data.n_x": int_bound(1, 100_000),
    "data.eval_n_t": int_bound(1, 100_000),
    "data.eval_n_x": int_bound(3, 100_000),
    "data.curve_functions": _COUNT,
    "data.seed": SEED_BOUND,
    "anp.hidden_channels": _WIDTH,
    "anp.latent_dim": _WIDTH,
    "anp.n_heads": int_bound(1, 1024),
    "anp.n_attention_layers": int_bound(0, 256),
    "anp.n_decoder_layers": int_bound(1, 256),
    "anp.dropout": Bound(0.0, 1.0, hi_open=True),
    "ensemble.n_members": int_bound(1, 10_000),
    "ensemble.hidden_channels": _WIDTH,
    "ensemble.n_layers": int_bound(1, 256),
    "ensemble.r_dim": _WIDTH,
    "gp.lengthscale": Bound(0.0, 1e6, lo_open=True),
    "gp.outputscale": Bound(0.0, 1e12, lo_open=True),
    "gp.noise": Bound(0.0, 1e12, lo_open=True),
    "gp.refine_steps": int_bound(0, 10**6),
    "n_latent_samples": _COUNT,
    "noise_precision": Bound(0.0, 1e300, lo_open=True),
    "softc_lambda": Bound(0.0, 1e12),
    "n_shock_samples": _COUNT,
    "seed": SEED_BOUND,
    # the question (problem_settings); the problem's own admissible range is checked by
    # probconserv_config.resolve_problem with its exact limits, these only exclude absurd values
    "problem_settings.test_values": Bound(-1e6, 1e6),
    "problem_settings.t_star": Bound(0.0, 1e6),
    "problem_settings.train_range": Bound(-1e6, 1e6),
    "problem_settings.t_range": Bound(0.0, 1e6),
}


#: :class:`pcml.experiments.opc.config.OPCConfig` (Operator-ProbConserv).
OPC_BOUNDS: dict[str, Bound] = {
    **TRAIN_BOUNDS,
    "data.n_x": int_bound(3, 100_000),
    "data.n_t": int_bound(2, 100_000),
    "data.n_train": _COUNT,
    "data.n_valid": _COUNT,
    "data.n_test": _COUNT,
    "data.seed": SEED_BOUND,
    "data.phase_range": Bound(-1e6, 1e6),
    "fno.n_modes": int_bound(1, 32_768),
    "fno.hidden_channels": _WIDTH,
    "fno.n_layers": int_bound(1, 256),
    "fno.projection_channels": _WIDTH,
    "fno.padding": int_bound(0, 65_536),
    "uq.n_members": int_bound(1, 10_000),
    "uq.n_heads": int_bound(1, 10_000),
    "uq.diversity_weight": Bound(0.0, 1e12),
    "uq.dropout": Bound(0.0, 1.0, hi_open=True),
    "uq.mc_samples": _COUNT,
    "noise_var": Bound(0.0, 1e300),
}


def _check_opc_grid(cfg: Any) -> None:
    """FNO modes fit the padded (n_x, n_t) grid: the rFFT axis (last, t) keeps n//2 + 1
    frequencies, x keeps n//2 (2·modes are used there), n = nodes + padding of that axis."""
    pad = tuple(cfg.fno.padding) + (0,) * 2
    for axis, (n, last) in enumerate(((cfg.data.n_x, False), (cfg.data.n_t, True))):
        if axis >= len(cfg.fno.n_modes):
            break
        n += pad[axis]
        limit = n // 2 + 1 if last else n // 2
        if cfg.fno.n_modes[axis] > limit:
            raise ConfigRangeError(
                f"fno.n_modes[{axis}]",
                cfg.fno.n_modes[axis],
                f"at most {limit} modes on the {'t' if last else 'x'} axis "
                f"({n} nodes with padding)",
            )


def _check_boon_grid(cfg: Any) -> None:
    """n_modes of every spatial axis fit the grid: the rFFT axis (last) keeps n//2 + 1
    frequencies, the others n, and 2·modes are used there; the periodic cases train on the
    n_x − 1 distinct nodes, so n_x − 1 is what is checked (conservative by one node)."""
    from pcml.experiments.boon.cases import get_case

    n_space = len(get_case(cfg.case).spatial_axes)
    n_axes = len(cfg.model.n_modes)
    nodes = cfg.data.n_x - 1
    for axis in range(n_space):
        modes = cfg.model.n_modes[axis]
        last = axis == n_axes - 1
        limit = nodes // 2 + 1 if last else nodes // 2
        if modes > limit:
            raise ConfigRangeError(
                f"model.n_modes[{axis}]",
                modes,
                f"at most {limit} modes on the {cfg.data.n_x}-node grid (data.n_x = "
                f"{cfg.data.n_x}: {'(n_x - 1)//2 + 1' if last else '(n_x - 1)//2'})",
            )


def validate_config(cfg: Any) -> None:
    """Check the resolved experiment config ``cfg`` (module docstring); raise
    :class:`ConfigRangeError` naming the dotted key, its value and what is allowed."""
    from pcml.experiments.boon.config import BoonConfig
    from pcml.experiments.opc.config import OPCConfig
    from pcml.experiments.probconserv_config import ProbConservConfig

    if isinstance(cfg, BoonConfig):
        check_bounds(cfg, BOON_BOUNDS)
        _check_boon_grid(cfg)
    elif isinstance(cfg, ProbConservConfig):
        check_bounds(cfg, PROBCONSERV_BOUNDS)
    elif isinstance(cfg, OPCConfig):
        check_bounds(cfg, OPC_BOUNDS)
        _check_opc_grid(cfg)
    else:
        raise TypeError(f"validate_config: unsupported config type {type(cfg).__name__}")
