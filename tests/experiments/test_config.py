"""Config dataclasses ⇄ TOML: round trips (hypothesis), typed overrides, clear errors, hash."""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pcml.experiments.config import (
    config_hash,
    from_dict,
    load_config,
    parse_overrides,
    to_dict,
    to_toml,
)


@dataclass(frozen=True, slots=True)
class Inner:
    lr: float = 1e-3
    n_modes: tuple[int, ...] = (12,)
    name: str = "fno"
    clip: float | None = None
    flag: bool = False


@dataclass(frozen=True, slots=True)
class Deep:
    kind: Literal["a", "b"] = "a"
    pair: tuple[int, float] = (1, 2.0)
    note: str | None = "x"


@dataclass(frozen=True, slots=True)
class Outer:
    seed: int = 0
    width: float = 1.0
    inner: Inner = field(default_factory=Inner)
    deep: Deep = field(default_factory=Deep)
    tags: tuple[str, ...] = ()
    grid: tuple[tuple[int, ...], ...] = ((1, 2), (3,))
    weights: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.width > 0:
            raise ValueError(f"Outer.width must be > 0, got {self.width}")


ints = st.integers(-(2**63), 2**63 - 1)
floats = st.floats(allow_nan=False)  # ±inf included; nan != nan is tested separately
texts = st.text(max_size=12)
not_none_words = texts.filter(lambda s: s.strip().lower() not in ("none", "null"))

inners = st.builds(
    Inner,
    lr=floats,
    n_modes=st.lists(ints, max_size=4).map(tuple),
    name=texts,
    clip=st.none() | floats,
    flag=st.booleans(),
)
deeps = st.builds(
    Deep,
    kind=st.sampled_from(["a", "b"]),
    pair=st.tuples(ints, floats),
    note=st.none() | not_none_words,
)
outers = st.builds(
    Outer,
    seed=ints,
    width=st.floats(min_value=1e-300, allow_infinity=False),
    inner=inners,
    deep=deeps,
    tags=st.lists(texts, max_size=3).map(tuple),
    grid=st.lists(st.lists(ints, max_size=3).map(tuple), max_size=3).map(tuple),
    weights=st.dictionaries(texts, floats, max_size=3),
)


def _write(tmp: Path, text: str) -> Path:
    path = tmp / "cfg.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("config")


@given(cfg=outers)
def test_toml_round_trip(scratch: Path, cfg: Outer) -> None:
    path = _write(scratch, to_toml(cfg))
    back = load_config(Outer, path)
    assert back == cfg
    assert config_hash(back) == config_hash(cfg)
    assert to_toml(back) == to_toml(cfg)


@given(cfg=outers)
def test_to_toml_is_standard_toml(cfg: Outer) -> None:
    doc = tomllib.loads(to_toml(cfg))
    assert doc["seed"] == cfg.seed and doc["inner"]["name"] == cfg.inner.name
    assert doc["inner"]["clip"] == ("none" if cfg.inner.clip is None else cfg.inner.clip)
    assert doc["grid"] == to_dict(cfg)["grid"]


def test_nan_round_trips(tmp_path: Path) -> None:
    cfg = Outer(inner=Inner(lr=math.nan))
    assert math.isnan(load_config(Outer, _write(tmp_path, to_toml(cfg))).inner.lr)


@given(lr=floats, seed=ints, modes=st.lists(st.integers(0, 99), max_size=4), flag=st.booleans())
def test_string_overrides_are_parsed_with_the_field_type(
    lr: float, seed: int, modes: list[int], flag: bool
) -> None:
    overrides = {
        "inner.lr": repr(lr),
        "seed": str(seed),
        "inner.n_modes": ",".join(map(str, modes)),
        "inner.flag": "yes" if flag else "false",
    }
    cfg = load_config(Outer, None, overrides)
    assert (cfg.inner.lr, cfg.seed, cfg.inner.n_modes, cfg.inner.flag) == (
        lr,
        seed,
        tuple(modes),
        flag,
    )


def test_overrides_win_over_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, 'seed = 3\n[inner]\nlr = 0.5\nname = "boon"\n')
    cfg = load_config(
        Outer,
        path,
        {
            "inner.lr": "1e-3",
            "inner.clip": "none",
            "deep.kind": "b",
            "deep.pair": "[4, 0.25]",
            "weights.a": "2",
        },
    )
    assert cfg.seed == 3 and cfg.inner == Inner(lr=1e-3, name="boon", clip=None)
    assert cfg.deep == Deep(kind="b", pair=(4, 0.25)) and cfg.weights == {"a": 2.0}
    assert load_config(Outer, path, {"inner.clip": "0.1"}).inner.clip == 0.1


@pytest.mark.parametrize(
    ("toml", "overrides", "message"),
    [
        ("sede = 1\n", {}, "'sede'"),
        ("[inner]\nlearning_rate = 1.0\n", {}, "'inner.learning_rate'"),
        ("", {"inner.lrr": "1"}, "'inner.lrr'"),
        ("", {"nope.lr": "1"}, "'nope'"),
        ("", {"seed.x": "1"}, "'seed' is not a table"),
        ("seed = 1.5\n", {}, "'seed': expected int"),
        ("[inner]\nflag = 1\n", {}, "'inner.flag': expected bool"),
        ("", {"inner.lr": "fast"}, "'inner.lr': expected float"),
        ("", {"deep.kind": "c"}, "allowed: \\['a', 'b'\\]"),
        ("", {"deep.pair": "1,2,3"}, "'deep.pair'.*2 items"),
        ("", {"inner.n_modes": "1,x"}, r"'inner.n_modes\[1\]'"),
        ("inner = 3\n", {}, "'inner'.*table"),
        ("width = -1.0\n", {}, "Outer.width must be > 0"),
        ("seed = [\n", {}, "not valid TOML"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, toml: str, overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_config(Outer, _write(tmp_path, toml), overrides)


def test_missing_file_and_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_config(Outer, tmp_path / "nope.toml")
    with pytest.raises(TypeError, match="dataclass"):
        to_toml({"a": 1})
    with pytest.raises(TypeError, match="not a dataclass"):
        from_dict(dict, {})


def test_parse_overrides() -> None:
    assert parse_overrides(["train.lr=1e-3", "name=a=b", "tags="]) == {
        "train.lr": "1e-3",
        "name": "a=b",
        "tags": "",
    }
    with pytest.raises(ValueError, match="'lr'"):
        parse_overrides(["lr"])


def test_config_hash_is_sha256_of_canonical_json() -> None:
    cfg = Outer(seed=2, width=3.0, inner=Inner(lr=0.5, n_modes=(4, 8)), tags=("x",))
    canonical = (
        '{"deep":{"kind":"a","note":"x","pair":[1,2]},"grid":[[1,2],[3]],'
        '"inner":{"clip":null,"flag":false,"lr":0.5,"n_modes":[4,8],"name":"fno"},'
        '"seed":2,"tags":["x"],"weights":{},"width":3}'
    )
    assert json.loads(canonical) == json.loads(json.dumps(to_dict(cfg)))
    assert config_hash(cfg) == hashlib.sha256(canonical.encode()).hexdigest()
    assert config_hash(Outer(width=1)) == config_hash(Outer(width=1.0))
    assert config_hash(Outer(seed=1)) != config_hash(Outer(seed=2))


@given(a=outers, b=outers)
def test_hash_separates_different_configs(a: Outer, b: Outer) -> None:
    assert (config_hash(a) == config_hash(b)) == (a == b)


def test_every_built_in_profile_is_inside_the_bounds() -> None:
    """The bound tables admit every profile of every case/problem (else the CLI would refuse a
    built-in setting) and cover every numeric field (check_bounds raises KeyError otherwise)."""
    from pcml.experiments.boon.cases import CASES
    from pcml.experiments.boon.config import default_config
    from pcml.experiments.config_bounds import validate_config
    from pcml.experiments.probconserv_config import PROBLEMS
    from pcml.experiments.probconserv_config import make_config as pc_config

    checked = 0
    expected = 0
    for case in CASES:
        tasks = (True,) if case in ("cavity", "wave2d") else (False, True)  # 2-D: multi-step only
        expected += 3 * len(tasks)
        for profile in ("smoke", "quick", "paper"):
            for multi_step in tasks:
                validate_config(default_config(case, profile, multi_step))
                checked += 1
    for problem in PROBLEMS:
        for profile in ("smoke", "quick", "paper"):
            validate_config(pc_config(problem, profile))
            checked += 1
    from pcml.cli.opc import PROBLEM_NAMES
    from pcml.experiments.opc.config import make_config as opc_config

    for problem in PROBLEM_NAMES:
        for profile in ("smoke", "quick", "paper"):
            validate_config(opc_config(problem, profile))
            checked += 1
    assert checked == expected + 3 * len(PROBLEMS) + 3 * len(PROBLEM_NAMES)
