"""Frozen-dataclass configs ⇄ TOML, dotted command-line overrides, and a stable hash.

A config is a ``@dataclass(frozen=True, slots=True)`` whose fields are ``bool``, ``int``,
``float``, ``str``, ``Literal[...]``, ``X | None``, ``tuple[X, ...]``/``tuple[X, Y]``/
``list[X]``, ``dict[str, X]`` and nested config dataclasses; ``__post_init__`` validates.

* :func:`load_config` reads TOML (``tomllib``), applies overrides such as
  ``{"train.lr": "1e-3"}`` (strings parsed with the field's type), rejects unknown keys by
  name, and builds the dataclasses (so their validation runs);
* :func:`to_toml` writes TOML that :func:`load_config` reads back to an equal config (a tiny
  emitter: pcml takes no TOML-writer dependency). TOML has no null: ``None`` is written as the
  string ``"none"``, which ``X | None`` fields read back as ``None``;
* :class:`Bound` and :func:`check_bounds` hold the allowed range of every numeric field as data
  (a table ``{dotted key or field name: Bound}``) and check a resolved config against it; a
  numeric field without an entry is an error, so a new field cannot skip validation;
* :func:`config_hash` is the sha256 of the canonical JSON of :func:`to_dict` (sorted keys,
  integral floats written as integers, -0.0 as 0), so equal configs hash equally in every
  process and Python version. Use it to key caches and run directories; the original
  ProbConserv code keyed caches by hand-written paths and silently loaded stale results.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import tomllib
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

T = TypeVar("T")

_NONE_WORDS = ("none", "null")
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class _Raw(str):
    """An override value typed on the command line: parsed with the field's type."""


def _is_config(obj: Any) -> bool:
    return dataclasses.is_dataclass(obj) and not isinstance(obj, type)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _fail(key: str, tp: Any, value: Any, why: str = "") -> ValueError:
    return ValueError(
        f"config key {key!r}: expected {_type_name(tp)}, got {value!r}"
        + (f" ({why})" if why else "")
    )


def _split_raw(text: str) -> list[str]:
    """``"1, 2,3"``, ``"[1, 2]"`` or ``"(a,b)"`` → items; ``""``/``"[]"`` → ``[]``."""
    text = text.strip()
    if text[:1] + text[-1:] in ("[]", "()"):
        text = text[1:-1]
    return [part.strip() for part in text.split(",")] if text.strip() else []


def _coerce(tp: Any, value: Any, key: str) -> Any:
    """Check/convert one value to the annotated type ``tp`` (raw strings are parsed)."""
    raw = isinstance(value, _Raw)
    origin, args = get_origin(tp), get_args(tp)
    if tp is Any:
        return str(value) if raw else value
    if origin in (Union, types.UnionType):
        if type(None) in args and (
            value is None or (isinstance(value, str) and value.strip().lower() in _NONE_WORDS)
        ):
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, key)
            except ValueError as err:
                errors.append(str(err))
        raise _fail(key, tp, value, "; ".join(errors))
    if origin is Literal:
        for option in args:
            if value == option or (raw and str(option) == value.strip()):
                return option
        raise _fail(key, tp, value, f"allowed: {list(args)}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise _fail(key, tp, value, "a table; set its fields as key.field=value")
        return from_dict(tp, value, prefix=f"{key}.")  # type: ignore[arg-type]
    if origin in (tuple, list):
        items = [_Raw(s) for s in _split_raw(value)] if raw else value
        if not isinstance(items, list | tuple):
            raise _fail(key, tp, value, "an array")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(items) != len(args):
                raise _fail(key, tp, value, f"{len(args)} items")
            out = [
                _coerce(a, v, f"{key}[{i}]")
                for i, (a, v) in enumerate(zip(args, items, strict=True))
            ]
        else:
            elem = args[0] if args else Any
            out = [_coerce(elem, v, f"{key}[{i}]") for i, v in enumerate(items)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, Mapping):
            raise _fail(key, tp, value, "a table")
        elem = args[1] if args else Any
        return {str(k): _coerce(elem, v, f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if raw and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        if isinstance(value, bool):
            return value
        raise _fail(key, tp, value)
    if tp is int:
        if raw:
            try:
                return int(value.strip())
            except ValueError:
                raise _fail(key, tp, value) from None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _fail(key, tp, value)
    if tp is float:
        if raw:
            try:
                return float(value.strip())
            except ValueError:
                raise _fail(key, tp, value) from None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise _fail(key, tp, value)
    if tp is str:
        if isinstance(value, str):
            return str(value)
        raise _fail(key, tp, value)
    raise TypeError(f"config key {key!r}: unsupported field type {_type_name(tp)}")


@dataclass(frozen=True, slots=True)
class Bound:
    """Allowed values of one numeric config field: lo ≤ v ≤ hi (``lo_open``/``hi_open`` make
    that end strict); ``integer`` requires an int. NaN is never inside a bound."""

    lo: float = -math.inf
    hi: float = math.inf
    lo_open: bool = False
    hi_open: bool = False
    integer: bool = False

    def contains(self, value: float) -> bool:
        if self.integer and not isinstance(value, int):
            return False
        if isinstance(value, float) and math.isnan(value):
            return False
        above = value > self.lo if self.lo_open else value >= self.lo
        below = value < self.hi if self.hi_open else value <= self.hi
        return above and below

    def describe(self) -> str:
        """``"an integer in [1, 1000000]"``, ``"a number in (0, 1]"``."""

        def end(v: float) -> str:
            if math.isinf(v):
                return "inf" if v > 0 else "-inf"
            return str(int(v)) if float(v).is_integer() and abs(v) < 2**63 else repr(v)

        kind = "an integer" if self.integer else "a number"
        left, right = "(" if self.lo_open else "[", ")" if self.hi_open else "]"
        return f"{kind} in {left}{end(self.lo)}, {end(self.hi)}{right}"


def int_bound(lo: int, hi: int) -> Bound:
    """An integer in [lo, hi]."""
    return Bound(lo, hi, integer=True)


class ConfigRangeError(ValueError):
    """A numeric config value outside its :class:`Bound`; ``key`` is the dotted key."""

    def __init__(self, key: str, value: Any, allowed: str) -> None:
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"config key {key!r} = {value!r} is out of range: allowed {allowed}")


def _bound_for(bounds: Mapping[str, Bound], key: str) -> Bound | None:
    """The entry for the dotted ``key``, else for its last part(s): ``train.anp.lr`` looks up
    ``train.anp.lr``, ``anp.lr``, ``lr``."""
    parts = key.split(".")
    for i in range(len(parts)):
        found = bounds.get(".".join(parts[i:]))
        if found is not None:
            return found
    return None


def _numbers(value: Any) -> list[Any] | None:
    """The numbers in a numeric field (a number, or a list/tuple of numbers), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return [value]
    if isinstance(value, list | tuple) and value and all(_numbers(v) for v in value):
        return [n for v in value for n in _numbers(v) or ()]
    return None


def check_bounds(cfg: Any, bounds: Mapping[str, Bound], prefix: str = "") -> None:
    """Every numeric field of the (nested) config ``cfg`` lies in its bound.

    Raises :class:`ConfigRangeError` naming the dotted key, the value and the allowed range, and
    ``KeyError`` for a numeric field that ``bounds`` does not cover (a programming error: the
    table must grow with the config).
    """
    for f in dataclasses.fields(cfg):
        key = prefix + f.name
        value = getattr(cfg, f.name)
        if _is_config(value):
            check_bounds(value, bounds, key + ".")
            continue
        numbers = _numbers(value)
        if numbers is None:
            continue
        bound = _bound_for(bounds, key)
        if bound is None:
            raise KeyError(f"no Bound for the numeric config key {key!r}")
        for number in numbers:
            if not bound.contains(number):
                raise ConfigRangeError(key, value, bound.describe())


def from_dict(cls: type[T], data: Mapping[str, Any], prefix: str = "") -> T:
    """Build config ``cls`` from nested plain data (a parsed TOML document).

    Unknown keys raise ``ValueError`` naming the dotted key; missing keys take the defaults.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = [k for k in data if k not in names]
    if unknown:
        raise ValueError(
            f"unknown config key {prefix + unknown[0]!r} for {cls.__name__}; known keys: {names}"
        )
    kwargs = {name: _coerce(hints[name], value, prefix + name) for name, value in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise ValueError(f"cannot build {cls.__name__} at {prefix or 'top level'}: {err}") from err


def _set_override(cls: type, data: dict[str, Any], key: str, value: Any) -> None:
    node, node_cls = data, cls
    parts = key.split(".")
    for depth, part in enumerate(parts):
        dotted = ".".join(parts[: depth + 1])
        fields = {f.name: f for f in dataclasses.fields(node_cls)} if node_cls else {}
        if node_cls is not None and part not in fields:
            raise ValueError(
                f"unknown config key {dotted!r} for {node_cls.__name__}; known keys: {list(fields)}"
            )
        if depth == len(parts) - 1:
            node[part] = _Raw(value) if isinstance(value, str) else value
            return
        sub_tp = get_type_hints(node_cls)[part] if node_cls is not None else None
        if not dataclasses.is_dataclass(sub_tp) and get_origin(sub_tp) is not dict:
            raise ValueError(f"config key {dotted!r} is not a table; cannot set {key!r}")
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ValueError(f"config key {dotted!r} is not a table; cannot set {key!r}")
        node = child
        node_cls = sub_tp if dataclasses.is_dataclass(sub_tp) else None  # type: ignore[assignment]


def load_config(
    cls: type[T], path: Path | str | None = None, overrides: Mapping[str, Any] | None = None
) -> T:
    """``cls`` from the TOML file ``path`` (or the defaults) with dotted ``overrides`` applied,
    e.g. ``load_config(RunConfig, Path("run.toml"), {"train.lr": "1e-3"})``."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        try:
            with path.open("rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise FileNotFoundError(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as err:
            raise ValueError(f"config file {path} is not valid TOML: {err}") from err
    for key, value in (overrides or {}).items():
        _set_override(cls, data, key, value)
    return from_dict(cls, data)


def parse_overrides(items: Iterable[str]) -> dict[str, str]:
    """``["train.lr=1e-3", "seed=2"]`` (repeated ``--set`` options) → a dict of overrides."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"override {item!r} must look like key.path=value")
        out[key.strip()] = value
    return out


def to_dict(cfg: Any) -> Any:
    """Nested plain data: dataclasses → dicts, tuples → lists (JSON-ready)."""
    if _is_config(cfg):
        return {f.name: to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, list | tuple):
        return [to_dict(v) for v in cfg]
    if isinstance(cfg, Mapping):
        return {str(k): to_dict(v) for k, v in cfg.items()}
    return cfg


def _canonical(obj: Any) -> Any:
    if isinstance(obj, float) and math.isfinite(obj) and obj.is_integer() and abs(obj) < 2**53:
        return int(obj)
    if isinstance(obj, dict):
        return {k: _canonical(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_canonical(v) for v in obj]
    return obj


def config_hash(cfg: Any) -> str:
    """Hex sha256 of the canonical JSON of ``to_dict(cfg)`` (64 characters)."""
    text = json.dumps(_canonical(to_dict(cfg)), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def _toml_str(text: str) -> str:
    out = (
        _ESCAPES.get(ch) or (f"\\u{ord(ch):04x}" if ord(ch) < 0x20 or ord(ch) == 0x7F else ch)
        for ch in text
    )
    return '"' + "".join(out) + '"'


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _toml_str(key)


def _toml_value(value: Any) -> str:
    if value is None:
        return '"none"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _toml_str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if _is_config(value) or isinstance(value, Mapping):
        items = to_dict(value) if _is_config(value) else value
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in items.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} value {value!r} to TOML")


def _emit(cfg: Any, path: list[str], lines: list[str]) -> None:
    scalars, tables = [], []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if _is_config(value):
            tables.append((f.name, value))
        else:
            scalars.append(f"{_toml_key(f.name)} = {_toml_value(value)}")
    if path and (scalars or not tables):
        lines.extend(["", "[" + ".".join(path) + "]"])
    lines.extend(scalars)
    for name, value in tables:
        _emit(value, [*path, name], lines)


def to_toml(cfg: Any) -> str:
    """TOML text of a config dataclass; ``load_config(type(cfg), file)`` reads it back equal."""
    if not _is_config(cfg):
        raise TypeError(f"to_toml expects a dataclass instance, got {type(cfg).__name__}")
    lines: list[str] = []
    _emit(cfg, [], lines)
    return "\n".join(lines).lstrip("\n") + "\n"


__all__ = [
    "Bound",
    "ConfigRangeError",
    "check_bounds",
    "config_hash",
    "from_dict",
    "int_bound",
    "load_config",
    "parse_overrides",
    "to_dict",
    "to_toml",
]
