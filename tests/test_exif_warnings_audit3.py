"""Square photos carrying an EXIF orientation are named wherever training starts without
data.check_files: in any of the datasets (the validation split's too), for any turn or flip
(a half turn keeps even a non-square size), and when SAM fine-tuning starts as well."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from mask_cases import corner_mask, exif_photo

from pmgsam.baselines import finetune_sam, sam
from pmgsam.data.datasets import SegmentationDataset, warn_oriented_images
from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.distributed import DistInfo
from pmgsam.engine.train_data import build_training_data


def _pair(root: Path, stem: str, orientation: int, size: int = 24) -> None:
    exif_photo(root / "images" / f"{stem}.jpg", size, size, orientation)
    corner_mask(root / "masks" / f"{stem}.png", size, size)


def _oriented_warnings(caplog) -> list:
    return [r.getMessage() for r in caplog.records if "EXIF orientation" in r.getMessage()]


def test_every_dataset_and_every_turn_or_flip_is_named(tmp_path, caplog) -> None:
    _pair(tmp_path / "a", "upright", 1)
    _pair(tmp_path / "b", "upside_down", 3)
    _pair(tmp_path / "b", "mirrored", 2)
    sets = [
        SegmentationDataset(sorted((d / "images").iterdir()), sorted((d / "masks").iterdir()), 16)
        for d in (tmp_path / "a", tmp_path / "b")
    ]
    with caplog.at_level(logging.WARNING, logger="pmgsam"):
        warn_oriented_images(sets)
    (message,) = _oriented_warnings(caplog)
    assert message.startswith("2 image(s) carry an EXIF orientation")
    assert "mirrored.jpg (2)" in message and "upside_down.jpg (3)" in message
    assert "upright" not in message


def test_training_names_an_oriented_validation_photo(tmp_path, data_config, caplog) -> None:
    _pair(tmp_path / "train", "upright", 1)
    _pair(tmp_path / "val", "upright", 1)
    _pair(tmp_path / "val", "phone", 6)
    cfg = data_config("folder", tmp_path, train_split="train", val_split="val")
    config = ExperimentConfig(data=cfg)
    config.model.image_size = 32
    with caplog.at_level(logging.WARNING, logger="pmgsam"):
        build_training_data(config, DistInfo(rank=0, world_size=1), torch.device("cpu"))
    (message,) = _oriented_warnings(caplog)
    assert "phone.jpg (6)" in message


def test_sam_fine_tuning_names_an_oriented_photo_before_the_model_loads(
    tmp_path, monkeypatch, caplog
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the model loaded")

    monkeypatch.setattr(sam, "load", refuse)
    root = tmp_path / "data"
    for split in ("train", "val"):
        _pair(root / split, "upright", 1)
    _pair(root / "train", "phone", 8)
    config = tmp_path / "ft.yaml"
    data = {"dataset": "folder", "root": str(root), "num_workers": 0, "train_split": "train"}
    data.update(val_split="val", test_splits=["val"], split_dir=str(tmp_path / "splits"))
    config.write_text(yaml.safe_dump({"data": data, "finetune": {"epochs": 1}}))
    checkpoint = tmp_path / "never_loaded.pth"
    checkpoint.write_bytes(b"")
    argv = ["--model-type", "vit_b", "--checkpoint", checkpoint, "--config", config]
    argv += ["--output", tmp_path / "out.pth", "--device", "cpu"]
    with caplog.at_level(logging.WARNING, logger="pmgsam"):
        with pytest.raises(RuntimeError, match="the model loaded"):
            finetune_sam.main([str(a) for a in argv])
    (message,) = _oriented_warnings(caplog)
    assert "phone.jpg (8)" in message
