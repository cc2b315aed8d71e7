"""``pcml opc summarize`` sections (paired changes, verdicts, checks) and ``--doc``; the
Stefan-vs-ANP comparison (``pcml opc anp-compare``) on smoke runs and synthetic references."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from pcml.cli import main
from pcml.experiments.opc.anp_compare import (
    anp_reference,
    anp_references,
    anp_setting_metrics,
    format_anp_comparison,
)
from pcml.experiments.opc.config import make_config
from pcml.experiments.opc.run import run
from pcml.experiments.opc.summary import Stat, summarize, summarize_groups, update_doc

SPLITS = ("test", "small", "medium", "large")


def _row(mse: float, ce_rel: float = 0.1) -> dict[str, float]:
    return {
        "mse": mse, "mse_se": 0.0, "nll": 1.0, "crps": mse / 2, "piw": 1.0, "coverage": 0.9,
        "rmsce": 0.1, "nmerci": 0.5, "ce": 0.0, "ce_rel": ce_rel,
    }  # fmt: skip


def _fake_run(path: Path, seed: int, after: dict[str, float], ce_after: float = 1e-16) -> str:
    """A finished run: MSE 1 before the update for every method/split, ``after[method]``
    after it; the ensemble (M = 5) trains in 50 s, DiverseNO in ``12 + seed`` s."""
    path.mkdir(parents=True)
    methods = list(after)
    metrics = {
        s: {k: v for m in methods
            for k, v in ((m, _row(1.0)), (f"{m}+pc", _row(after[m], ce_after)))}
        for s in SPLITS
    }  # fmt: skip
    costs = {m: {"train_cpu_s": 10.0, "parameters": 7, "resumed_from": 0} for m in methods}
    costs["ensemble"]["train_cpu_s"] = 50.0
    if "diverse" in costs:
        costs["diverse"]["train_cpu_s"] = 12.0 + seed
    (path / "metrics.json").write_text(json.dumps(metrics))
    (path / "costs.json").write_text(json.dumps(costs))
    names = ", ".join(f'"{m}"' for m in methods)
    (path / "config.toml").write_text(
        f'problem = "pme"\nprofile = "quick"\nseed = {seed}\nmethods = [{names}]\n'
        "[uq]\nn_members = 5\n"
    )
    return str(path)


def test_paired_changes_verdicts_and_checks(tmp_path: Path) -> None:
    gains = ([0.8, 0.7, 0.9], [0.9, 1.1, 1.0], [1.3, 1.2, 1.4])  # ensemble, diverse, meanvar
    runs = [
        _fake_run(tmp_path / f"s{i}", i, {"ensemble": e, "diverse": d, "meanvar": m})
        for i, (e, d, m) in enumerate(zip(*gains, strict=True))
    ]
    text = summarize(runs)
    # 1 − after/before = 0.2, 0.3, 0.1: mean 0.2, SE 0.1/√3 = 0.0577 → ★
    assert "ProbConserv improves the MSE of ensemble by +20.0 ± 5.8 % ★" in text
    assert "diverse (+0.0 ± 5.8 %, < 2 SE)" in text
    assert "meanvar (-30.0 ± 5.8 % ★, worse)" in text
    assert "Lowest MSE after the update: `ensemble` (0.8 ± 0.058)" in text
    assert "meets ≤ 1e-12" in text
    # one FNO = 50/5 = 10 s; DiverseNO 12, 13, 14 s → 1.3 ± 0.058 ≤ 1.5
    assert "DiverseNO 1.3 ± 0.058× one FNO (meets ≤ 1.5×)" in text
    assert "ensemble 5 ± 0× (M = 5)" in text
    assert "DiverseNO − ensemble" in text and "below the issue's floor" not in text

    bad = [
        _fake_run(tmp_path / f"b{i}", i, {"ensemble": 0.5, "diverse": 0.5}, ce_after=1e-10)
        for i in range(2)
    ]
    text = summarize(bad)
    assert "**fails** ≤ 1e-12" in text and "below the issue's floor of 3" in text


def test_stat() -> None:
    s = Stat.of([1.0, 2.0, 3.0, None, math.nan])
    assert s.n == 3 and s.mean == 2.0 and math.isclose(s.se, 1 / math.sqrt(3))
    assert s.significant and Stat.of([1.0]).fmt() == "1" and Stat.of([]).fmt() == "–"
    assert not Stat.of([0.0, 0.0]).significant and not Stat.of([-1.0, 1.0]).significant


def test_update_doc_replaces_only_its_section(tmp_path: Path) -> None:
    doc = tmp_path / "opc.md"
    doc.write_text("# Title\n\nhand-written text\n")
    update_doc(doc, "pme", "## pme v1\n")
    update_doc(doc, "stefan", "## stefan v1\n")
    update_doc(doc, "pme", "## pme v2\n")
    text = doc.read_text()
    assert text.startswith("# Title\n\nhand-written text\n")
    assert "pme v1" not in text and text.count("pme v2") == 1 and "stefan v1" in text
    assert text.index("opc:pme:start") < text.index("opc:stefan:start")
    before = doc.read_text()
    update_doc(doc, "pme", "## pme v2\n")
    assert doc.read_text() == before


def test_grouping_and_bad_input(tmp_path: Path) -> None:
    a = _fake_run(tmp_path / "a", 0, {"ensemble": 0.5, "diverse": 0.5})
    b = _fake_run(tmp_path / "b", 1, {"ensemble": 0.5, "diverse": 0.5})
    assert list(summarize_groups([a, b])) == ["pme"]
    with pytest.raises(ValueError, match="distinct seeds"):
        summarize_groups([a, a])
    c = _fake_run(tmp_path / "c", 2, {"ensemble": 0.5, "meanvar": 0.5})
    with pytest.raises(ValueError, match="method lists"):
        summarize_groups([a, c])
    with pytest.raises(ValueError, match=r"metrics\.json"):
        summarize_groups([tmp_path])


def test_cli_doc_on_smoke_runs(tmp_path: Path) -> None:
    methods = 'methods=["ensemble", "diverse", "diverse_e2e"]'
    dirs = []
    for problem in ("advection", "stefan"):
        for seed in (0, 1, 2):
            cfg = make_config(problem, "smoke", overrides=[methods, f"seed={seed}"])
            out = tmp_path / f"{problem}-s{seed}"
            run(cfg, out, progress=False, figures=False, log=lambda s: None)
            dirs.append(str(out))
    doc = tmp_path / "opc.md"
    doc.write_text("# Operator-ProbConserv\n\nkept\n")
    res = CliRunner().invoke(main, ["opc", "summarize", *dirs, "--doc", str(doc)])
    assert res.exit_code == 0, res.output
    text = doc.read_text()
    assert text.startswith("# Operator-ProbConserv\n\nkept\n")
    for problem in ("advection", "stefan"):
        section = text.split(f"<!-- opc:{problem}:start -->")[1].split(f"<!-- opc:{problem}:end")[0]
        assert f"## {problem}, profile smoke, seeds [0, 1, 2]" in section
        assert "meets ≤ 1e-12" in section and "**OOD large**" in section
        assert "| diverse_e2e |" in section and "1 − MSE_e2e/MSE_post-hoc" in section
    again = CliRunner().invoke(main, ["opc", "summarize", *dirs, "--doc", str(doc)])
    assert again.exit_code == 0 and doc.read_text() == text  # regenerating is idempotent


def test_anp_comparison_on_a_smoke_run(tmp_path: Path) -> None:
    cfg = make_config("stefan_anp", "smoke", overrides=['methods=["meanvar", "diverse"]'])
    out = tmp_path / "s0"
    run(cfg, out, progress=False, figures=False, log=lambda s: None)
    res = anp_setting_metrics(out, n_functions=3)
    assert list(res) == ["0.5", "0.6"]
    for rows in res.values():
        assert list(rows) == ["meanvar", "meanvar+pc", "diverse", "diverse+pc"]
        for name, m in rows.items():
            assert m["mse"] > 0 and m["mse_se"] < 1e-9  # deterministic: the copies agree
            if name.endswith("+pc"):
                assert abs(m["ce"]) < 1e-12  # the mass at t* is exact after the update
            else:
                assert abs(m["ce"]) > 1e-6
    with pytest.raises(ValueError, match="t_star"):
        anp_setting_metrics(out, t_star=0.055)
    ref = _fake_anp(tmp_path / "anp")
    doc = tmp_path / "opc.md"
    res_cli = CliRunner().invoke(
        main, ["opc", "anp-compare", str(out), "--anp", str(ref), "--doc", str(doc)]
    )
    assert res_cli.exit_code == 0, res_cli.output
    assert "| FNO meanvar |" in res_cli.output and "Verdict (u* = 0.6" in res_cli.output
    assert "<!-- opc:stefan-vs-anp:start -->" in doc.read_text()
    ref2 = _fake_anp(tmp_path / "anp2", seed=1, pc_mse=1e-2)
    two = CliRunner().invoke(main, ["opc", "anp-compare", str(out), "--anp", str(ref),
                                    "--anp", str(ref2)])  # fmt: skip
    assert two.exit_code == 0, two.output
    assert "| quick probconserv_anp (2 seeds) |" in two.output
    assert f"--anp {ref} --anp {ref2}" in two.output  # the command as run
    bad = CliRunner().invoke(main, ["opc", "anp-compare", str(out), "--anp", str(tmp_path)])
    assert bad.exit_code == 2 and "--anp" in bad.output
    one = anp_setting_metrics(out, n_functions=2, methods=["diverse"])
    assert list(one["0.6"]) == ["diverse", "diverse+pc"]
    with pytest.raises(ValueError, match="methods"):
        anp_setting_metrics(out, methods=["ensemble"])
    # a method whose training did not finish is refused, whatever its best checkpoint holds
    import torch

    last = out / "checkpoints" / "diverse-last.pt"
    ckpt = torch.load(last, weights_only=True)
    ckpt["epoch"] = 0
    torch.save(ckpt, last)
    with pytest.raises(ValueError, match="not finished"):
        anp_setting_metrics(out, methods=["diverse"])
    other = tmp_path / "other"
    (other / "checkpoints").mkdir(parents=True)
    cfg2 = make_config("stefan_anp", "smoke", overrides=["data.n_train=9"])
    (other / "config.toml").write_text((out / "config.toml").read_text().replace(
        "n_train = 8", "n_train = 9"))  # fmt: skip
    assert cfg2.data.n_train == 9
    for f in (out / "checkpoints").iterdir():
        (other / "checkpoints" / f.name).write_bytes(f.read_bytes())
    with pytest.raises(ValueError, match="data_hash"):
        anp_setting_metrics(other)


def _fake_anp(ref_dir: Path, seed: int = 0, pc_mse: float = 9e-3, n_test: int = 50) -> Path:
    """A finished ProbConserv Stefan run (metrics.json, config.toml) with known ANP rows."""
    ref_dir.mkdir()
    (ref_dir / "config.toml").write_text(
        f'problem = "stefan"\nseed = {seed}\n[problem_settings]\nt_star = 0.05\n'
        f"test_values = [0.5, 0.6]\n[data]\nn_test_per_value = {n_test}\n"
    )
    rows = {"anp": {"mse": 8e-3, "mse_se": 1e-5, "crps": 0.03},
            "probconserv_anp": {"mse": pc_mse, "mse_se": 1e-5, "crps": 0.03},
            "ensemble": {"mse": 1.0}}  # fmt: skip
    (ref_dir / "metrics.json").write_text(json.dumps({"0.5": rows, "0.6": rows}))
    return ref_dir


def _op_seed(after: float) -> dict:
    """One operator seed's anp_setting_metrics: meanvar, MSE 0.01 before and ``after`` after."""
    r = {"mse": 0.01, "mse_se": 0.0, "crps": 0.02, "ce": 0.0}
    pc = {"mse": after, "mse_se": 0.0, "crps": 0.02, "ce": 0.0}
    return {v: {"meanvar": r, "meanvar+pc": pc} for v in ("0.5", "0.6")}


def test_anp_reference_and_verdict(tmp_path: Path) -> None:
    ref_dir = _fake_anp(tmp_path / "anp")
    ref = anp_reference(ref_dir)
    assert list(ref["0.6"]) == ["anp", "probconserv_anp"]

    text = format_anp_comparison([_op_seed(4e-3), _op_seed(5e-3), _op_seed(6e-3)], ref)
    assert "(`meanvar`, MSE 0.005 ± 0.00058) beats the quick ANP + ProbConserv (0.009)" in text
    assert "ratio 0.56 ★" in text
    text = format_anp_comparison([_op_seed(2e-2), _op_seed(3e-2)], ref)
    assert "does not beat" in text
    (ref_dir / "config.toml").write_text('problem = "stefan"\n[problem_settings]\nt_star = 0.1\n')
    with pytest.raises(ValueError, match=r"t\* = 0\.1"):
        anp_reference(ref_dir)


def test_several_anp_seeds_give_mean_and_se_and_a_combined_verdict(tmp_path: Path) -> None:
    """``--anp`` repeated: the ANP rows become mean ± SE over the ANP seeds and the verdict's
    ★ needs the gap to exceed 2 √(SE_operator² + SE_ANP²); runs on other test functions or with
    the same seed are refused, naming the run."""
    refs = [_fake_anp(tmp_path / f"a{s}", s, pc) for s, pc in ((0, 8e-3), (1, 9e-3), (2, 1e-2))]
    ref = anp_references(refs)

    text = format_anp_comparison([_op_seed(4e-3), _op_seed(5e-3), _op_seed(6e-3)], ref)
    assert "| quick probconserv_anp (3 seeds) | – | 0.009 ± 0.00058 | 0.03 ± 0 |" in text
    # gap 0.004 > 2 √(0.00058² + 0.00058²) = 0.0016: ★
    assert "(0.009 ± 0.00058, 3 seeds): ratio 0.56 ★" in text
    text = format_anp_comparison([_op_seed(7e-3), _op_seed(8e-3), _op_seed(9e-3)], ref)
    # gap 0.001 < 0.0016 (it would be ★ against 2 · 0.00058 of the operator seeds alone)
    assert "beats the quick ANP + ProbConserv (0.009 ± 0.00058, 3 seeds): ratio 0.89 (" in text
    with pytest.raises(ValueError, match="a9 scores other test functions"):
        anp_references([refs[0], _fake_anp(tmp_path / "a9", 9, n_test=20)])
    with pytest.raises(ValueError, match="same seed 1"):
        anp_references([refs[1], _fake_anp(tmp_path / "b1", 1)])
