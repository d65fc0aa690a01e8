"""Dataclass-backed YAML configs with ``key=value`` overrides.

Every config in the package is a (nested) dataclass. YAML files and command-line overrides are
validated against it: unknown keys and values of the wrong type raise :class:`ConfigError`
naming the dotted key (an unknown one with the close known key, if any), so a typo never
silently falls back to a default; so does a key given twice in one mapping of a file. An
override's value is read as YAML, but a text field (``str``, ``Optional[str]``) gets the text
typed where YAML reads a boolean, number or date (``train.init_from=no``,
``data.split_dir=2024``); ``null``/``~`` still mean None. A text value starting with ``~/`` is
expanded to the home folder (path fields are typed ``str``).

A field made with :func:`non_blank_field` (a path, or the name of a split or a config) refuses
an empty or blank value, naming the key: ``key=`` sets an empty value, which such a field read
as not given, or as '.', the current folder. Where the field takes None it is given as ``null``.
"""

from __future__ import annotations

import contextvars
import dataclasses
import datetime
import json
import math
import os
import re
import types
import typing
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Type, TypeVar

import yaml

# The validators config dataclasses call, imported from here by most of them.
from pmgsam.utils.config_checks import SEED_MAX, check_positive, check_seed  # noqa: F401
from pmgsam.utils.config_files import (
    SAFE_DUMPER,
    ConfigError,
    did_you_mean,
    join_key,
    parse_yaml,
    read_config_file,
)

T = TypeVar("T")


# Field metadata: what a path or name field takes (see non_blank_field).
NON_BLANK = "pmgsam.non_blank"


def non_blank_field(what: str, **kwargs: Any) -> Any:
    """A dataclass field whose text (each item, for a list) names a file, a folder, a split or
    a config: :func:`from_dict` refuses it empty or blank with a :class:`ConfigError` naming the
    key and saying to give ``what`` (or ``null``, where the field takes None). ``kwargs`` go to
    :func:`dataclasses.field` (``default``, ``default_factory``)."""
    return dataclasses.field(metadata={NON_BLANK: what}, **kwargs)


# What YAML reads an unquoted scalar as besides text; an override's raw text is kept for these.
_YAML_NON_TEXT = (bool, int, float, datetime.date)
# {dotted key: text as typed} of the overrides being coerced (see apply_overrides / from_dict).
_OVERRIDE_TEXTS: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "override_texts", default=types.MappingProxyType({})
)


class _OverriddenDict(dict):
    """apply_overrides' result: a dict whose ``override_texts`` holds the text of scalar
    override values ({dotted key: text})."""


# typing.Union[...] and, from Python 3.10, ``X | Y``.
_UNION_ORIGINS = (typing.Union, types.UnionType)


def _takes_text(tp: Any) -> bool:
    """Whether a field of type ``tp`` only takes text (and None): str, Optional[str], a Literal
    of strings."""
    if typing.get_origin(tp) in _UNION_ORIGINS:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return bool(args) and all(_takes_text(a) for a in args)
    if typing.get_origin(tp) is typing.Literal:
        return all(isinstance(a, str) for a in typing.get_args(tp))
    return tp is str


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """``value`` as a field of type ``tp`` takes it (a nested dataclass built, a list's items
    checked, an override's text kept for a text field); ConfigError naming ``key`` when it does
    not fit. Types without a check here (``Any``, custom classes) take the value as it is."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if isinstance(value, _YAML_NON_TEXT) and key in _OVERRIDE_TEXTS.get() and _takes_text(tp):
        value = _OVERRIDE_TEXTS.get()[key]  # `split_dir=2024`: the text typed, not an int
    if origin in _UNION_ORIGINS:
        return _coerce_union(value, args, key)
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"config key '{key}' must be one of {list(args)}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"config key '{key}' must be a mapping, got {value!r}")
        return from_dict(tp, value, prefix=key)
    if origin in (list, List, Sequence, tuple):
        return _coerce_sequence(value, origin, args, key)
    if origin in (dict, Dict):
        if not isinstance(value, Mapping):
            raise ConfigError(f"config key '{key}' must be a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"config key '{key}' must be true/false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"config key '{key}' must be an integer, got {value!r}")
    if tp is float:
        return _coerce_float(value, key)
    if tp is str:
        return _coerce_str(value, key)
    return value


def _coerce_union(value: Any, args: Sequence[Any], key: str) -> Any:
    """``value`` as the first member of the union that takes it; None only for Optional."""
    if value is None:
        if type(None) in args:
            return None
        raise ConfigError(f"config key '{key}' must not be null")
    errors = []
    for arg in [a for a in args if a is not type(None)]:
        try:
            return _coerce(value, arg, key)
        except ConfigError as err:
            errors.append(str(err))
    raise ConfigError(errors[0] if len(errors) == 1 else f"config key '{key}': {errors}")


def _coerce_sequence(value: Any, origin: Any, args: Sequence[Any], key: str) -> Any:
    """A list or tuple with every item coerced; a fixed-length tuple needs exactly its items."""
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"config key '{key}' must be a list, got {value!r}")
    if origin is tuple and args and args[-1] is not Ellipsis:
        if len(args) != len(value):
            raise ConfigError(f"config key '{key}' needs {len(args)} items, got {len(value)}")
        return tuple(_coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    item_tp = args[0] if args else Any
    items = [_coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
    return tuple(items) if origin is tuple else items


def _coerce_float(value: Any, key: str) -> float:
    """A finite float from a number, or from text such as ``1e-3``."""
    number = None
    # YAML 1.1 reads "1e-3" (no dot) as a string; accept it where a number is expected.
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        try:
            number = float(value)
        except ValueError:
            pass
        except OverflowError:  # an integer beyond the float range
            number = math.inf
    if number is None:
        raise ConfigError(f"config key '{key}' must be a number, got {value!r}")
    # No setting means anything when infinite or NaN, and NaN slips past `value < 0`.
    if not math.isfinite(number):
        raise ConfigError(f"config key '{key}' must be a finite number, got {value!r}")
    return number


def _coerce_str(value: Any, key: str) -> str:
    """Text, ``~/`` expanded to the home folder; a YAML boolean, number or date is refused with
    a hint to quote it."""
    if isinstance(value, str):
        return os.path.expanduser(value) if value.startswith("~/") else value
    hint = ""
    if isinstance(value, _YAML_NON_TEXT):
        kind = "a boolean" if isinstance(value, bool) else "a number or date"
        hint = f" (YAML reads the unquoted value as {kind}; quote it to keep it text: '...')"
    raise ConfigError(f"config key '{key}' must be a string, got {value!r}{hint}")


def _refuse_blank(value: Any, tp: Any, key: str, what: str) -> None:
    """ConfigError naming ``key`` when ``value`` (or an item of it) is empty or blank text."""
    items = list(enumerate(value)) if isinstance(value, (list, tuple)) else [(None, value)]
    for index, text in items:
        if not isinstance(text, str) or text.strip():
            continue
        at = key if index is None else f"{key}[{index}]"
        state = "empty" if not text else f"blank ({text!r})"
        takes_none = typing.get_origin(tp) in _UNION_ORIGINS and type(None) in typing.get_args(tp)
        alternative = ", or null" if takes_none else ""
        raise ConfigError(f"config key '{at}' is {state}: give {what}{alternative}")


def from_dict(cls: Type[T], data: Mapping[str, Any], prefix: str = "") -> T:
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys and wrong types."""
    if data is None:
        data = {}
    texts = getattr(data, "override_texts", None)
    if texts is not None:  # the result of apply_overrides: its texts for its text fields
        token = _OVERRIDE_TEXTS.set(texts)
        try:
            return from_dict(cls, dict(data), prefix)
        finally:
            _OVERRIDE_TEXTS.reset(token)
    if not isinstance(data, Mapping):
        raise ConfigError(f"config section '{prefix or '<root>'}' must be a mapping")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    # key=str: YAML reads `2:` or `yes:` as a number or boolean, which sorts with no text key.
    unknown = sorted(set(data) - set(fields), key=str)
    if unknown:
        where = f" in section '{prefix}'" if prefix else ""
        names = ", ".join(f"'{join_key(prefix, k)}'" for k in unknown)
        hints = "".join(did_you_mean(k, fields, join_key(prefix, k), prefix) for k in unknown)
        raise ConfigError(f"unknown config key(s) {names}{where}; {hints}known: {sorted(fields)}")
    # A field without a default would otherwise fail in cls() as a TypeError naming no file.
    missing = [
        name
        for name, f in fields.items()
        if name not in data
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        names = ", ".join(f"'{join_key(prefix, k)}'" for k in missing)
        raise ConfigError(f"missing config key(s) {names}")
    kwargs = {k: _coerce(v, hints[k], join_key(prefix, k)) for k, v in data.items()}
    for name, value in kwargs.items():
        what = fields[name].metadata.get(NON_BLANK)
        if what is not None:
            _refuse_blank(value, hints[name], join_key(prefix, name), what)
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate()
    return obj


def to_dict(obj: Any) -> Dict[str, Any]:
    """Plain nested dict (tuples as lists) suitable for YAML/JSON."""

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(obj)


def apply_overrides(
    data: Dict[str, Any], overrides: Sequence[str], source: str | Path | None = None
) -> Dict[str, Any]:
    """Apply ``a.b.c=value`` strings to a nested dict; values are parsed as YAML scalars.

    ``source`` names the file ``data`` was read from: when an override reaches into a key of
    ``data`` that is not a mapping (``model: 5``), the error blames that file, not the override.
    The result also holds the text of values YAML reads as a boolean, number or date, which
    :func:`from_dict` gives a text field instead (``init_from=no`` is the folder 'no').
    """
    texts = dict(getattr(data, "override_texts", {}))
    copied = yaml.dump(dict(data or {}), Dumper=SAFE_DUMPER)  # a deep copy of plain YAML values
    data = _OverriddenDict(parse_yaml(copied) or {})
    data.override_texts = texts
    set_by_override: set = set()
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' is not of the form key=value")
        key, raw = item.split("=", 1)
        key = key.strip()
        if not key:
            raise ConfigError(f"override '{item}' has an empty key")
        try:
            value = parse_yaml(raw) if raw.strip() else ""
        except yaml.YAMLError as err:
            raise ConfigError(f"override '{item}': the value is not valid YAML: {err}") from None
        node = data
        parts = key.split(".")
        for depth, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                dotted = ".".join(parts[: depth + 1])
                if any(".".join(parts[:d]) in set_by_override for d in range(1, depth + 2)):
                    raise ConfigError(f"override '{item}': '{dotted}' is not a section")
                where = f"config file '{source}': " if source is not None else ""
                raise ConfigError(
                    f"{where}config key '{dotted}' must be a mapping, got {child!r} "
                    f"(override '{item}' sets a key inside it)"
                )
            node = child
        node[parts[-1]] = value
        set_by_override.add(key)
        # The value replaces whatever the key held, keys under it included: an earlier
        # override's text of `key.sub` must not stand in for the value set now.
        for typed in [k for k in texts if k == key or k.startswith(key + ".")]:
            del texts[typed]
        if isinstance(value, _YAML_NON_TEXT):
            texts[key] = raw.strip()
    return data


def quoted_override(key: str, text: object) -> str:
    """``key="text"``: an override whose value is read as the text given (a path), not as YAML
    (which reads ``data #2`` as ``data``, ``null`` as no value and ``a: b`` as a mapping). JSON's
    string syntax is YAML's double-quoted scalar."""
    return f"{key}={json.dumps(str(text), ensure_ascii=False)}"


def with_data_root(overrides: Sequence[str], data_root: Optional[str]) -> List[str]:
    """``overrides`` followed by ``data.root="<data_root>"`` (:func:`quoted_override`) when a
    ``--data-root`` is given."""
    return [*overrides, quoted_override("data.root", data_root)] if data_root else list(overrides)


def load_config(cls: Type[T], path: str | Path | None, overrides: Sequence[str] = ()) -> T:
    """Load dataclass ``cls`` from a YAML file (or defaults when ``path`` is None) + overrides.

    The file may name a ``base:`` file it changes (:func:`~pmgsam.utils.config_files.
    read_config_file`, or ``cls.read_file`` where ``cls`` has one: a run's saved config).
    """
    in_file: Dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        in_file = getattr(cls, "read_file", read_config_file)(path)
    data = apply_overrides(in_file, overrides, source=path)
    try:
        return from_dict(cls, data)
    except ConfigError as err:
        raise ConfigError(f"{err}{_blame(cls, path, in_file, overrides, str(err))}") from None


def _blame(
    cls: Type[Any], path: Path | None, in_file: Dict[str, Any], overrides: Sequence[str], msg: str
) -> str:
    """Where a config error comes from: the overrides when the file alone is valid (naming
    those whose key the message names), else the file."""
    if overrides:
        try:
            from_dict(cls, in_file)
        except ConfigError:
            pass
        else:
            # The known keys and the close names suggested are not what the overrides set.
            head = _SUGGESTION.sub("", msg.split("; known:")[0])
            keys = [o.split("=", 1)[0].strip() for o in overrides]
            named = [o for o, k in zip(overrides, keys) if _names_key(head, k)]
            # An unknown section ('optimm') is named without the key set inside it.
            named = named or [o for o, k in zip(overrides, keys) if _names_section(head, k)]
            return f" (override {', '.join(repr(o) for o in named or overrides)})"
    return f" ({path})" if path is not None else ""


_SUGGESTION = re.compile(r"did you mean '[^']*'\?")


def _names_key(message: str, key: str) -> bool:
    """Whether ``message`` names the dotted ``key`` or a key inside it (``model`` in
    ``'model.fusion'``, ``optim.betas`` in ``'optim.betas[0]'``); not a longer name that
    merely contains it (``model.fusion`` in ``'model.fusion_channels'``, ``lr`` in
    ``'optim.lr'``)."""
    return re.search(rf"(?<![\w.]){re.escape(key)}(?!\w)", message) is not None


def _names_section(message: str, key: str) -> bool:
    """Whether ``message`` names a section that the dotted ``key`` lies in (``optimm`` for
    ``optimm.lr``)."""
    parts = key.split(".")
    return any(_names_key(message, ".".join(parts[:n])) for n in range(1, len(parts)))


def diff(a: Any, b: Any, prefix: str = "") -> List[str]:
    """Dotted keys whose values differ between two configs (dataclasses or dicts)."""
    da = to_dict(a) if dataclasses.is_dataclass(a) else a
    db = to_dict(b) if dataclasses.is_dataclass(b) else b
    out: List[str] = []
    if isinstance(da, dict) and isinstance(db, dict):
        for k in sorted(set(da) | set(db)):
            key = join_key(prefix, k)
            if k not in da or k not in db:
                out.append(key)
            else:
                out.extend(diff(da[k], db[k], key))
    elif da != db:
        out.append(f"{prefix}: {da!r} != {db!r}")
    return out
