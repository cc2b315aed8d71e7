"""Adversarial checkpoints and checkpoint folders (#17): errors name the file, never a raw torch
traceback or a ``weights_only=False`` hint; NaN weights never become NaN metrics."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from pcml.train import CheckpointError, TrainConfig, fit, load_checkpoint, save_checkpoint

CFG = TrainConfig(epochs=2, batch_size=4, lr=1e-2, device="cpu")


class _Data(Dataset):
    def __init__(self) -> None:
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(8, 3, generator=g)

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {"x": self.x[i], "y": self.x[i].sum(0, keepdim=True)}


def _loss(model: nn.Module, batch: dict[str, Tensor]) -> Tensor:
    return ((model(batch["x"]) - batch["y"]) ** 2).mean()


def _fit(run_dir: Path, **kw: object):  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    return model, fit(model, _loss, _Data(), _Data(), CFG, run_dir, "m", progress=False, **kw)


def _last(run_dir: Path) -> Path:
    return run_dir / "checkpoints" / "m-last.pt"


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage", "not_a_dict"])
def test_damaged_last_checkpoint_on_resume_names_file_and_how_to_retrain(
    tmp_path: Path, damage: str
) -> None:
    _fit(tmp_path)
    path = _last(tmp_path)
    blob = path.read_bytes()
    if damage == "empty":
        path.write_bytes(b"")
    elif damage == "truncated":
        path.write_bytes(blob[: len(blob) // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x80\x04junk" * 50)
    else:
        torch.save([1, 2, 3], path)
    with pytest.raises(
        CheckpointError, match=r"m-last\.pt: .*move it aside \(mv .*m-last\.pt"
    ) as e:
        _fit(tmp_path)
    assert "weights_only=False" not in str(e.value) and e.value.path == path


def test_move_aside_retrains_the_stage_from_scratch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref_model, _ = _fit(tmp_path / "ref")
    _fit(tmp_path / "run")
    _last(tmp_path / "run").write_bytes(b"not a checkpoint")
    model, res = _fit(tmp_path / "run", on_corrupt="move_aside")
    assert res.resumed_from == 0 and res.epochs == CFG.epochs
    assert torch.equal(model.weight, ref_model.weight)
    moved = list((tmp_path / "run" / "checkpoints").glob("m-last.pt.corrupt-*"))
    assert len(moved) == 1 and moved[0].read_bytes() == b"not a checkpoint"
    assert "moved to" in capsys.readouterr().err


def test_bad_on_corrupt_value_names_the_argument(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"on_corrupt: got 'delete'"):
        _fit(tmp_path, on_corrupt="delete")


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_finished_run_with_non_finite_weights_is_refused_naming_file_and_parameter(
    tmp_path: Path, value: float
) -> None:
    _fit(tmp_path)
    ckpt = load_checkpoint(_last(tmp_path))
    ckpt["state_dict"]["weight"][0, 1] = value
    save_checkpoint(_last(tmp_path), ckpt)
    with pytest.raises(CheckpointError, match=r"m-last\.pt: state_dict\['weight'\] \(1 of 3"):
        _fit(tmp_path)


def test_weights_of_another_shape_name_the_file(tmp_path: Path) -> None:
    _fit(tmp_path)
    ckpt = load_checkpoint(_last(tmp_path))
    ckpt["state_dict"]["weight"] = torch.zeros(1, 5)
    save_checkpoint(_last(tmp_path), ckpt)
    with pytest.raises(CheckpointError, match=r"m-last\.pt: its weights do not fit the model"):
        _fit(tmp_path)


def test_checkpoint_missing_resume_state_names_the_file(tmp_path: Path) -> None:
    _fit(tmp_path)
    ckpt = load_checkpoint(_last(tmp_path))
    del ckpt["optimizer"]
    save_checkpoint(_last(tmp_path), ckpt)
    with pytest.raises(
        CheckpointError, match=r"m-last\.pt: cannot resume: it lacks \['optimizer'\]"
    ):
        _fit(tmp_path)


@pytest.mark.parametrize("folder", ["checkpoints", "logs"])
def test_training_does_not_write_through_a_linked_folder_leaving_the_run(
    tmp_path: Path, folder: str
) -> None:
    run_dir, outside = tmp_path / "run", tmp_path / "outside"
    run_dir.mkdir()
    outside.mkdir()
    (run_dir / folder).symlink_to(outside)
    with pytest.raises(ValueError, match=rf"folder .*run/{folder} leads outside .*outside"):
        _fit(run_dir)
    assert list(outside.iterdir()) == []


def test_linked_checkpoint_file_leaving_the_run_is_not_read(tmp_path: Path) -> None:
    _fit(tmp_path / "other")
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    _last(run_dir).symlink_to(_last(tmp_path / "other"))
    with pytest.raises(ValueError, match=r"checkpoint .*m-last\.pt leads outside"):
        _fit(run_dir)


def test_pickled_payload_is_refused_without_torch_advice(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"format_version": 1, "obj": nn.Linear(1, 1)}, path)
    with pytest.raises(CheckpointError, match=r"evil\.pt: not a readable pcml checkpoint") as e:
        load_checkpoint(path)
    assert "weights_only" not in str(e.value)
