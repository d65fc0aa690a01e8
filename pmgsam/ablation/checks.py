"""What keeps the rows of an ablation grid comparable (used by :mod:`pmgsam.ablate`).

Table 4 and Fig. 9 compare variants that differ in one component each and in nothing else
("all experiments share the same training environment and hyperparameters"). So:

* an override of a key that a config of the grid switches is refused (:func:`check_overrides`);
* a variant trained already is trained, resumed or scored only with the settings it was
  trained with (:func:`check_finished_config`);
* the finished variants of one output folder must agree in every setting that none of the
  grid's configs switches (:func:`check_comparable_runs`): a variant trained for another number
  of epochs, or at another image size, would sit in the table and the plots beside the others.

Keys that do not change what is learned (:data:`~pmgsam.engine.config.RESUMABLE_CHANGES`:
output folder, loader workers, logging, speed options) and the dataset / frozen-weight
locations (:data:`~pmgsam.engine.resume_checks.MOVABLE`, which a run may find moved) may differ.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Dict, List, Sequence

from pmgsam.utils.config import ConfigError, to_dict
from pmgsam.utils.config_files import BASE_KEY, read_yaml_mapping

DONE_FILE = "ablate_done.json"


def switched_keys(path: Path) -> List[str]:
    """Dotted keys a config file sets itself (not through ``base:``), output_dir excluded."""
    raw = read_yaml_mapping(path)

    def walk(node: Any, prefix: str) -> List[str]:
        if isinstance(node, dict):
            return [k for key, v in node.items() for k in walk(v, f"{prefix}{key}.")]
        return [prefix[:-1]]

    return [k for k in walk(raw, "") if k not in (BASE_KEY, "output_dir")]


def check_overrides(paths: Dict[str, Path], overrides: Sequence[str]) -> None:
    """Refuse overrides of keys that some config of the grid switches."""
    switched = {k: n for n, p in paths.items() for k in switched_keys(p)}
    for item in overrides:
        key = item.split("=", 1)[0].strip()
        if key in switched:
            raise ConfigError(
                f"override '{item}' sets '{key}', which config '{switched[key]}' of the grid "
                "ablates; leave it to the configs"
            )


def _saved_config(train_dir: Path) -> Dict[str, Any] | None:
    """The config a variant was trained with (its run folder's config.yaml), or None; a
    ConfigError naming the file when it is not YAML, not a mapping, or empty."""
    from pmgsam.engine.state import CONFIG_FILE, with_legacy_fields

    saved = train_dir / CONFIG_FILE
    if not saved.is_file():
        return None
    with warnings.catch_warnings():  # an empty one: refused below, not taken for defaults
        warnings.simplefilter("ignore")
        data = read_yaml_mapping(saved)
    if not data:
        raise ConfigError(
            f"'{saved}', the config the variant in '{train_dir}' was trained with, holds no "
            "settings (every run saves its whole config): with it the variant cannot be checked "
            "against its config; put the run's config.yaml back, or move the variant's folder "
            "away to train it again"
        )
    # Always read as the run saved it, not through read_experiment_file (which does so only
    # beside train.log): this folder is the variant's training folder that ablate itself
    # trains, resumes and scores, and resuming it reads the saved config so (the training
    # state's, in load_state); compared otherwise, an older run (missing legacy fields, ''
    # paths) would differ from the config it resumes with.
    return with_legacy_fields(data)


def check_finished_config(path: Path, train_dir: Path, overrides: Sequence[str]) -> None:
    """Refuse to reuse a variant trained with another config than ``path`` with ``overrides``
    now gives: its row would sit in the table beside rows trained otherwise."""
    from pmgsam.engine.resume_checks import resume_differences
    from pmgsam.engine.state import experiment_config

    saved = _saved_config(train_dir)
    if saved is None:
        return
    now = experiment_config(path, overrides, output_dir=train_dir)
    differences = resume_differences(saved, now)
    if differences:
        state = "finished" if (train_dir / DONE_FILE).is_file() else "partly trained"
        raise ConfigError(
            f"{path.stem}: {state} in '{train_dir}' with another config (saved vs now: "
            f"{'; '.join(differences)}); its row would not be comparable: use another "
            "--output-dir for these overrides, or the overrides it was trained with"
        )


def _free_to_differ(paths: Dict[str, Path]) -> List[str]:
    """Dotted keys (or whole sections) in which two variants' saved configs may differ."""
    from pmgsam.engine.config import RESUMABLE_CHANGES
    from pmgsam.engine.resume_checks import MOVABLE

    keys = set(RESUMABLE_CHANGES).union(*(k for k, _ in MOVABLE.values()))
    return sorted(keys.union(*(switched_keys(p) for p in paths.values())))


def _flat(node: Any, skip: Sequence[str], prefix: str = "") -> Dict[str, Any]:
    """``{dotted key: value}`` of a config dict, leaving out ``skip`` keys and sections."""
    out: Dict[str, Any] = {}
    for key, value in node.items():
        dotted = f"{prefix}{key}"
        if dotted in skip:
            continue
        if isinstance(value, dict):
            out.update(_flat(value, skip, dotted + "."))
        else:
            out[dotted] = value
    return out


def has_trained(train_dir: Path) -> bool:
    """A variant's run folder holds a finished run or a resumable (interrupted) one."""
    from pmgsam.engine.state import STATE_FILE, checkpoint_dir

    last = checkpoint_dir(train_dir, "last") / STATE_FILE
    return (train_dir / DONE_FILE).is_file() or last.is_file()


def check_grid_runs(
    paths: Dict[str, Path], chosen: Sequence[str], out: Path, overrides: Sequence[str], train: bool
) -> None:
    """Before any work: the chosen variants trained already match the overrides given now
    (only when training or scoring, which use them), and every finished variant under
    ``out``, with the ones ``train`` will train now, agrees in what no config switches and in
    its training data (:mod:`pmgsam.ablation.data`)."""
    from pmgsam.ablation.data import (
        check_same_training_data,
        recorded_fingerprint,
        training_data_fingerprint,
    )
    from pmgsam.engine.state import experiment_config

    planned: Dict[str, Dict[str, Any]] = {}
    for name in chosen:
        train_dir = out / name / "train"
        if has_trained(train_dir):
            check_finished_config(paths[name], train_dir, overrides)
        elif train:
            planned[name] = to_dict(experiment_config(paths[name], overrides, output_dir=train_dir))
    check_comparable_runs(paths, out, planned)
    finished = {n: out / n / "train" / DONE_FILE for n in paths}
    finished = {n: f for n, f in finished.items() if f.is_file()}
    prints: Dict[str, str] = {}
    # The data is read only when a finished variant records what it learned from: else there
    # is nothing to compare the new ones with (they record theirs as they finish).
    if any(recorded_fingerprint(f) for f in finished.values()):
        by_data: Dict[str, str] = {}  # the variants share a data section unless one sets it
        for name, cfg in planned.items():
            key = json.dumps(cfg.get("data"), sort_keys=True, default=str)
            if key not in by_data:
                train_dir = out / name / "train"
                by_data[key] = training_data_fingerprint(paths[name], overrides, train_dir)
            prints[name] = by_data[key]
    check_same_training_data(out, finished, prints)


def check_comparable_runs(
    paths: Dict[str, Path], out: Path, planned: Dict[str, Dict[str, Any]] | None = None
) -> None:
    """Refuse an output folder whose finished variants (``<out>/<name>/train``), and the
    ``planned`` configs of variants about to be trained there, differ in more than the keys
    the grid's configs switch: their rows and plot points would compare training runs, not
    components. The variants that differ from the largest group of agreeing ones are named
    with each differing setting."""
    skip = _free_to_differ(paths)
    flat: Dict[str, Dict[str, Any]] = {}
    for name in paths:
        train_dir = out / name / "train"
        saved = _saved_config(train_dir) if (train_dir / DONE_FILE).is_file() else None
        saved = (planned or {}).get(name, saved)
        if saved is not None:
            flat[name] = _flat(saved, skip)
    groups: Dict[str, List[str]] = {}
    for name, settings in flat.items():
        groups.setdefault(json.dumps(settings, sort_keys=True, default=str), []).append(name)
    if len(groups) < 2:
        return
    # Most variants agree on the intended settings; ties go to the grid's first variant.
    largest = max(groups.values(), key=len)
    ref = flat[largest[0]]
    odd, named = [], []
    for name in (n for n in flat if n not in largest):
        changed = [
            k
            for k in sorted(set(flat[name]) | set(ref))
            if flat[name].get(k, KeyError) != ref.get(k, KeyError)
        ]
        named += [k for k in changed if k not in named]
        odd.append(f"{name} ({'; '.join(f'{k}: {flat[name].get(k)!r}' for k in changed)})")
    raise ConfigError(
        f"the ablation runs under '{out}' (finished, or about to be trained) were not all "
        f"trained with the same settings: {', '.join(odd)}, where {', '.join(largest)} have "
        f"{'; '.join(f'{k}: {ref.get(k)!r}' for k in named)}. Their rows and plot points "
        "would not be comparable: train each variant with the same overrides (remove the odd "
        "runs' folders and train them again), or keep them apart with another --output-dir"
    )
