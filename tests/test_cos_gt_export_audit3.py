"""What the COS ground-truth export does besides writing the file, each untested before: a
carved split is drawn without saving a split file, --data-root is the dataset read, a folder
dataset with data.instance_dir is a COS dataset, and COD10K with its NonCAM images is refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cos_cases import export_gt, nc4k_config, tiny_config

from pmgsam.data.layouts import list_split
from pmgsam.engine.config import ExperimentConfig
from pmgsam.utils.config import ConfigError, load_config


def test_a_carved_split_is_exported_without_saving_its_split_file(
    nc4k_root: Path, tmp_path: Path
) -> None:
    config = nc4k_config(tmp_path, nc4k_root)
    gt = export_gt(config, "test", tmp_path / "gt.json")
    assert not (tmp_path / "splits").exists()
    # The images training holds out: its draw of the same seed, saved this time. A draw in
    # memory that differs from it (other parts) would export training images as the test set.
    data = load_config(ExperimentConfig, config).data
    list_split(data, "train:train")
    assert (tmp_path / "splits").is_dir()
    saved = list_split(data, "test").names
    exported = [Path(im["file_name"]).stem for im in gt["images"]]
    assert 0 < len(exported) < 10 and sorted(exported) == sorted(saved)


def test_data_root_names_the_dataset_read(nc4k_root: Path, tmp_path: Path) -> None:
    config = nc4k_config(tmp_path, tmp_path / "not_here")
    gt = export_gt(config, "all", tmp_path / "gt.json", "--data-root", nc4k_root)
    assert len(gt["images"]) == 10


def test_a_folder_dataset_with_instance_maps_is_exported(nc4k_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "mine"
    for source, target in (("Imgs", "images"), ("GT", "masks"), ("Instance", "instances")):
        shutil.copytree(nc4k_root / source, root / target)
    data = {"dataset": "folder", "root": str(root), "instance_dir": "instances"}
    data.update(train_split="all", val_split=None, test_splits=["all"], num_workers=0)
    mine = export_gt(tiny_config(tmp_path, data), "all", tmp_path / "mine.json")
    nc4k = export_gt(nc4k_config(tmp_path, nc4k_root), "all", tmp_path / "nc4k.json")
    assert mine["annotations"] == nc4k["annotations"] and mine["images"] == nc4k["images"]
    data.pop("instance_dir")
    with pytest.raises(ConfigError, match="folder has no instance labels"):
        export_gt(tiny_config(tmp_path, data), "all", tmp_path / "none.json")


def test_cod10k_with_its_noncam_images_is_refused(cod10k_root: Path, tmp_path: Path) -> None:
    data = {"dataset": "cod10k", "root": str(cod10k_root), "cam_only": False, "num_workers": 0}
    data.update(train_split="Train", val_split=None, test_splits=["Test"])
    out = tmp_path / "gt.json"
    with pytest.raises(ConfigError, match="data.cam_only is false"):
        export_gt(tiny_config(tmp_path, data), "Test", out)
    assert not out.exists()
