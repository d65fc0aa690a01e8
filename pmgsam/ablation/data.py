"""The training data of an ablation grid's variants (used by :mod:`pmgsam.ablate`).

The variants of one output folder must have learned from the same images: a variant trained
before the dataset changed (images added, replaced or regenerated under the same folder, or
another ``data.root`` given) beside one trained after it would compare training sets, not
components, though their configs agree (:mod:`pmgsam.ablation.checks` lets the data folder move,
as a resumed run may). So a finished variant's done file records the fingerprint of its
training and validation files (:func:`~pmgsam.engine.train_data.data_fingerprint`, what its
training state holds), and the variants of one folder, with those about to be trained on the
data found now, must share one. Variants finished before this record are not compared.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Mapping, Sequence

from pmgsam.utils.config import ConfigError

#: The done file's entry (named as the training state's).
DATA_KEY = "data_sample_fingerprint"


def training_data_fingerprint(path: Path, overrides: Sequence[str], train_dir: Path) -> str:
    """The fingerprint of the training and validation files the config ``path`` with
    ``overrides`` would train on now (split files are read, not written)."""
    from pmgsam.data import build_dataset, train_val_split_names
    from pmgsam.data.splits import read_only_splits
    from pmgsam.engine.state import experiment_config
    from pmgsam.engine.train_data import data_fingerprint

    cfg = experiment_config(path, overrides, output_dir=train_dir)
    train_name, val_name = train_val_split_names(cfg.data)
    with read_only_splits("pmgsam.ablate compares the variants' training data"):
        train_set = build_dataset(cfg.data, train_name, cfg.model.image_size, train=True)
        val_set = build_dataset(cfg.data, val_name, cfg.model.image_size, train=False)
    return data_fingerprint(cfg.data.root, train_set, val_set)


def recorded_fingerprint(done_file: Path) -> str | None:
    """The fingerprint a variant's done file records, or None (none recorded, or no file)."""
    try:
        done = json.loads(done_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = done.get(DATA_KEY) if isinstance(done, dict) else None
    return value if isinstance(value, str) and value else None


def check_same_training_data(
    out: Path, finished: Mapping[str, Path], planned: Mapping[str, str]
) -> None:
    """Refuse variants of ``out`` that learned, or would learn, from other data than the rest:
    ``finished`` maps names to their done files, ``planned`` names to the fingerprint of the
    data they would be trained on now. The variants outside the largest agreeing group are
    named."""
    prints: Dict[str, str] = {}
    for name, done_file in finished.items():
        value = recorded_fingerprint(done_file)
        if value is not None:
            prints[name] = value
    prints.update(planned)
    groups: Dict[str, List[str]] = {}
    for name, value in prints.items():
        groups.setdefault(value, []).append(name)
    if len(groups) < 2:
        return
    largest = max(groups.values(), key=len)
    odd = [n for n in prints if n not in largest]

    def told(names: Sequence[str]) -> str:
        return ", ".join(f"{n} (to be trained now)" if n in planned else n for n in names)

    raise ConfigError(
        f"the ablation runs under '{out}' (finished, or about to be trained) did not all learn "
        f"from the same training and validation images: {told(odd)} on other files than "
        f"{told(largest)} (their paths under data.root, sizes and first and last bytes differ: "
        "the dataset changed between trainings, or another data.root was given). Their rows "
        "and plot points would compare training sets, not components: train every variant on "
        "the same data (remove the odd runs' folders and train them again), or keep them apart "
        "with another --output-dir"
    )
