"""Read and write the per-run results file, ``results/<run>/run.json``.

Layout, one directory per evaluated method::

    {
      "method": "PMG-SAM",
      "dis": {"DIS-VD": {"maxFm": .., "wFmeasure": .., "MAE": .., "Smeasure": .., "meanEm": ..,
                         "HCE": .., "num_images": .., "curves": {"fm": [256], "em": [256]}},
              "DIS-TE1": {...}, ...},
      "cos": {"COD10K": {"AP": .., "AP50": .., "AP75": .., "protocol": "all", "threshold": ..,
                         "min_area": .., "resize_pred": false,
                         "instance_labels": {"kind": "json", "path": ".."}}, "NC4K": {...}},
      "efficiency": {"params_total_M": .., "params_trainable_M": .., "flops_G": .., "fps": ..,
                     "peak_memory_MB": .., "threads": .., "timed_on": ".."},
      "meta": {...}
    }

Every section and key is optional; :func:`write_run_json` merges into an existing file so DIS, COS
and efficiency results can be added by separate commands. The DIS summaries are what
``evaluate.py`` writes (``curves`` optional); a COS entry records how its maps were scored
(:func:`~pmgsam.evaluation.instances.evaluate_cos_folder`; a baseline's instances are its
masks, at their image's size: protocol ``all``, ``resize_pred`` false; ``instance_labels``: where
the GT instances were read, :meth:`~pmgsam.data.instance_labels.InstanceSource.record`, with a
``fallback`` reason for COD10K's ``GT_Instance`` PNGs read without its COCO file); the
efficiency figures what :func:`~pmgsam.evaluation.run_efficiency.efficiency_from_report` makes
of a timing (``threads``: the torch thread count of a CPU timing; ``timed_on``:
:func:`~pmgsam.evaluation.run_efficiency.timing_conditions`). Each DIS and COS entry also
records the ground truth it was scored against, ``ground_truth`` (fingerprint, image count,
source and, for HCE against skeleton files, ``skeletons``: :mod:`pmgsam.evaluation.table_gt`);
an entry without it is an older pmgsam's.
:mod:`pmgsam.evaluation.tables` turns runs into the paper's tables.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence, Tuple, Union

from pmgsam.data.dis5k_splits import DIS5K_TEST_SPLITS
from pmgsam.data.io import DataNotFoundError
from pmgsam.evaluation.run_hints import missing_run_hint
from pmgsam.evaluation.scoring import EvaluationInputError
from pmgsam.utils.command_names import command_name
from pmgsam.utils.folder_lock import locked_folder
from pmgsam.utils.io import read_user_text, write_text_atomic

PathLike = Union[str, os.PathLike]
RESULT_SECTIONS = ("dis", "cos", "efficiency")


def read_run_file(path: Path) -> Dict[str, object]:
    """The object an existing run.json holds (``{}`` when there is none), or an error naming it."""
    if not path.exists():
        return {}
    try:
        data = json.loads(read_user_text(path))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise EvaluationInputError(f"cannot read run file '{path}': {err}") from err
    if not isinstance(data, dict):
        raise EvaluationInputError(
            f"run file '{path}' holds a JSON {type(data).__name__}, not an object"
        )
    return data


def checkpoint_meta(checkpoint: PathLike) -> Dict[str, str]:
    """run.json ``meta`` entries naming a checkpoint: as given, and resolved (what
    :func:`check_same_model` compares, whatever the working directory of a later run)."""
    return {"checkpoint": str(checkpoint), "checkpoint_resolved": str(Path(checkpoint).resolve())}


def recorded_checkpoint(meta: Mapping[str, Any]) -> str | None:
    """The weights path a run's ``meta`` records, as a later command must open it: its
    ``checkpoint_resolved`` where recorded (``checkpoint`` is as given, maybe relative to the
    folder the run was scored from, so read from another folder it would name no file, or
    another one), else ``checkpoint`` (a run.json older than that record); None for neither."""
    recorded = meta.get("checkpoint_resolved") or meta.get("checkpoint")
    return str(recorded) if recorded else None


def check_same_model(
    run_dir: PathLike,
    checkpoint: PathLike,
    baseline: str | None = None,
    option: str = "--output-dir",
) -> None:
    """Refuse to add results of ``checkpoint`` (run as ``baseline``, if one) to a run folder
    whose run.json holds another model's: the two would be merged into one table row.

    Called before anything is predicted. Paths are compared resolved: the recorded
    ``checkpoint_resolved`` (:func:`checkpoint_meta`), or for runs written before it existed
    the recorded path resolved against the current working directory; a training run or
    checkpoint folder stands for the weights file it holds (pmgsam.ablate records its
    variants' best weights file, which ``--checkpoint <variant>/train`` names too). When the
    recorded file is gone, a file holding the weights whose SHA-256 run.json records is the
    same model (the folders moved since).
    """
    path = Path(run_dir) / "run.json"
    meta = read_run_file(path).get("meta")
    if isinstance(meta, dict) and meta.get("scored_maps") and "checkpoint" not in meta:
        raise EvaluationInputError(
            f"{option} '{run_dir}' holds the row of maps scored as folders "
            f"({command_name('evaluate')} --run: another method's): scores of '{checkpoint}' "
            f"would join that row; choose another {option}"
        )
    if not isinstance(meta, dict) or "checkpoint" not in meta:
        return
    old = (_weights_file(recorded_checkpoint(meta) or meta["checkpoint"]), meta.get("baseline"))
    new = _weights_file(checkpoint)
    if old == (new, baseline) or (old[1] == baseline and _moved(meta, old[0], new)):
        return
    was = f"checkpoint '{meta['checkpoint']}'" + (f" with --baseline {old[1]}" if old[1] else "")
    # The names alone may be equal ('runs/A' then and now, in a copy of the project).
    where = f" ('{old[0]}', not '{new}')" if old[0] != new else ""
    raise EvaluationInputError(
        f"{option} '{run_dir}' holds the results of {was}{where}: scores of '{checkpoint}' "
        f"would be merged into the same table row; choose another {option} (or delete '{path}')"
    )


def _moved(meta: Mapping[str, Any], then: Path, weights: Path) -> bool:
    """The weights file ``then`` that ``meta`` records is gone and ``weights`` holds the weights
    whose SHA-256 it records: the same model, moved (with the project folder, or the run's)
    since, whose scores belong in the row. While ``then`` is there, another path is another
    checkpoint, even of the same bytes."""
    from pmgsam.utils.io import file_sha256

    if then.exists():
        return False
    made_with = meta.get("maps_made_with")  # a baseline's
    sha = meta.get("weights_sha256") or (
        made_with.get("weights_sha256") if isinstance(made_with, Mapping) else None
    )
    if not isinstance(sha, str) or not weights.is_file():
        return False
    return file_sha256(weights) == sha


def _weights_file(checkpoint: PathLike) -> Path:
    """The weights file a checkpoint path names, resolved (a PMG-SAM run or checkpoint folder:
    the file in it that would be loaded); the path itself resolved when it names none (a
    baseline's file, a path that no longer exists)."""
    from pmgsam.modeling.checkpoint import resolve_weights
    from pmgsam.modeling.weights import CheckpointError

    try:
        return resolve_weights(checkpoint).resolve()
    except (CheckpointError, OSError):
        return Path(checkpoint).resolve()


def check_measured_model(run_dir: PathLike, config: Any, option: str = "--run-dir") -> None:
    """Refuse to add the efficiency figures of the model ``config`` (a ``ModelConfig``) to
    ``run_dir`` unless it is an evaluated run of that model: the figures would describe
    another model than the scores of the same table row.

    The run must exist and hold a run.json, must not be a baseline's (its own command measures
    it), and the model it records (its checkpoint's config, or for an ablation run its config
    file) must have the same architecture and input size. A run.json that records no model
    (written by hand, or by the overlap analysis alone) is accepted.
    """
    path = Path(run_dir) / "run.json"
    if not path.is_file():
        where = "does not exist" if not Path(run_dir).exists() else "holds no run.json"
        raise EvaluationInputError(
            f"{option} '{run_dir}' {where}: give a run folder written by "
            f"{command_name('evaluate')} --output-dir (the figures join its table row), or "
            "keep them with --json"
        )
    meta = read_run_file(path).get("meta")
    meta = meta if isinstance(meta, dict) else {}
    if meta.get("baseline"):
        raise EvaluationInputError(
            f"{option} '{run_dir}' is a run of the {meta['baseline']} baseline, which has no "
            f"PMG-SAM model: its efficiency comes from {command_name('evaluate')} --baseline "
            "(--speed-iters)"
        )
    if meta.get("scored_maps") and "checkpoint" not in meta:
        raise EvaluationInputError(
            f"{option} '{run_dir}' holds the row of maps scored as folders "
            f"({command_name('evaluate')} --run: another method's), not of a PMG-SAM model: "
            "its figures would describe that method"
        )
    recorded = _recorded_model(meta, f"{option} '{run_dir}'")
    if recorded is None:
        return
    from pmgsam.modeling.checkpoint import architecture_diff

    source, run_config = recorded
    differences = architecture_diff(run_config, config)
    if differences:
        raise EvaluationInputError(
            f"{option} '{run_dir}' holds the results of {source}, another model than the one "
            f"measured; differences (run vs measured): {'; '.join(differences)}"
        )


def _recorded_model(meta: Mapping[str, Any], where: str) -> Tuple[str, Any] | None:
    """(description, ModelConfig) of the model a run's ``meta`` records, if it records one."""
    from pmgsam.modeling.weights import CheckpointError
    from pmgsam.utils.config import ConfigError

    try:
        if "checkpoint" in meta:
            from pmgsam.modeling.checkpoint import read_model_config, resolve_weights

            recorded = recorded_checkpoint(meta) or str(meta["checkpoint"])
            config = read_model_config(resolve_weights(recorded))
            return f"checkpoint '{meta['checkpoint']}'", config
        if "config" in meta:  # pmgsam.ablate's runs: the model is the config file's
            from pmgsam.engine.config import ExperimentConfig
            from pmgsam.utils.config import load_config

            overrides = [str(o) for o in meta.get("overrides") or []]
            config = load_config(ExperimentConfig, str(meta["config"]), overrides).model
            return f"config '{meta['config']}'", config
    except (CheckpointError, ConfigError, OSError) as err:
        raise EvaluationInputError(
            f"{where}: cannot tell which model its results are of ({err}); restore that "
            "file, or keep the figures with --json"
        ) from err
    return None


def write_run_json(
    run_dir: PathLike,
    method: str | None,
    dis: Mapping[str, Mapping] | None = None,
    cos: Mapping[str, Mapping] | None = None,
    efficiency: Mapping[str, float] | None = None,
    meta: Mapping[str, object] | None = None,
    drop: Mapping[str, Sequence[str]] | None = None,
    meta_entries: Mapping[str, Mapping] | None = None,
) -> Path:
    """Create or update ``<run_dir>/run.json``; sections given here replace same-named entries.

    ``method`` None keeps the row name a run already has (a new file gets the folder name):
    a command that only adds a section must not rename the row that another one named.
    ``drop``: ``{section: [keys]}`` removed from the file before the merge (an earlier timing
    that no longer describes the row). ``meta_entries``: ``{meta key: {entry: value}}`` merged
    into the object that meta key holds (a record per entry, e.g. ``scored_maps``) instead of
    replacing it. The folder is locked from the read to the rename
    (:func:`~pmgsam.utils.folder_lock.locked_folder`), so that commands writing one run at
    once (two splits scored in parallel) each keep the other's entries.
    """
    path = Path(run_dir) / "run.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    with locked_folder(path.parent):
        data = read_run_file(path)
        for name, keys in (drop or {}).items():
            if isinstance(data.get(name), dict):
                data[name] = {k: v for k, v in data[name].items() if k not in keys}
        if method is not None or not data.get("method"):
            data["method"] = method or Path(run_dir).resolve().name
        meta = dict(meta or {})
        recorded = data.get("meta") if isinstance(data.get("meta"), dict) else {}
        for key, entries in (meta_entries or {}).items():
            old = recorded.get(key)
            meta[key] = {**(old if isinstance(old, dict) else {}), **entries}
        for name, section in (("dis", dis), ("cos", cos), ("meta", meta)):
            if section:
                merged = dict(data.get(name) or {})
                merged.update(
                    {k: dict(v) if isinstance(v, Mapping) else v for k, v in section.items()}
                )
                data[name] = merged
        if efficiency:
            data["efficiency"] = {**(data.get("efficiency") or {}), **dict(efficiency)}
        write_text_atomic(path, json.dumps(data, indent=2) + "\n")
    return path


def load_runs(paths: Sequence[PathLike]) -> List[Dict[str, object]]:
    """Read run.json files (a path may be the run directory or the file itself).

    Raises naming the file: :class:`DataNotFoundError` when it is missing,
    :class:`EvaluationInputError` when it is not JSON, not an object, or holds no results (no
    non-empty ``dis``, ``cos`` or ``efficiency`` section). A combined DIS5K set that an earlier
    version stored under its parts' typed order is read under its current name.
    """
    runs = []
    for p in paths:
        p = Path(p)
        f = p / "run.json" if p.is_dir() else p
        if not f.is_file():
            hint = missing_run_hint(p)
            raise DataNotFoundError(f"no run.json in '{p}'{hint}")
        data = read_run_file(f)
        bad = [k for k in RESULT_SECTIONS if k in data and not isinstance(data[k], dict)]
        if bad:
            raise EvaluationInputError(f"run file '{f}': section(s) {bad} must be objects")
        if not any(data.get(k) for k in RESULT_SECTIONS):
            raise EvaluationInputError(
                f"run file '{f}' holds no results (no 'dis', 'cos' or 'efficiency' entries)"
            )
        data.setdefault("method", p.name if p.is_dir() else p.parent.name)
        if isinstance(data.get("dis"), dict):
            data["dis"] = _current_combined_names(data["dis"])
        runs.append(data)
    return runs


# The splits whose combined sets earlier versions stored under the order they were typed in.
_DIS5K_TEST_SPLITS = frozenset(DIS5K_TEST_SPLITS)


def _current_combined_names(dis: Dict[str, Any]) -> Dict[str, Any]:
    """``dis`` with a combined DIS5K set stored under an older order's name
    (``DIS-TE3+DIS-TE1``, as typed) renamed to the name it is stored under now
    (:func:`~pmgsam.evaluation.combined.combined_name`), so that one set is one table column;
    where both names are present the current one, written later, is kept. Other names with a
    ``+`` (a folder split may hold one) are left as they are."""
    from pmgsam.evaluation.combined import combined_name  # combined imports this module's users

    renamed: Dict[str, Any] = {}
    for key, entry in dis.items():
        parts = key.split("+")
        current = key
        if len(parts) > 1 and set(parts) <= _DIS5K_TEST_SPLITS and len(set(parts)) == len(parts):
            current = combined_name(key)
        if current != key and current in dis:
            continue
        renamed[current] = entry
    return renamed
