"""An empty or blank config value of a key naming a path, a split or an ablation config is a
ConfigError naming the key (`key=` sets an empty value): it was read as not given, or as '.',
the current folder. Runs and checkpoints saved with '' where it meant not set still load."""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from pathlib import Path
from typing import Any, Iterator, List, Tuple

import pytest
import torch
import yaml
from safetensors.torch import save_file

from pmgsam.ablate import GridSpec, load_grid
from pmgsam.baselines.finetune_recipe import SamFinetuneConfig
from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.state import with_legacy_fields
from pmgsam.modeling.checkpoint import FORMAT, read_model_config
from pmgsam.utils.config import (
    ConfigError,
    apply_overrides,
    from_dict,
    load_config,
    quoted_override,
    to_dict,
)

CONFIGS = Path(__file__).resolve().parents[1] / "configs"

# Written out by hand (not read from the fields' metadata), so that the sweep fails where a key
# takes '' again. Optional ones may be given as null instead.
EXPERIMENT_PATHS = {
    "output_dir": False,
    "train.init_from": True,
    "model.hiera_checkpoint": True,
    "model.u2net_checkpoint": True,
    "model.sam_checkpoint": True,
    "data.root": False,
    "data.train_split": False,
    "data.val_split": True,
    "data.split_dir": True,
    "data.image_dir": False,
    "data.mask_dir": False,
    "data.instance_dir": True,
}
FINETUNE_PATHS = {"finetune.cache_dir": True}
LIST_PATHS = {"data.test_splits"}  # each item (test_an_empty_item_of_a_split_list_is_named)
# Text fields where '' is not a path: choices, refused by their own check, and display text.
NOT_PATHS = {
    "data.dataset",
    "model.hiera",
    "model.u2net",
    "model.fusion",
    "model.high_res",
    "model.decoder_activation",
    "schedule.kind",
    "train.amp",
    "train.device",
    "performance.compile_scope",
    "performance.compile_mode",
    "finetune.embedding_cache",
    "finetune.encoder_dtype",
    "finetune.targets",
    "table.title",
    "table.rows.label",
    "plots.title",
    "plots.xlabel",
    "plots.series.label",
}
GRID_PATHS = {"splits", "table.rows.config", "plots.name", "plots.key", "plots.series.configs"}


def _text_fields(cls: Any, prefix: str = "") -> Iterator[str]:
    """Dotted names of every field of ``cls`` (nested, list items included) holding text."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        tp = hints[f.name]
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        inner = args[0] if typing.get_origin(tp) in (typing.Union, list) and args else tp
        if dataclasses.is_dataclass(inner):
            yield from _text_fields(inner, f"{key}.")
        elif inner is str:
            yield key


def test_every_text_field_is_classified() -> None:
    # A new text field must be placed: a path or name refused empty, or text that may be.
    found = set(_text_fields(ExperimentConfig)) | set(_text_fields(SamFinetuneConfig))
    found |= set(_text_fields(GridSpec))
    paths = set(EXPERIMENT_PATHS) | set(FINETUNE_PATHS) | LIST_PATHS | GRID_PATHS
    assert found == paths | NOT_PATHS


def _cases() -> List[Tuple[Any, str, bool]]:
    paths = [(ExperimentConfig, k, o) for k, o in EXPERIMENT_PATHS.items()]
    return paths + [(SamFinetuneConfig, k, o) for k, o in FINETUNE_PATHS.items()]


@pytest.mark.parametrize("text, state", [("", "is empty"), (" \t", r"is blank \(' \\t'\)")])
@pytest.mark.parametrize("cls, key, optional", _cases(), ids=lambda c: getattr(c, "__name__", c))
def test_an_empty_path_is_refused_naming_the_key(cls, key, optional, text, state) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(cls, None, [quoted_override(key, text)])
    message = str(err.value)
    assert re.match(rf"config key '{re.escape(key)}' {state}: give \w", message), message
    assert message.split(" (override")[0].endswith(", or null") == optional
    if optional:  # null is how such a key is unset
        load_config(cls, None, [f"{key}=null"])


def test_the_override_key_equals_nothing_is_refused() -> None:
    # `key=` as typed on a command line, and a file's `key: ""`.
    with pytest.raises(ConfigError, match=r"'train.init_from' is empty.*override 'train.init_"):
        load_config(ExperimentConfig, None, ["train.init_from="])
    with pytest.raises(ConfigError, match=r"'data.split_dir' is empty"):
        from_dict(ExperimentConfig, {"data": {"split_dir": ""}})


def test_an_empty_item_of_a_split_list_is_named() -> None:
    with pytest.raises(ConfigError, match=r"'data.test_splits\[1\]' is empty: give a split name"):
        load_config(ExperimentConfig, None, ["data.test_splits=[DIS-TE1, '']"])


@pytest.mark.parametrize(
    "change, key",
    [
        (lambda g: g.update(splits=""), "splits"),
        (lambda g: g["table"]["rows"][0].update(config=""), "table.rows[0].config"),
        (lambda g: g["plots"][0].update(name=" "), "plots[0].name"),
        (lambda g: g["plots"][0].update(key=""), "plots[0].key"),
        (lambda g: g["plots"][0]["series"][0]["configs"].append(""), "configs[1]"),
    ],
)
def test_an_empty_grid_name_is_refused(change, key) -> None:
    grid = {
        "table": {"rows": [{"config": "full", "label": ""}]},
        "plots": [{"name": "p", "title": "", "key": "model.drfm_blocks", "xlabel": "",
                   "series": [{"label": "", "configs": ["full"]}]}],
    }  # fmt: skip
    from_dict(GridSpec, grid)  # empty titles and labels are display text
    change(grid)
    with pytest.raises(ConfigError, match=rf"{re.escape(key)}' is (empty|blank)"):
        from_dict(GridSpec, grid)


def test_a_saved_run_with_empty_paths_still_loads() -> None:
    # Saved by a version that took '' for these and read it as not set.
    saved = to_dict(ExperimentConfig())
    saved["train"]["init_from"] = ""
    saved["data"].update(split_dir="", instance_dir="")
    saved["model"].update(sam_checkpoint="", hiera_checkpoint="", u2net_checkpoint="")
    config = from_dict(ExperimentConfig, with_legacy_fields(saved))
    assert config.train.init_from is None and config.data.split_dir is None
    assert config.data.instance_dir is None and config.model.hiera_checkpoint is None
    # An override still may not set one empty.
    with pytest.raises(ConfigError, match="'data.split_dir' is empty"):
        from_dict(ExperimentConfig, apply_overrides(with_legacy_fields(saved), ["data.split_dir="]))


def test_a_checkpoint_with_empty_branch_paths_still_loads(tmp_path) -> None:
    stored = to_dict(ExperimentConfig().model)
    stored.update(hiera_checkpoint="", u2net_checkpoint="", sam_checkpoint="")
    path = tmp_path / "model.safetensors"
    metadata = {"format": FORMAT, "config": json.dumps(stored)}
    save_file({"w": torch.zeros(1)}, str(path), metadata=metadata)
    config = read_model_config(path)
    assert (config.hiera_checkpoint, config.u2net_checkpoint, config.sam_checkpoint) == (None,) * 3


def test_every_shipped_config_loads() -> None:
    experiments = [p for p in CONFIGS.rglob("*.yaml") if p.name != "grid.yaml"]
    finetune = [p for p in experiments if p.parent.name == "sam_finetune"]
    assert len(experiments) > 20 and len(finetune) == 3
    for path in experiments:
        load_config(SamFinetuneConfig if path in finetune else ExperimentConfig, path)
    spec, paths = load_grid(CONFIGS / "ablations")
    assert spec.splits and len(paths) > 10


def test_benchmark_reads_a_saved_run_with_an_empty_split_dir(tmp_path, dis5k_root) -> None:
    # Its training images are still found (the test splits are checked against them).
    from pmgsam.evaluation.benchmark import _training_names

    saved = to_dict(ExperimentConfig())
    saved["data"].update(root=str(dis5k_root), split_dir="")
    saved["train"]["init_from"] = ""
    run = tmp_path / "run"
    (run / "checkpoints" / "best").mkdir(parents=True)
    (run / "checkpoints" / "best" / "model.safetensors").write_bytes(b"")
    (run / "config.yaml").write_text(yaml.safe_dump(saved), encoding="utf-8")
    data_cfg = from_dict(ExperimentConfig, {"data": {"root": str(dis5k_root)}}).data
    splits, names = _training_names(str(run), data_cfg)
    assert splits == ("DIS-TR",) and len(names) == 8  # the fixture's 8 DIS-TR images
