"""Checkpoint files: plain data (weights_only loads), atomic writes, clear errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from torch import nn

from pcml import __version__
from pcml.train import FORMAT_VERSION, atomic_open, atomic_write, load_checkpoint, save_checkpoint
from pcml.train.checkpoint import (
    CheckpointError,
    check_inside,
    clone_state,
    move_aside,
    qualified_name,
)


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
    with pytest.raises(CheckpointError, match=r"evil\.pt: not a readable pcml checkpoint") as err:
        load_checkpoint(path)
    assert "weights_only=False" not in str(err.value) and err.value.__cause__ is None


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


@pytest.mark.parametrize("cut", [0.0, 0.3, 0.9, 0.999])
def test_truncated_checkpoint_names_the_file(tmp_path: Path, cut: float) -> None:
    path = save_checkpoint(tmp_path / "m.pt", _payload(nn.Linear(2, 1)))
    blob = path.read_bytes()
    path.write_bytes(blob[: int(len(blob) * cut)])
    with pytest.raises(CheckpointError, match=r"m\.pt: not a readable pcml checkpoint") as err:
        load_checkpoint(path)
    assert err.value.path == path and "weights_only=False" not in str(err.value)


def test_flipped_bytes_never_pass_silently_into_weights(tmp_path: Path) -> None:
    """A flipped byte in the zip: CheckpointError, or weights that still load (torch's zip
    stores CRC-32s, so flips in tensor data are caught)."""
    model = nn.Linear(2, 1)
    path = save_checkpoint(tmp_path / "m.pt", _payload(model))
    blob = path.read_bytes()
    for offset in range(0, len(blob), max(1, len(blob) // 97)):
        bad = bytearray(blob)
        bad[offset] ^= 0x04
        path.write_bytes(bytes(bad))
        try:
            ckpt = load_checkpoint(path)
        except CheckpointError:
            continue
        for k, v in model.state_dict().items():
            assert torch.equal(ckpt["state_dict"][k], v), (offset, k)


def test_non_finite_weights_are_refused_naming_file_and_parameter(tmp_path: Path) -> None:
    model = nn.Linear(2, 1)
    payload = _payload(model)
    payload["state_dict"] = {**payload["state_dict"], "bias": torch.tensor([float("nan")])}
    path = save_checkpoint(tmp_path / "nan.pt", payload)
    with pytest.raises(CheckpointError, match=r"nan\.pt: state_dict\['bias'\] \(1 of 1 values\)"):
        load_checkpoint(path)
    assert load_checkpoint(path, check_finite=False)["epoch"] == 3
    payload = _payload(model)
    state = payload["optimizer"]["state"][0]
    state["exp_avg_sq"] = torch.full_like(state["exp_avg_sq"], float("inf"))
    with pytest.raises(CheckpointError, match=r"inf\.pt: optimizer\['state'\]\[0\]"):
        load_checkpoint(save_checkpoint(tmp_path / "inf.pt", payload))


def test_move_aside_keeps_the_file_under_a_new_name(tmp_path: Path) -> None:
    path = atomic_write(tmp_path / "m.pt", b"junk")
    first, second = move_aside(path), move_aside(atomic_write(path, b"junk2"))
    assert not path.exists() and first.read_bytes() == b"junk" and second.read_bytes() == b"junk2"
    assert first.name.startswith("m.pt.corrupt-") and first != second


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_atomic_files_respect_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        path = atomic_write(tmp_path / f"f{umask}.txt", "x")
        ckpt = save_checkpoint(tmp_path / f"c{umask}.pt", _payload(nn.Linear(2, 1)))
    finally:
        os.umask(old)
    for p in (path, ckpt):
        assert p.stat().st_mode & 0o777 == 0o666 & ~umask, oct(p.stat().st_mode)


def test_check_inside_refuses_links_that_leave_the_folder(tmp_path: Path) -> None:
    root, outside = tmp_path / "run", tmp_path / "elsewhere"
    root.mkdir()
    outside.mkdir()
    (root / "inner").mkdir()
    (root / "ok").symlink_to(root / "inner")
    (root / "bad").symlink_to(outside)
    assert check_inside(root, root / "ok" / "x") == root / "ok" / "x"
    with pytest.raises(ValueError, match=r"run/bad leads outside .*run .*elsewhere"):
        check_inside(root, root / "bad")
    with pytest.raises(ValueError, match="leads outside"):
        check_inside(root, root / "inner" / ".." / ".." / "elsewhere")
