"""YAML config files: one file read strictly (a key given twice is an error, not a silent
overwrite) and ``base:`` chains merged, before :mod:`pmgsam.utils.config` checks the result
against its dataclass."""

from __future__ import annotations

import difflib
import warnings
from pathlib import Path
from typing import Any, Dict, Mapping, Sequence, TextIO, Union

import yaml


class ConfigError(ValueError):
    """A config file or override names an unknown key or carries a value of the wrong type."""


def join_key(prefix: str, key: str) -> str:
    """The dotted config key ``prefix.key`` (``key`` alone at the top level)."""
    return f"{prefix}.{key}" if prefix else str(key)


def did_you_mean(given: Any, choices: Any, label: str = "", section: str = "") -> str:
    """``[label: ]did you mean 'x'?; `` for the choice closest to a mistyped ``given``, or
    empty (also for a ``given`` that is no text: YAML reads ``2:`` as a number). A choice is
    named as the dotted key ``section.x`` where ``section`` is given."""
    if not isinstance(given, str):
        return ""
    # Case and '-' for '_' first: get_close_matches alone misses 'pmgsam-tiny' at its cutoff.
    folded = {str(c).lower().replace("-", "_"): c for c in choices}
    match = difflib.get_close_matches(given.lower().replace("-", "_"), list(folded), n=1)
    prefix = f"{label!r}: " if label else ""
    return f"{prefix}did you mean '{join_key(section, folded[match[0]])}'?; " if match else ""


BASE_KEY = "base"


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key: str, first: int, second: int) -> None:
        super().__init__(f"key '{key}' is given twice (lines {first} and {second})")


class _RefuseDuplicateKeys:
    # construct_document and the key check, shared by the pure-Python and libyaml loaders.

    def construct_document(self, node: yaml.Node) -> Any:
        self._check_keys(node, "", set())
        return super().construct_document(node)

    def _check_keys(self, node: yaml.Node, path: str, seen: set) -> None:
        if id(node) in seen:  # an alias of a node checked already (or of its own parent)
            return
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._check_keys(item, f"{path}[{i}]", seen)
        if not isinstance(node, yaml.MappingNode):
            return
        lines: Dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = path
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                name = self.construct_object(key_node)
                key, line = join_key(path, str(name)), key_node.start_mark.line + 1
                if name in lines:
                    raise _DuplicateKey(key, lines[name], line)
                lines[name] = line
            self._check_keys(value_node, key, seen)


class ConfigLoader(_RefuseDuplicateKeys, yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping, at any depth (``safe_load``
    keeps the last one: ``optim: {lr: 0.5}`` then ``optim: {weight_decay: 0.1}`` loses the lr).
    Keys brought in by a merge (``<<: *defaults``) may still be set again.

    Arguments:
      stream: the YAML text or open file, as :class:`yaml.SafeLoader` takes it
        (``yaml.load(text, Loader=ConfigLoader)`` builds it).
    """


# libyaml's parser where PyYAML was built with it: 5-6x faster on a config, and a command reads
# its config and base several times (ablate: every grid config per check).
_FastConfigLoader: Any = None
if hasattr(yaml, "CSafeLoader"):

    class _FastConfigLoader(_RefuseDuplicateKeys, yaml.CSafeLoader):  # type: ignore[no-redef]
        pass


SAFE_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def parse_yaml(stream: Union[str, TextIO]) -> Any:
    """``stream`` (text, or a file opened as text) read by :class:`ConfigLoader`'s rules,
    through libyaml where available. Text libyaml refuses is read again by the pure-Python
    parser, whose messages say more (the tab that cannot start a token, the alias that is
    undefined), so the error raised is the same either way."""
    if _FastConfigLoader is None:
        return yaml.load(stream, Loader=ConfigLoader)
    start = stream.tell() if not isinstance(stream, str) else 0
    try:
        return yaml.load(stream, Loader=_FastConfigLoader)
    except yaml.YAMLError:
        if not isinstance(stream, str):
            stream.seek(start)
        return yaml.load(stream, Loader=ConfigLoader)


def missing_config_message(given: Union[str, Path]) -> str:
    """Why the config file ``given`` (no file; named as given) cannot be read. A path into
    ``configs/`` where no such folder is (a README command typed outside the source folder,
    with the package installed) also says where the example configs are: they are not
    installed."""
    path = Path(given)
    if path.is_dir():
        return f"config file '{given}' is a folder, not a config file"
    hint = ""
    if path.parts[:1] == ("configs",) and not Path("configs").is_dir():
        from pmgsam import __version__

        hint = (
            f" (here, {Path.cwd()}, there is no configs/ folder: the example configs come "
            "with pmgsam's source folder and its source archive, not with the installed "
            f"package; give the path of one there, e.g. ~/src/pmgsam-{__version__}/configs/"
            "demo.yaml, or of a config of your own)"
        )
    return f"config file '{given}' does not exist{hint}"


def read_yaml_mapping(path: Path) -> Dict[str, Any]:
    """The top-level mapping of one YAML file (``base:`` untouched); ConfigError naming the
    file when it is missing, not YAML, or not a mapping (``false``, ``[]``); a file with no
    settings at all (empty, or only comments) gives ``{}`` with a warning."""
    if not path.is_file():
        raise ConfigError(missing_config_message(path))
    with open(path, encoding="utf-8") as f:
        try:
            data = parse_yaml(f)
        except UnicodeDecodeError as err:
            raise ConfigError(f"config file '{path}' is not UTF-8 text ({err.reason})") from None
        except _DuplicateKey as err:
            raise ConfigError(f"config file '{path}': {err}; YAML keeps only the last") from None
        except yaml.YAMLError as err:
            raise ConfigError(f"config file '{path}' is not valid YAML: {err}") from err
    if data is None:  # no document, or only comments: `or {}` would also let `false` or `[]` in
        warnings.warn(
            f"config file '{path}' holds no settings: every one keeps its default", stacklevel=2
        )
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file '{path}' must contain a mapping at the top level, "
            f"got a {type(data).__name__}: {str(data)[:60]!r}"
        )
    return data


def merge_config_dicts(base: Mapping[str, Any], child: Mapping[str, Any]) -> Dict[str, Any]:
    """``child`` on top of ``base``: mappings merge key by key, any other value replaces."""
    out = dict(base)
    for key, value in child.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge_config_dicts(out[key], value)
        else:
            out[key] = value
    return out


def read_config_file(path: str | Path, _chain: Sequence[Path] = ()) -> Dict[str, Any]:
    """The mapping of a YAML config file with its ``base:`` chain resolved.

    A top-level ``base: other.yaml`` (a path relative to the file that names it) makes the file
    a set of changes on top of ``other.yaml``, which may itself name a base; the ``base`` key is
    consumed here, so it never reaches the dataclass (where it would be an unknown key).
    """
    path = Path(path)
    data = read_yaml_mapping(path)
    if BASE_KEY not in data:
        return data
    base = data.pop(BASE_KEY)
    if not isinstance(base, str) or not base:
        raise ConfigError(f"config file '{path}': '{BASE_KEY}' must be a file path, got {base!r}")
    base_path = (path.parent / base).resolve()
    chain = [*_chain, path.resolve()]
    if base_path in chain:
        cycle = " -> ".join(str(p) for p in [*chain, base_path])
        raise ConfigError(f"config file '{path}': '{BASE_KEY}' chain loops ({cycle})")
    if not base_path.is_file():
        raise ConfigError(f"config file '{path}': base file '{base}' ({base_path}) does not exist")
    return merge_config_dicts(read_config_file(base_path, chain), data)
