"""``pcml boon study``: seeds, mean ± SE, paired differences to fno_bc, resume, doc sections."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from pcml.cli import main
from pcml.experiments.boon.config import STUDY_MODELS
from pcml.experiments.boon.study import BASELINE, aggregate, update_doc


@settings(max_examples=30)
@given(vals=st.lists(st.tuples(st.floats(0, 10), st.floats(0, 10)), min_size=1, max_size=6))
def test_aggregate_mean_se_and_paired_differences(vals: list[tuple[float, float]]) -> None:
    per_seed = {
        s: {"boon": {"rel_l2": b, "rel_l2_ood": b}, BASELINE: {"rel_l2": f, "rel_l2_ood": f}}
        for s, (b, f) in enumerate(vals)
    }
    agg = aggregate(per_seed)
    n = len(vals)
    boon = [b for b, _ in vals]
    d = [b - f for b, f in vals]
    got = agg["models"]["boon"]["ID"]["rel_l2"]
    assert got["n"] == n and got["mean"] == pytest.approx(sum(boon) / n, abs=1e-12)
    pd = agg["paired"]["boon"]["OOD"]["rel_l2"]
    assert pd["mean"] == pytest.approx(sum(d) / n, abs=1e-12)
    if n == 1:
        assert got["se"] is None and pd["se"] is None  # no SE from one seed, never a NaN
    else:
        m = sum(d) / n
        se = math.sqrt(sum((x - m) ** 2 for x in d) / (n - 1) / n)
        assert pd["se"] == pytest.approx(se, rel=1e-9, abs=1e-12)
    assert BASELINE not in agg["paired"]


def test_update_doc_replaces_only_its_section(tmp_path: Path) -> None:
    doc = tmp_path / "boon.md"
    doc.write_text("# Results\n\nintro\n", encoding="utf-8")
    update_doc(doc, "heat-neumann", "table v1\n")
    update_doc(doc, "stokes-dirichlet", "stokes table\n")
    update_doc(doc, "heat-neumann", "table v2\n")
    text = doc.read_text(encoding="utf-8")
    assert text.startswith("# Results\n\nintro\n")
    assert "table v2" in text and "table v1" not in text and "stokes table" in text
    assert text.count("<!-- boon-study:heat-neumann:start -->") == 1


def test_study_cli_end_to_end_and_resume(tmp_path: Path) -> None:
    out, doc = tmp_path / "study", tmp_path / "boon.md"
    args = ["boon", "study", "stokes-dirichlet", "--seeds", "2", "--profile", "smoke"]
    args += ["--out", str(out), "--no-progress", "--doc", str(doc), "--set", "train.epochs=1"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    study = json.loads((out / "study.json").read_text())
    assert study["seeds"] == [0, 1]
    models = study["models"]
    assert set(models) == set(STUDY_MODELS)
    for m in models.values():
        assert set(m) == {"ID", "OOD", "2N", "4N"}
        assert {"rel_l2", "rel_l2_near_boundary", "boundary_error"} <= set(m["ID"])
    # the aggregate is the mean over the seeds' own metrics.json, paired to fno_bc
    per = [json.loads((out / f"seed{s}" / "metrics.json").read_text()) for s in (0, 1)]
    want = (per[0]["boon"]["rel_l2_ood"] + per[1]["boon"]["rel_l2_ood"]) / 2
    assert models["boon"]["OOD"]["rel_l2"]["mean"] == pytest.approx(want, rel=1e-12)
    d = [p["boon"]["rel_l2_2x"] - p["fno_bc"]["rel_l2_2x"] for p in per]
    assert study["paired"]["boon"]["2N"]["rel_l2"]["mean"] == pytest.approx(sum(d) / 2)
    assert study["paired"]["boon"]["2N"]["rel_l2"]["se"] == pytest.approx(abs(d[0] - d[1]) / 2)
    # seeds differ (weights and data order), the data do not: seed 1 reuses seed 0's files
    assert per[0]["fno"]["rel_l2"] != per[1]["fno"]["rel_l2"]
    files = sorted(p.relative_to(out / "seed0") for p in (out / "seed0").glob("data/*/*.h5"))
    assert len(files) == 4  # data, data_2x, data_4x, data_ood
    for f in files:
        assert (out / "seed1" / f).read_bytes() == (out / "seed0" / f).read_bytes()
    table = (out / "study.md").read_text()
    assert "| boon |" in table and "Paired difference of rel. L2 to fno_bc" in table
    assert "<!-- boon-study:stokes-dirichlet:start -->" in doc.read_text()
    # re-running resumes every seed's run directory: nothing is retrained, same numbers
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    for s in (0, 1):
        details = json.loads((out / f"seed{s}" / "details.json").read_text())
        assert all(v == 1 for v in details["resumed_from"].values()), details["resumed_from"]
    assert json.loads((out / "study.json").read_text())["models"] == models


def test_study_cli_rejects_bad_input_before_work(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        main,
        ["boon", "study", "heat-neumann", "--seeds", "0", "--profile", "smoke", "--out",
         str(tmp_path / "x")],
    )  # fmt: skip
    assert res.exit_code == 2 and "--seeds" in res.output
    res = CliRunner().invoke(
        main,
        ["boon", "study", "heat-neumann", "--profile", "smoke", "--out", str(tmp_path / "y"),
         "--set", "soft_weights=[-1.0]"],
    )  # fmt: skip
    assert res.exit_code == 2 and "soft_weights" in res.output
    assert not (tmp_path / "y").exists()


def test_a_star_needs_a_nonzero_difference_of_at_least_two_standard_errors() -> None:
    from pcml.experiments.boon.study import significant

    assert significant({"mean": -0.03, "se": 0.01})
    assert not significant({"mean": 0.019, "se": 0.01})
    assert not significant({"mean": 0.0, "se": 0.0})  # identical models (periodic fno vs fno_bc)
    assert not significant({"mean": 0.1, "se": None}) and not significant(None)


def test_study_retrain_trains_only_the_named_model_and_keeps_the_others(tmp_path: Path) -> None:
    """``--retrain boon_extension`` (the partial re-run after that model's code changed): in
    every existing seed directory only boon_extension trains again (its old checkpoint kept as
    *.replaced-*); every other model resumes from its finished checkpoint with identical
    metrics; the doc is rebuilt from all of them with the plain (reproducing) command."""
    out, doc = tmp_path / "study", tmp_path / "boon.md"
    args = ["boon", "study", "stokes-dirichlet", "--seeds", "2", "--profile", "smoke"]
    args += ["--out", str(out), "--no-progress", "--set", "train.epochs=1"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    before = {s: json.loads((out / f"seed{s}" / "metrics.json").read_text()) for s in (0, 1)}
    ckpts = {
        s: {p.name: p.read_bytes() for p in (out / f"seed{s}" / "checkpoints").glob("*.pt")}
        for s in (0, 1)
    }
    res = CliRunner().invoke(main, [*args, "--retrain", "boon_extension", "--doc", str(doc)])
    assert res.exit_code == 0, res.output
    for s in (0, 1):
        seed_dir = out / f"seed{s}"
        details = json.loads((seed_dir / "details.json").read_text())
        assert details["resumed_from"]["boon_extension"] == 0  # trained from scratch
        assert all(v == 1 for k, v in details["resumed_from"].items() if k != "boon_extension")
        aside = list((seed_dir / "checkpoints").glob("boon_extension-last.pt.replaced-*"))
        assert len(aside) == 1 and aside[0].read_bytes() == ckpts[s]["boon_extension-last.pt"]
        for name, data in ckpts[s].items():  # the other models' checkpoints are untouched
            if not name.startswith("boon_extension"):
                assert (seed_dir / "checkpoints" / name).read_bytes() == data
        after = json.loads((seed_dir / "metrics.json").read_text())
        assert set(after) == set(before[s])
        for m in after:  # same code, same seed: even the retrained model reproduces its numbers
            assert after[m] == before[s][m], m
        assert "--retrain" not in (seed_dir / "command.txt").read_text()
    text = doc.read_text()
    assert "| boon_extension |" in text and "| fno_bc |" in text and "--retrain" not in text


def test_study_retrain_refuses_a_changed_config_before_moving_anything(tmp_path: Path) -> None:
    out = tmp_path / "study"
    args = ["boon", "study", "stokes-dirichlet", "--seeds", "1", "--profile", "smoke"]
    args += ["--out", str(out), "--no-progress", "--set", "train.epochs=1"]
    assert CliRunner().invoke(main, args).exit_code == 0
    ckpt = out / "seed0" / "checkpoints" / "boon_extension-last.pt"
    data = ckpt.read_bytes()
    # a changed model config (boon.eps) is a different run: refused, nothing moved or retrained
    res = CliRunner().invoke(main, [*args, "--set", "boon.eps=0.5", "--retrain", "boon_extension"])
    assert res.exit_code != 0 and "different config" in res.output, res.output
    assert ckpt.read_bytes() == data
    assert not list(ckpt.parent.glob("*.replaced-*"))
    # an unknown model name: exit 2 before any work
    bad = CliRunner().invoke(main, [*args, "--retrain", "boon_extension,nope"])
    assert bad.exit_code == 2 and "--retrain" in bad.output


def test_the_2d_quick_study_profile_is_smaller_but_keeps_every_model_and_split() -> None:
    """The 2-D quick study (STUDY_PROFILES, data): fewer trajectories and epochs than the 2-D
    quick profile, the same grid and architecture, every study model, OOD lid data and 2N;
    the user's --set overrides still come last."""
    from pcml.experiments.boon.config import STUDY_PROFILES, make_config, study_profile
    from pcml.experiments.boon.study import study_config

    base = make_config("cavity", "quick", True)
    cfg = study_config("cavity", "quick", 2)
    assert cfg.models == STUDY_MODELS and cfg.seed == cfg.train.seed == 2
    assert cfg.data.boundary_data == "varied" and cfg.data.eval_2x and not cfg.data.eval_4x
    assert (cfg.data.n_train, cfg.data.n_val, cfg.data.n_test) == (50, 10, 20)
    assert cfg.data.n_train < base.data.n_train and cfg.train.epochs < base.train.epochs
    assert cfg.model == base.model and cfg.data.n_x == base.data.n_x and cfg.boon == base.boon
    assert study_config("cavity", "quick", 0, overrides=["train.epochs=3"]).train.epochs == 3
    # the wave's own entry: the 2-D quick sizes with batch 2 (chosen on validation), and 4N —
    # no boundary parameters, so no OOD split; its hard splits are 2N and 4N
    wave = study_config("wave2d", "quick", 0)
    assert study_profile("wave2d", "quick") is STUDY_PROFILES["wave2d", "quick"]
    assert study_profile("cavity", "quick") is STUDY_PROFILES["2d", "quick"]
    assert wave.data.boundary_data == "fixed" and wave.data.eval_4x
    assert (wave.data.n_train, wave.data.n_val, wave.data.n_test) == (100, 10, 20)
    assert wave.train.epochs == base.train.epochs and wave.train.batch_size == 2
    assert wave.model == make_config("wave2d", "quick", True).model
    with pytest.raises(ValueError, match=r"profile must be one of .*'nope'"):
        study_profile("wave2d", "nope")
    # the 1-D studies keep their profile's sizes
    assert STUDY_PROFILES["1d", "quick"].sets == ()
    heat = study_config("heat-neumann", "quick", 0)
    assert heat.data.n_train == make_config("heat-neumann", "quick").data.n_train
    assert heat.soft_weights == STUDY_PROFILES["1d", "quick"].soft_weights
    # periodic: the open-grid FNOs' seam penalty is identically 0, every weight is the same model
    assert study_config("burgers-periodic", "quick", 0).soft_weights == (1.0,)


def test_study_collect_reads_finished_seeds_only_after_checking_them(tmp_path: Path) -> None:
    """``--collect`` (seeds run side by side): the same study.json as the study itself, without
    training or evaluating; a seed directory of another config, a checkpoint newer than
    metrics.json or an unfinished training is refused, naming the seed."""
    out = tmp_path / "study"
    args = ["boon", "study", "stokes-dirichlet", "--seeds", "2", "--profile", "smoke"]
    args += ["--out", str(out), "--no-progress", "--set", "train.epochs=1"]
    assert CliRunner().invoke(main, args).exit_code == 0
    want = json.loads((out / "study.json").read_text())
    (out / "study.json").unlink()
    res = CliRunner().invoke(main, [*args, "--collect"])
    assert res.exit_code == 0, res.output
    got = json.loads((out / "study.json").read_text())
    assert got["models"] == want["models"] and got["paired"] == want["paired"]
    assert "--collect" not in got["command"]
    bad = CliRunner().invoke(main, [*args, "--collect", "--set", "boon.eps=0.5"])
    assert bad.exit_code != 0 and "not this study's config" in str(bad.exception)
    longer = CliRunner().invoke(main, [*args[:-1], "train.epochs=2", "--collect"])
    assert longer.exit_code != 0 and "not this study's config" in str(longer.exception)
    ckpt = out / "seed1" / "checkpoints" / "boon-last.pt"
    ckpt.touch()  # written after metrics.json: metrics.json is not from this training
    newer = CliRunner().invoke(main, [*args, "--collect"])
    assert newer.exit_code != 0 and "seed1" in str(newer.exception)
    assert "newer than metrics.json" in str(newer.exception)
