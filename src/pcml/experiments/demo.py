r"""The pcml demo: what exact physics constraints buy, in a few CPU minutes.

Two small experiments, run with the real experiment runners and written as real run
directories, so every number can be reproduced and inspected:

1. **Stefan problem** (ProbConserv, :mod:`pcml.experiments.probconserv`):
   u_t = ∂_x(k(u) u_x), k(u) = 1[u ≥ u*], on [0, 1] with the conservation law
   ∫₀¹ u(t, x) dx = b(t) = 2 c₁ √(t/π). One attentive neural process (ANP) is trained; at test
   time its Gaussian prediction at t* = 0.05 is used as is (``anp``) or conditioned on
   gᵀu = b(t*) with g the trapezoid weights (``probconserv_anp``); at the default size also
   ``probconserv_anp_bounded`` (mass + u(0, t*) = 1 as constraint rows, 0 ≤ u ≤ 1) once the
   probconserv runner provides it (``BOUNDED``). Reported: the conservation
   error CE = gᵀμ − b (≈ 0 only for ProbConserv), the MSE of the mean, and the posterior mean
   ± sd of the shock (front) position next to the true front x*(t*) = α√t*.
2. **Heat with an insulator** (BOON, :mod:`pcml.experiments.boon`): u_t = k u_xx, k = 0.01,
   u_x(0, t) = 0 (insulator), u_x(1, t) = U sin(πt) (heater). A plain FNO and BOON (the same FNO,
   kernels corrected so the Neumann conditions hold by construction) are trained with identical
   settings. Reported: the boundary-flux error |∂u/∂x − prescribed| at x = 0 and at x = 1
   (one-sided stencil of the enforced order) and the relative L2 error on the test split.

Layout of the demo directory ``DIR`` (default ``runs/demo``)::

    DIR/config.toml, command.txt, metrics.json (the summary), table.md, timings.json,
        figures/*.png (copies of both parts' figures + training curves from their logs),
        story.json (the report's text and tables, :mod:`.demo_story`), report.html
        (self-contained; ``pcml report DIR`` rebuilds it byte for byte), parts.json
    DIR/stefan/   a complete ``pcml probconserv run`` directory (checkpoints/, logs/, data/, ...)
    DIR/heat/     a complete ``pcml boon run`` directory

Each part's own ``command.txt`` reruns exactly that part (``--config DIR/<part>/config.toml``).
Re-running the demo reuses finished work: a part whose config hash is recorded in
``parts.json`` and whose files are complete is not run again; an interrupted part resumes from
its last checkpoints (pcml.train). A part directory that holds a run of a *different* config is
refused with a clear error instead of being mixed with it.

Sizes: ``default`` and ``tiny`` (seconds; the test suite). ``default`` is large enough that the
unconstrained models' errors are clearly non-zero and small enough for a 2-core CPU (30 s wall
on a quiet 2-core machine, up to ~5 min under load; one thread per part, the two parts in
parallel, ``run_demo``). Measured over seeds 0-4 (README): ProbConserv's |CE| ≤ 1e-17 on every
seed, but its MSE is below the ANP's on 2 of 5 seeds only (ANP 0.0148 ± 0.0038, ProbConserv
0.0124 ± 0.0028); BOON's flux errors ≤ 4e-15 and its relative L2 0.0072 ± 0.0014 against the
FNO's 0.0215 ± 0.0017, lower on 5 of 5 seeds.
Both start from the runners' ``quick`` profiles with every size pinned below, so each part's
config.toml says ``profile = "quick"`` and its ``--config`` reproduces it exactly.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .boon.config import BoonConfig
from .boon.config import make_config as boon_make_config
from .config import config_hash, to_toml
from .demo_story import demo_story
from .demo_summary import STEFAN_VALUE, SummaryRow, format_summary, summary_metrics, summary_rows
from .probconserv_config import ALL_METHODS, ProbConservConfig
from .probconserv_config import make_config as pc_make_config
from .rundir import RunDir, write_json_atomic, write_text_atomic

__all__ = [
    "DEMO_SIZES",
    "PARTS",
    "DemoConfig",
    "DemoResult",
    "SummaryRow",
    "demo_config",
    "format_summary",
    "part_command",
    "run_demo",
    "summary_rows",
]

Log = Callable[[str], None]

#: Sub-directories of the two parts.
PARTS = ("stefan", "heat")

# Overrides of the runners' "quick" profiles, measured on a shared 2-core CPU. Stefan: an ANP
# with H = 32 trained for 1,000 steps at a constant lr (10 epochs of 100 batches of 10 functions,
# validation every epoch, best weights kept): enough for ProbConserv to remove the mass error and
# move the front towards the truth (the MSE gain of so small an ANP varies with its training run);
# the prediction runs on a coarse 11-point time grid (t* = 0.05 is on it). Heat: 100 / 50
# trajectories on 64 grid nodes, FNO width 32 with 16 modes, 40 epochs, FNO and BOON only (no
# reference mode). Every size and the ANP schedule are pinned here (the quick profile's lr decay
# is sized for its 3,000 steps), so the demo does not drift with the runners' profiles; the method
# options (ANP input scaling, BOON's Tikhonov eps, target scale, Neumann stencil orders) are the
# runners' quick defaults.
# The bounded ProbConserv method (mass + u(0, t*) = 1 as constraint rows, 0 <= u <= 1; issue 15)
# joins the default demo as soon as the probconserv runner has it; the tiny size keeps the two
# base methods, so the test suite's summary rows do not depend on it.
BOUNDED = "probconserv_anp_bounded"
_DEFAULT_METHODS = ["anp", "probconserv_anp"] + ([BOUNDED] if BOUNDED in ALL_METHODS else [])

_SIZES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "default": (
        (
            "methods=" + json.dumps(_DEFAULT_METHODS),
            "data.n_train=1000",
            "data.n_valid=50",
            "data.n_test_per_value=20",
            "data.eval_n_t=11",
            "data.curve_functions=4",
            "data.eval_n_x=201",
            "anp.hidden_channels=32",
            "anp.latent_dim=32",
            "anp.n_heads=4",
            "anp.n_attention_layers=2",
            "anp.n_decoder_layers=3",
            "anp.dropout=0.0",
            "train.anp.epochs=10",
            "train.anp.batch_size=10",
            "train.anp.lr=1e-3",
            'train.anp.scheduler="none"',
            "train.anp.validate_every=1",
            "train.anp.checkpoint_every=1",
            "train.anp.keep_best=true",
            "n_latent_samples=30",
            "n_shock_samples=300",
        ),
        (
            'models=["fno", "boon"]',
            "data.n_train=100",
            "data.n_test=50",
            "data.n_x=64",
            "model.n_modes=[16]",
            "model.hidden_channels=32",
            "model.n_layers=4",
            "model.projection_channels=128",
            "train.epochs=40",
            "train.batch_size=10",
            "train.lr=1e-3",
            "train.step_size=10",
        ),
    ),
    "tiny": (
        (
            'methods=["anp", "probconserv_anp"]',
            "data.n_train=20",
            "data.n_valid=4",
            "data.n_test_per_value=2",
            "data.eval_n_t=11",
            "data.eval_n_x=41",
            "data.curve_functions=1",
            "anp.hidden_channels=16",
            "anp.latent_dim=8",
            "anp.n_heads=2",
            "anp.n_attention_layers=1",
            "anp.n_decoder_layers=1",
            "train.anp.epochs=1",
            "train.anp.batch_size=10",
            "train.anp.validate_every=1",
            "train.anp.keep_best=false",
            "n_latent_samples=3",
            "n_shock_samples=20",
        ),
        (
            'models=["fno", "boon"]',
            "data.n_train=8",
            "data.n_test=4",
            "data.n_x=33",
            "data.eval_2x=false",
            "model.n_modes=[4]",
            "model.hidden_channels=8",
            "model.n_layers=2",
            "model.projection_channels=16",
            "train.epochs=2",
            "train.step_size=1",
            "train.batch_size=4",
        ),
    ),
}
DEMO_SIZES: tuple[str, ...] = tuple(_SIZES)


@dataclass(frozen=True)
class DemoConfig:
    """The demo: its size preset, the seed, and the two parts' full runner configs."""

    size: str = "default"
    seed: int = 0
    stefan: ProbConservConfig = field(default_factory=ProbConservConfig)
    heat: BoonConfig = field(default_factory=BoonConfig)

    def __post_init__(self) -> None:
        if self.size not in _SIZES:
            raise ValueError(f"size: got {self.size!r}, expected one of {DEMO_SIZES}")
        if self.seed < 0:
            raise ValueError(f"seed: must be >= 0, got {self.seed}")
        if self.stefan.problem != "stefan" or self.heat.case != "heat-neumann":
            raise ValueError(
                f"the demo runs stefan and heat-neumann, got {self.stefan.problem!r} and "
                f"{self.heat.case!r}"
            )


def demo_config(size: str = "default", seed: int = 0) -> DemoConfig:
    """The built-in demo config of ``size`` ("default" | "tiny"); ``seed`` sets the model
    initialisation, data order and prediction seeds of both parts (the data stay the same)."""
    if size not in _SIZES:
        raise ValueError(f"size: got {size!r}, expected one of {DEMO_SIZES}")
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed: must be an int >= 0, got {seed!r}")
    stefan_sets, heat_sets = _SIZES[size]
    stefan = pc_make_config(
        "stefan", "quick", overrides=[*stefan_sets, f"seed={seed}", f"train.anp.seed={seed}"]
    )
    heat = boon_make_config(
        "heat-neumann", "quick", False, None, [*heat_sets, f"seed={seed}", f"train.seed={seed}"]
    )
    return DemoConfig(size, seed, stefan, heat)


def part_command(part: str, run_dir: Path) -> str:
    """The command that reruns one part exactly: its runner with the part's saved config."""
    sub = run_dir / part
    if part == "stefan":
        head = ["pcml", "probconserv", "run", "stefan"]
    elif part == "heat":
        head = ["pcml", "boon", "run", "heat-neumann"]
    else:
        raise ValueError(f"part: got {part!r}, expected one of {PARTS}")
    return shlex.join(
        [*head, "--profile", "quick", "--config", str(sub / "config.toml"), "--out", str(sub)]
    )


# ---------------------------------------------------------------------------------------- run
@dataclass(frozen=True)
class DemoResult:
    """What :func:`run_demo` produced: the summary ``metrics`` (metrics.json), its ``rows``,
    the per-part wall times and whether each part was reused (``reused``), and the paths."""

    run_dir: Path
    metrics: dict[str, Any]
    rows: list[SummaryRow]
    timings: dict[str, float]
    reused: dict[str, bool]
    report: Path


# Figures copied to the top level, in reading order: (part, stem in the part, new stem); the
# training curves (TRAINING_FIGURES) are drawn by the demo from the parts' logs.
_FIGURES = (
    ("stefan", "fig_profile", "1_stefan_profile"),
    ("stefan", "fig_shock", "2_stefan_shock_position"),
    ("stefan", "fig_mass", "3_stefan_mass"),
    ("stefan", "fig_mse_time", "4_stefan_mse_over_time"),
    ("heat", "heat_boundary_flux", "6_heat_boundary_flux"),
    ("heat", "prediction", "7_heat_prediction"),
)
TRAINING_FIGURES = {"stefan": "5_stefan_training", "heat": "8_heat_training"}
_PART_TITLES = {
    "stefan": "Stefan problem (ProbConserv)",
    "heat": "Heat with an insulator (BOON)",
}


def _parts(cfg: DemoConfig) -> tuple[tuple[str, Any], ...]:
    return (("stefan", cfg.stefan), ("heat", cfg.heat))


def _part_complete(sub: Path) -> bool:
    return all((sub / name).is_file() for name in ("metrics.json", "report.html", "config.toml"))


def _check_part_dir(part: str, sub: Path, cfg: Any) -> None:
    """Refuse a part directory that holds a run of another config (never mix two runs)."""
    saved = sub / "config.toml"
    if saved.is_file() and saved.read_text(encoding="utf-8") != to_toml(cfg):
        raise ValueError(
            f"{sub} holds a {part} run with a different config (another --seed or size, or an "
            f"older pcml); choose another --out or delete {sub}"
        )


def _run_part(
    part: str, cfg: DemoConfig, run_dir: Path, progress: bool, log: Log
) -> dict[str, Any]:
    sub = run_dir / part
    command = part_command(part, run_dir)
    quiet: Log = lambda s: log(f"  {s}")  # noqa: E731
    if part == "stefan":
        from .probconserv import run as run_probconserv

        return run_probconserv(cfg.stefan, sub, command=command, progress=progress, log=quiet)
    from .boon.runner import run as run_boon

    return run_boon(cfg.heat, sub, command=command, progress=progress, log=quiet)


def _start_background(part: str, cfg: DemoConfig, run_dir: Path) -> tuple[Any, Any, float]:
    """Start ``part_command(part)`` as a subprocess (config.toml written first); returns
    (process, log file, start time)."""
    sub = RunDir(run_dir / part)
    sub.write_config(cfg.heat)
    args = shlex.split(part_command(part, run_dir))[1:]
    head = [sys.executable, "-c", _MAIN]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    env["PCML_DEMO_PARENT"] = str(os.getpid())
    log_file = (sub.path / "demo.log").open("w", encoding="utf-8")
    proc = subprocess.Popen(
        [*head, *args], stdout=log_file, stderr=subprocess.STDOUT, env=env, text=True
    )
    return proc, log_file, time.time()


# the child gets SIGINT (saves its checkpoint and stops) when the demo process dies
_PRELUDE = (
    "import os, sys; from pcml._locks import die_with_parent; "
    "die_with_parent(int(os.environ['PCML_DEMO_PARENT'])); "
)
_MAIN = _PRELUDE + "from pcml.cli import main; sys.exit(main())"


def _finish_background(background: tuple[Any, Any, float], sub: Path) -> float:
    """Wait for the background part; its wall time (s), or RuntimeError with the log's tail."""
    proc, log_file, t0 = background
    code = proc.wait()
    log_file.close()
    if code != 0:
        tail = (sub / "demo.log").read_text(encoding="utf-8")[-3000:]
        raise RuntimeError(f"the background run in {sub} failed (exit {code}):\n{tail}")
    # it may have finished long before this wait: its end is the last write of its log
    return (sub / "demo.log").stat().st_mtime - t0


@contextlib.contextmanager
def _threads() -> Iterator[None]:
    """One torch thread for a part trained in this process (the background part gets
    OMP_NUM_THREADS=1): float reductions then do not depend on the machine's core count, so
    the demo's numbers are bit-identical on one CPU type and torch build whatever the number
    of cores (measured: two seed-0 runs on this machine gave identical metrics.json files);
    across CPU types the float32 kernels still differ (README: the seed spread)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _copy_figures(rd: RunDir) -> dict[str, list[str]]:
    """Copy the parts' figures (captions as the parts wrote them: the report groups them under
    the part's heading, no prefix) and draw the training curves; returns {part: stems}."""
    from .plots_training import Panel, plot_training

    for old in rd.figures.glob("*.png"):  # figures of an older demo layout
        old.unlink()
    captions: dict[str, str] = {}
    stems: dict[str, list[str]] = {part: [] for part in PARTS}
    for part, stem, new in _FIGURES:
        src = rd.path / part / "figures" / f"{stem}.png"
        if not src.is_file():
            continue
        shutil.copyfile(src, rd.figures / f"{new}.png")
        part_caps = RunDir(rd.path / part, create=False).captions()
        captions[new] = part_caps.get(stem, stem.replace("_", " "))
        stems[part].append(new)
    write_json_atomic(rd.captions_path, captions)
    logs = {part: rd.path / part / "logs" for part in PARTS}
    panels = {
        "stefan": Panel(
            "ANP (the backbone of every Stefan method)",
            "loss: −ELBO per batch (symlog)",
            {"anp": logs["stefan"] / "anp.jsonl"},
            "symlog",
        ),
        "heat": Panel(
            "FNO and BOON",
            "loss: relative L2 error",
            {m: logs["heat"] / f"{m}.jsonl" for m in ("fno", "boon")},
        ),
    }
    intros = {
        "stefan": "Training curves: the ANP's loss (negative evidence lower bound, NLL + KL, "
        "on the training and the validation functions; star: the best validation epoch, whose "
        "weights are kept).",
        "heat": "Training curves: relative L2 loss on the training split per epoch (the BOON "
        "runner has no validation split; the test split is used only at the end).",
    }
    for part, panel in panels.items():
        if all(p.is_file() for p in panel.logs.values()):
            plot_training(rd, TRAINING_FIGURES[part], [panel], intros[part])
            stems[part].append(TRAINING_FIGURES[part])
    return stems


def _table_md(cfg: DemoConfig, rows: Sequence[SummaryRow], run_dir: Path) -> str:
    s, h = cfg.stefan, cfg.heat
    return "\n".join(
        [
            "# pcml demo: exact conservation (ProbConserv) and exact boundary conditions (BOON)",
            "",
            format_summary(rows),
            "CE = trapezoid mass of the predicted mean minus the exact mass b(t*) (signed, mean "
            "over test functions); flux error = mean |du/dx - prescribed flux| at the end node "
            "(one-sided stencil of the order BOON enforces); all on the test splits.",
            "",
            f"Stefan: ANP H = {s.anp.hidden_channels}, {s.data.n_train} training functions, "
            f"{s.train.anp.epochs} epochs of batch {s.train.anp.batch_size}, "
            f"{s.data.n_test_per_value} test functions per u*, {s.n_latent_samples} latent "
            f"samples, {s.n_shock_samples} shock samples. Full run: "
            f"{run_dir / 'stefan' / 'report.html'}",
            "",
            f"Heat: FNO/BOON width {h.model.hidden_channels}, {h.model.n_modes[0]} modes, "
            f"{h.data.n_x} nodes, {h.data.n_train} / {h.data.n_test} train / test trajectories, "
            f"{h.train.epochs} epochs. Full run: {run_dir / 'heat' / 'report.html'}",
            "",
            f"Rerun one part: {part_command('stefan', run_dir)}",
            "",
            f"Rerun one part: {part_command('heat', run_dir)}",
            "",
        ]
    )


def run_demo(
    cfg: DemoConfig,
    out: str | Path,
    *,
    command: str | None = None,
    progress: bool = True,
    parallel: bool = True,
    log: Log = print,
) -> DemoResult:
    """Run (or reuse/resume) both parts in ``out`` and write the demo's files (module
    docstring). ``command``: the line stored in ``command.txt`` (default: rebuilt from cfg).

    ``parallel``: run the heat part as a background ``pcml boon run`` process (its exact part
    command, one thread, log in ``heat/demo.log``) while the Stefan part trains here with one
    thread fewer, so the two parts use both cores of a 2-core machine."""
    from pcml.pdes.gpme import get_problem

    from .report import build_report

    t_start = time.perf_counter()
    rd = RunDir(out, create=False)  # checkpoints/ and logs/ live in the parts
    rd.lock()  # a second demo into the same --out fails at once (RunDirLocked)
    rd.figures.mkdir(parents=True, exist_ok=True)
    for part, part_cfg in _parts(cfg):
        _check_part_dir(part, rd.path / part, part_cfg)
    rd.write_config(cfg)
    if command is None:
        command = shlex.join(["pcml", "demo", "--out", str(rd.path), "--seed", str(cfg.seed)])
        command += "" if cfg.size == "default" else f" --size {cfg.size}"
    write_text_atomic(rd.command_path, command + "\n")

    state_path = rd.path / "parts.json"
    state: dict[str, str] = {}
    if state_path.is_file():
        loaded = json.loads(state_path.read_text(encoding="utf-8"))
        state = {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}
    timings: dict[str, float] = {}
    todo = [
        part
        for part, part_cfg in _parts(cfg)
        if not (state.get(part) == config_hash(part_cfg) and _part_complete(rd.path / part))
    ]
    for i, part in enumerate(PARTS, 1):
        if part not in todo:
            log(f"[{i}/2] {_PART_TITLES[part]}: finished run found in {rd.path / part}, reused")
            timings[f"{part}_s"] = 0.0
        else:
            state.pop(part, None)
    write_json_atomic(state_path, state)

    background = None
    if parallel and len(todo) == 2:  # heat in a second process on the second core
        background = _start_background("heat", cfg, rd.path)
        log(
            f"[2/2] {_PART_TITLES['heat']} -> {rd.path / 'heat'} (in parallel; log: "
            f"{rd.path / 'heat' / 'demo.log'})"
        )
    try:
        for i, part in enumerate(PARTS, 1):
            if part not in todo or (background is not None and part == "heat"):
                continue
            log(f"[{i}/2] {_PART_TITLES[part]} -> {rd.path / part}")
            t0 = time.perf_counter()
            with _threads():
                _run_part(part, cfg, rd.path, progress, log)
            timings[f"{part}_s"] = time.perf_counter() - t0
            state[part] = config_hash(dict(_parts(cfg))[part])
            write_json_atomic(state_path, state)
        if background is not None:
            log(f"[2/2] {_PART_TITLES['heat']}: waiting for the background run")
            timings["heat_s"] = _finish_background(background, rd.path / "heat")
            state["heat"] = config_hash(cfg.heat)
            write_json_atomic(state_path, state)
            background = None
    finally:
        if background is not None:  # interrupted: let the heat run save its checkpoint too
            proc, log_file, _ = background
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
            log_file.close()
    reused = {part: part not in todo for part in PARTS}
    part_metrics = {
        part: json.loads((rd.path / part / "metrics.json").read_text(encoding="utf-8"))
        for part in PARTS
    }

    problem = get_problem("stefan")
    front = float(problem.front(problem.t_star, float(STEFAN_VALUE)))
    metrics = summary_metrics(part_metrics["stefan"], part_metrics["heat"], front)
    rows = summary_rows(metrics)
    rd.write_metrics(metrics)
    rd.write_table(_table_md(cfg, rows, rd.path))
    stems = _copy_figures(rd)
    commands = [
        ("Rerun the whole demo (reuses finished parts)", command),
        *((f"Rerun the {part} part alone", part_command(part, rd.path)) for part in PARTS),
        ("Rebuild this page from the run directory", shlex.join(["pcml", "report", str(rd.path)])),
    ]
    story = demo_story(cfg, part_metrics["stefan"], part_metrics["heat"], stems, commands)
    write_json_atomic(rd.path / "story.json", story)
    report = build_report(rd.path)
    timings["total_s"] = time.perf_counter() - t_start
    write_json_atomic(rd.path / "timings.json", {**timings, "reused": reused})
    return DemoResult(rd.path, metrics, rows, timings, reused, report)
