"""A run's saved ``config.yaml`` read as the run meant it (no torch: the config loader uses it).

A run saved its whole config, and a later pmgsam reads it back: to resume, to score its
checkpoint, or as ``--config`` to any command (``load_config`` reads every
:class:`~pmgsam.engine.config.ExperimentConfig` file through :func:`read_experiment_file`).
Fields added since keep the value the run was trained with (:data:`LEGACY_FIELDS_BY_SECTION`),
and the path fields an older pmgsam saved as ``''``, which then meant not set, are read as None
(:data:`EMPTY_MEANT_NONE_BY_SECTION`): refused blank everywhere else, they must not make an
old run unusable. A hand-written config file is read as written, also one named config.yaml
in a folder of checkpoints (:func:`is_run_config`).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Dict, Sequence, Union

from pmgsam.data import config as data_config
from pmgsam.modeling import config as model_config
from pmgsam.utils.config_files import read_config_file

PathLike = Union[str, Path]
CONFIG_FILE = "config.yaml"
# pmgsam.modeling.checkpoint.CHECKPOINTS and pmgsam.engine.state.LOG_FILE, which import torch.
RUN_CHECKPOINTS = "checkpoints"
RUN_LOG = "train.log"

# Fields added after runs were already saved, with the value those runs were trained with. A
# run saved before a field existed resumes with that value rather than today's default, so it
# continues exactly. Each config module names its own.
LEGACY_FIELDS_BY_SECTION: Dict[str, Dict[str, Any]] = {
    "model": model_config.LEGACY_FIELDS,
    "data": data_config.LEGACY_FIELDS,
}


# Path fields refused empty since runs were saved with '' in them, which then meant not set.
EMPTY_MEANT_NONE_BY_SECTION: Dict[str, Sequence[str]] = {
    "model": model_config.EMPTY_MEANT_NONE,
    "data": data_config.EMPTY_MEANT_NONE,
    "train": ("init_from",),
}


def with_legacy_fields(saved: Dict[str, Any]) -> Dict[str, Any]:
    """``saved`` (a config dict) with every missing :data:`LEGACY_FIELDS_BY_SECTION` entry
    filled in, and an empty :data:`EMPTY_MEANT_NONE_BY_SECTION` field read as None (as it was
    read when the run was saved)."""
    out = dict(saved)
    for section, values in LEGACY_FIELDS_BY_SECTION.items():
        if isinstance(out.get(section), dict):
            out[section] = {**values, **out[section]}
    for section, names in EMPTY_MEANT_NONE_BY_SECTION.items():
        if isinstance(out.get(section), dict):
            out[section] = {
                k: None if k in names and v == "" else v for k, v in out[section].items()
            }
    return out


def is_run_config(path: PathLike) -> bool:
    """``path`` is the config.yaml a training run saved: named so, in a folder holding the
    run's ``checkpoints/`` and its ``train.log``.

    The trainer is the only writer of a config.yaml, and every version of it has created
    train.log (opening the log) before writing the config, in the same folder; a config.yaml
    written by hand into a folder of checkpoints has no log beside it, and is read as written
    (its missing fields get today's defaults, not the legacy ones). The file's content tells
    nothing: a saved config and a shipped one (``configs/*.yaml``) both hold every section,
    and which fields a saved one lacks depends on the version that wrote it.
    """
    path = Path(path)
    if path.name != CONFIG_FILE:
        return False
    return (path.parent / RUN_CHECKPOINTS).is_dir() and (path.parent / RUN_LOG).is_file()


def read_experiment_file(path: PathLike) -> Dict[str, Any]:
    """The mapping of an experiment config file (``base:`` chain resolved); a run's own
    config.yaml (:func:`is_run_config`) through :func:`with_legacy_fields`. A config.yaml in a
    folder of checkpoints but without train.log is read as written, with a warning where a
    run's would have read otherwise (its log deleted, or the file written by hand there)."""
    data = read_config_file(Path(path))
    if is_run_config(path):
        return with_legacy_fields(data)
    path = Path(path)
    if path.name == CONFIG_FILE and (path.parent / RUN_CHECKPOINTS).is_dir():
        _warn_read_as_written(path, data)
    return data


def _warn_read_as_written(path: Path, data: Dict[str, Any]) -> None:
    legacy = with_legacy_fields(data)
    changed = [
        f"{section}.{key}"
        for section, values in legacy.items()
        if isinstance(values, dict)
        for key, value in values.items()
        if key not in data[section] or data[section][key] != value
    ]
    if changed:
        warnings.warn(
            f"'{path}' is read as written: it lies beside checkpoints/, but without the "
            f"{RUN_LOG} every training run writes beside its config, so it is not taken for "
            f"a run's saved config, whose {', '.join(changed)} would read otherwise (as an "
            f"older run was trained); if it is a run's own config.yaml whose {RUN_LOG} was "
            f"deleted, put an empty {RUN_LOG} back",
            stacklevel=3,
        )
