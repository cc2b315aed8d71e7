"""ProbConserv figures and the shared figure style: display names, palette, measured captions,
the bounded method in the profile figure (with a fallback when a run does not have it)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pcml.experiments._style import OKABE_ITO, display_name, line_style, param_label
from pcml.experiments.plots_probconserv import baseline_of, plot_all, profile_methods
from pcml.experiments.rundir import RunDir

_X = np.linspace(0.0, 1.0, 51)


def _stefan_like(front: float) -> np.ndarray:
    return np.where(_X <= front, 1.0 - 0.5 * _X / front, 0.0)


def _write_run(path: Path, bounded: bool) -> RunDir:
    """A ProbConserv run directory with hand-made curves/profiles/shocks for two values."""
    rd = RunDir(path)
    t = [0.0, 0.05, 0.1]
    profiles, curves, shocks = {}, {}, {}
    for v, front in (("0.5", 0.28), ("0.6", 0.24)):
        truth = _stefan_like(front)
        anp = 0.9 * np.exp(-((_X / 0.2) ** 2))
        std = 0.3 * np.exp(-_X / 0.2) + 0.01
        pc = anp + 0.3 * std**2 / (std**2).max()  # overshoots u(0) = 1 and u <= 1
        block = {
            "x": _X.tolist(),
            "truth": truth.tolist(),
            "function": 1,
            "anp": {"mean": anp.tolist(), "std": std.tolist()},
            "probconserv_anp": {"mean": pc.tolist(), "std": (0.8 * std).tolist()},
        }
        if bounded:
            bnd = np.clip(pc, 0.0, 1.0)
            bnd[0] = 1.0
            block["probconserv_anp_bounded"] = {"mean": bnd.tolist(), "std": (0.7 * std).tolist()}
        profiles[v] = block
        methods = [m for m in block if m not in ("x", "truth", "function")]
        curves[v] = {
            "t": t,
            "true_mass": [0.0, 0.1, 0.15],
            "anp": {"mass": [0.05, 0.08, 0.12], "mse": [0.02, 0.015, 0.01]},
        } | {m: {"mass": [0.0, 0.1, 0.15], "mse": [0.01, 0.012, 0.02]} for m in methods[1:]}
        rng = np.random.default_rng(0)
        shocks[v] = {"front": front, "function": 1} | {
            m: (front + 0.05 * rng.standard_normal(50)).tolist() for m in methods
        }
    for name, obj in (("profiles", profiles), ("curves", curves), ("shocks", shocks)):
        (rd.path / f"{name}.json").write_text(json.dumps(obj))
    return rd


def test_display_names_and_palette() -> None:
    assert display_name("probconserv_anp") == "ProbConserv-ANP"
    assert display_name("anp") == "ANP" and display_name("fno") == "FNO"
    assert display_name("unknown_key") == "unknown_key"  # never an error in a figure
    assert param_label("u_star") == "u*"
    keys = ("anp", "probconserv_anp", "probconserv_anp_bounded", "fno", "boon")
    assert all(line_style(k)["color"] in OKABE_ITO.values() for k in keys)
    # methods drawn together are told apart by colour and by line style
    together = ("anp", "probconserv_anp", "probconserv_anp_bounded")
    assert len({(line_style(k)["color"], line_style(k)["ls"]) for k in together}) == 3
    assert len({line_style(k)["color"] for k in together}) == 3


def test_baseline_and_profile_methods() -> None:
    assert baseline_of("probconserv_anp_bounded") == "anp" == baseline_of("probconserv_anp")
    assert baseline_of("probconserv_ensemble") == "ensemble" and baseline_of("anp") is None
    with_bounded = ["anp", "probconserv_anp", "probconserv_anp_bounded"]
    assert profile_methods(with_bounded) == ["anp", "probconserv_anp_bounded"]
    assert profile_methods(["anp", "probconserv_anp"]) == ["anp", "probconserv_anp"]  # fallback


@pytest.mark.parametrize("bounded", [False, True])
def test_figures_and_measured_captions(tmp_path: Path, bounded: bool) -> None:
    rd = _write_run(tmp_path / "run", bounded)
    written = plot_all(rd.path, "stefan", "u_star", t_star=0.05)
    assert {p.name for p in written} == {
        "fig_mass.png",
        "fig_mse_time.png",
        "fig_profile.png",
        "fig_shock.png",
    }
    caps = rd.captions()
    profile = caps["fig_profile"]
    pc = np.asarray(
        json.loads((rd.path / "profiles.json").read_text())["0.6"]["probconserv_anp"]["mean"]
    )
    assert "u_star" not in " ".join(caps.values()) and "u* = 0.6" in profile
    if bounded:
        # the bounded mean is within the limits; the mass-only one is not shown but reported
        assert "Bounded ProbConserv-ANP (u* = 0.6): u(0, t*) = 1," in profile
        assert "within the physical limits" in profile
        assert f"Not shown: ProbConserv-ANP (mass row only) has u(0, t*) = {pc[0]:.3g}" in profile
    else:
        assert "ProbConserv-ANP (u* = 0.6)" in profile
        assert "breaks the boundary condition u(0, t) = 1 and the bound u ≤ 1" in profile
    assert "adds" in profile and "largest at x = 0.00" in profile
    # the MSE caption states, measured, where ProbConserv is worse than its backbone
    assert (
        "is above the ANP at 1 of 3 times (from t = 0.1; at t = 0.1: 0.02 vs 0.01)"
        in (caps["fig_mse_time"])
    )
    assert "black dashed (drawn on top): the exact mass b(t)" in caps["fig_mass"]
    assert "ANP 0.05" in caps["fig_mass"]  # largest |mass - b| of the ANP
