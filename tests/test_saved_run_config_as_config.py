"""An older run's saved config.yaml given back as ``--config``: the path fields it saved as '',
which then meant not set, read as None (as resuming it reads them), and the fields added since
take the value it was trained with. A hand-written file with '' there is still refused, naming
the key, and so is an override setting one empty."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pmgsam.engine.config import ExperimentConfig
from pmgsam.evaluation import export_cos_gt
from pmgsam.modeling.checkpoint import CHECKPOINTS
from pmgsam.utils.config import ConfigError, load_config, to_dict


def _as_an_older_pmgsam_saved_it(folder: Path, **data: object) -> Path:
    """``folder/config.yaml`` as train.py of an older pmgsam wrote it: the whole config, its
    unset paths as '', without ``data.reduced_decode`` (added since; those runs decoded full
    size); ``data`` overrides data section values."""
    saved = to_dict(ExperimentConfig())
    saved["model"].update(hiera_checkpoint="", u2net_checkpoint="", sam_checkpoint="")
    saved["data"].update(split_dir="", instance_dir="", **data)
    del saved["data"]["reduced_decode"]
    saved["train"]["init_from"] = ""
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(saved, sort_keys=False), encoding="utf-8")
    return folder / "config.yaml"


def _run(tmp_path: Path, **data: object) -> Path:
    config = _as_an_older_pmgsam_saved_it(tmp_path / "old_run", **data)
    (config.parent / CHECKPOINTS / "best").mkdir(parents=True)
    (config.parent / "train.log").touch()  # every run's, created before its config.yaml
    return config


def test_a_run_config_loads_with_its_empty_paths_unset(tmp_path: Path) -> None:
    config = load_config(ExperimentConfig, _run(tmp_path))
    model, data = config.model, config.data
    assert (model.hiera_checkpoint, model.u2net_checkpoint, model.sam_checkpoint) == (None,) * 3
    assert (data.split_dir, data.instance_dir, config.train.init_from) == (None, None, None)
    assert data.reduced_decode is False  # today's default is True


def test_the_rule_still_holds_for_other_files_and_for_overrides(tmp_path: Path) -> None:
    hand_written = _as_an_older_pmgsam_saved_it(tmp_path / "configs")  # no checkpoints/ beside
    with pytest.raises(ConfigError, match=r"'(model|data)\.[a-z_]+' is empty"):
        load_config(ExperimentConfig, hand_written)
    with pytest.raises(ConfigError, match=r"'data\.split_dir' is empty"):
        load_config(ExperimentConfig, _run(tmp_path), ["data.split_dir="])


def test_a_command_takes_the_run_config(tmp_path: Path, nc4k_root: Path) -> None:
    nc4k = {"dataset": "nc4k", "root": str(nc4k_root), "train_split": "train"}
    config = _run(tmp_path, **nc4k, val_split=None, test_splits=["test"], num_workers=0)
    out = tmp_path / "gt.json"
    assert export_cos_gt.main(["--config", str(config), "--split", "all", "--out", str(out)]) == 0
    assert len(json.loads(out.read_text())["images"]) == 10
