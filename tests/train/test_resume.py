"""What is a run's identity on resume (#17): device, num_workers, checkpoint_every and a longer
``epochs`` are not; training longer in place reaches the weights of an uninterrupted run."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from test_loop import CFG, assert_same_run, one_thread, run

from pcml.train import RESUME_FREE, TrainConfig


def test_resume_free_settings_are_the_documented_ones() -> None:
    assert set(RESUME_FREE) == {"device", "num_workers", "checkpoint_every"}
    assert set(RESUME_FREE) <= {f.name for f in dataclasses.fields(TrainConfig)}


def test_training_longer_in_place_gives_the_uninterrupted_run(tmp_path: Path) -> None:
    short = dataclasses.replace(CFG, epochs=4)
    with one_thread():
        run(tmp_path / "a", short)
        model, res = run(tmp_path / "a", CFG)
        fresh, ref = run(tmp_path / "b", CFG)
    assert res.resumed_from == 4 and res.epochs == CFG.epochs
    assert_same_run(model, res.history, fresh, ref.history)


@pytest.mark.parametrize(
    "change", [{"device": "cpu"}, {"num_workers": 1}, {"checkpoint_every": 3}], ids=str
)
def test_settings_that_cannot_change_the_weights_resume(tmp_path: Path, change: dict) -> None:
    model, res = run(tmp_path)
    again_model, again = run(tmp_path, dataclasses.replace(CFG, **change))
    assert again.resumed_from == CFG.epochs  # the finished run, not a refusal or a retrain
    assert_same_run(model, res.history, again_model, again.history)


def test_fewer_epochs_or_another_seed_are_another_run(tmp_path: Path) -> None:
    run(tmp_path)
    with pytest.raises(ValueError, match=r"toy-last\.pt.*differs in \['epochs'\]"):
        run(tmp_path, dataclasses.replace(CFG, epochs=CFG.epochs - 1))
    with pytest.raises(ValueError, match=r"differs in \['seed'\]"):
        run(tmp_path, dataclasses.replace(CFG, seed=CFG.seed + 1, device="cpu"))
