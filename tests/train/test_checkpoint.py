"""Checkpoint files: plain data (weights_only loads), atomic writes, clear errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from torch import nn

from pcml import __version__
from pcml.train import FORMAT_VERSION, atomic_open, atomic_write, load_checkpoint, save_checkpoint
from pcml.train.checkpoint import clone_state, qualified_name


def _payload(model: nn.Module) -> dict:
    opt = torch.optim.Adam(model.parameters())
    model(torch.randn(3, 2)).sum().backward()
    opt.step()
    return {
        "model": qualified_name(model),
        "config": {"train": {"lr": 1e-3, "shape": (2, 3)}, "model": None},
        "state_dict": model.state_dict(),
        "optimizer": opt.state_dict(),
        "epoch": 3,
        "rng": {"torch": torch.get_rng_state()},
        "metrics": {"loss": 0.5},
        "history": [{"epoch": 1, "loss": 1.0}],
    }


def test_round_trip_is_plain_data(tmp_path: Path) -> None:
    model = nn.Linear(2, 1)
    path = save_checkpoint(tmp_path / "a" / "m.pt", _payload(model))
    raw = torch.load(path, weights_only=True)  # would raise on any pickled class
    assert raw["format_version"] == FORMAT_VERSION and raw["pcml_version"] == __version__
    ckpt = load_checkpoint(path)
    assert ckpt["model"] == "torch.nn.modules.linear.Linear" and ckpt["epoch"] == 3
    assert ckpt["config"]["train"]["shape"] == (2, 3)
    other = nn.Linear(2, 1)
    other.load_state_dict(ckpt["state_dict"])
    assert all(
        torch.equal(a, b) for a, b in zip(model.parameters(), other.parameters(), strict=True)
    )
    opt = torch.optim.Adam(other.parameters())
    opt.load_state_dict(ckpt["optimizer"])
    assert [f.name for f in tmp_path.joinpath("a").iterdir()] == ["m.pt"]  # no temp files left


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    torch.save({"state_dict": {}}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="not a pcml checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    path = save_checkpoint(tmp_path / "new.pt", {**_payload(nn.Linear(2, 1))})
    data = torch.load(path, weights_only=True)
    torch.save({**data, "format_version": FORMAT_VERSION + 1}, path)
    with pytest.raises(ValueError, match="newer"):
        load_checkpoint(path)
    with pytest.raises(ValueError, match="required keys"):
        save_checkpoint(tmp_path / "x.pt", {"model": "m"})


def test_pickled_objects_are_refused(tmp_path: Path) -> None:
    """A checkpoint holding an arbitrary object (here a module) cannot be loaded."""
    path = tmp_path / "evil.pt"
    payload = {**_payload(nn.Linear(2, 1)), "extra": nn.Linear(1, 1)}
    save_checkpoint(path, payload)
    with pytest.raises(Exception, match=r"[Ww]eights only load failed"):
        load_checkpoint(path)


def test_failed_write_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = atomic_write(tmp_path / "f.txt", "old")
    with pytest.raises(RuntimeError), atomic_open(path, "w") as fh:
        fh.write("half of the new")
        raise RuntimeError("crash while writing")
    assert path.read_text() == "old"

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk gone"):
        atomic_write(path, b"new")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]


def test_atomic_open_rejects_other_modes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode"), atomic_open(tmp_path / "f", "a"):
        pass


def test_clone_state_is_independent_of_live_parameters() -> None:
    model = nn.Linear(2, 2)
    snap = clone_state({"sd": model.state_dict(), "list": [model.weight], "t": (1, "a")})
    with torch.no_grad():
        model.weight.add_(1.0)
    assert not torch.equal(snap["sd"]["weight"], model.weight)
    assert not snap["list"][0].requires_grad and snap["t"] == (1, "a")
