"""Adversarial configs through the Python API: a resolved config with a nonsense numeric value
raises ``ConfigRangeError`` (a ``ValueError``) naming the dotted key, the value and the allowed
range (issue 17). Imports are inside the tests so that each case fails on its own on code that
lacks the checks."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import pytest


def _boon(**changes):
    from pcml.experiments.boon.config import default_config

    return dataclasses.replace(default_config("heat-neumann", "smoke"), **changes)


def test_validate_config_rejects_modes_beyond_the_grid() -> None:
    from pcml.experiments.config import ConfigRangeError
    from pcml.experiments.config_bounds import validate_config

    cfg = _boon()
    bad = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, n_modes=(1000,)))
    with pytest.raises(ConfigRangeError, match=r"model\.n_modes\[0\].*1000") as info:
        validate_config(bad)
    assert info.value.key == "model.n_modes[0]" and info.value.value == 1000


@pytest.mark.parametrize("lr", [1e6, 1.5, math.inf])
def test_validate_config_rejects_a_huge_learning_rate(lr: float) -> None:
    from pcml.experiments.config import ConfigRangeError
    from pcml.experiments.config_bounds import validate_config

    cfg = _boon()
    train = dataclasses.replace(cfg.train, lr=1e-3)
    object.__setattr__(train, "lr", lr)  # past TrainConfig's own finite > 0 check
    with pytest.raises(ConfigRangeError, match=r"'train\.lr'.*allowed a number in \(0, 1\]"):
        validate_config(dataclasses.replace(cfg, train=train))


def test_validate_config_rejects_a_seed_torch_cannot_take() -> None:
    from pcml.experiments.config import ConfigRangeError
    from pcml.experiments.config_bounds import validate_config

    with pytest.raises(ConfigRangeError, match=r"'seed' = 18446744073709551616"):
        validate_config(_boon(seed=2**64))
    with pytest.raises(ConfigRangeError, match=r"'seed' = -1"):
        validate_config(_boon(seed=-1))


def test_validate_config_probconserv_nested_key_is_named() -> None:
    from pcml.experiments.config import ConfigRangeError
    from pcml.experiments.config_bounds import validate_config
    from pcml.experiments.probconserv_config import make_config

    cfg = make_config("pme", "smoke", overrides=["anp.dropout=1.0"])
    with pytest.raises(ConfigRangeError, match=r"'anp\.dropout' = 1\.0.*\[0, 1\)"):
        validate_config(cfg)


def test_check_bounds_refuses_a_numeric_field_without_a_bound() -> None:
    from pcml.experiments.config import Bound, check_bounds

    @dataclass(frozen=True)
    class Inner:
        width: int = 3

    @dataclass(frozen=True)
    class Outer:
        lr: float = 0.1
        inner: Inner = field(default_factory=Inner)

    with pytest.raises(KeyError, match=r"inner\.width"):
        check_bounds(Outer(), {"lr": Bound(0, 1)})
    check_bounds(Outer(), {"lr": Bound(0, 1), "inner.width": Bound(1, 10, integer=True)})


def test_check_bounds_rejects_nan_and_non_integers() -> None:
    from pcml.experiments.config import Bound, ConfigRangeError, check_bounds

    @dataclass(frozen=True)
    class C:
        x: float = math.nan
        n: tuple[float, ...] = (1.0,)

    with pytest.raises(ConfigRangeError, match=r"'x' = nan"):
        check_bounds(C(), {"x": Bound(), "n": Bound()})
    with pytest.raises(ConfigRangeError, match=r"'n' = \(1\.0,\).*an integer"):
        check_bounds(C(x=0.0), {"x": Bound(), "n": Bound(0, 5, integer=True)})


def test_bound_ends_open_and_closed() -> None:
    from pcml.experiments.config import Bound

    b = Bound(0.0, 1.0, lo_open=True)
    assert not b.contains(0.0) and b.contains(1.0) and b.contains(5e-324)
    assert not b.contains(math.nextafter(1.0, 2.0))
    assert b.describe() == "a number in (0, 1]"
    assert Bound(0, 10, hi_open=True, integer=True).describe() == "an integer in [0, 10)"
