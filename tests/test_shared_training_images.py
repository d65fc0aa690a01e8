"""A test split (or the validation split) holding training images is said once when a run
starts, not only when benchmark mode refuses to score it after training: by the same identity
as that refusal (file names), from the split listings alone, and without refusing the run (a
sanity check may score training images on purpose). Counts are derived by hand from the
synthetic datasets: DIS-TR has 8 images, so ``DIS-TR:val`` holds round(0.2 * 8) = 2 of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest
from mask_cases import folder_split

from pmgsam.data import build_dataset, train_val_split_names
from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.train_data import shared_training_images
from pmgsam.engine.trainer import Trainer
from pmgsam.engine.training_log import LOG_FILE
from pmgsam.modeling.build import model_config
from pmgsam.utils.config import from_dict, to_dict


def _shared(cfg) -> List[tuple]:
    train, val = train_val_split_names(cfg)
    train_set = build_dataset(cfg, train, 64, train=True)
    return shared_training_images(cfg, train_set, build_dataset(cfg, val, 64, train=False))


def test_a_test_split_carved_from_the_training_split_is_found(dis5k_root, data_config) -> None:
    cfg = data_config("dis5k", dis5k_root, test_splits=["DIS-VD", "DIS-TE1", "DIS-TR:val"])
    # DIS-VD as validation and test split is the DIS5K protocol: no training image there.
    assert _shared(cfg) == [("data.test_splits[2]", "DIS-TR:val", 2)]
    # Drawn as benchmark mode draws it, in memory: no split file appears in the dataset's.
    assert not Path(cfg.split_dir).exists() or not any(Path(cfg.split_dir).iterdir())


def test_a_test_split_listed_twice_is_named_once(dis5k_root, data_config) -> None:
    cfg = data_config("dis5k", dis5k_root, test_splits=["DIS-TR:val", "DIS-TE1", "DIS-TR:val"])
    assert _shared(cfg) == [("data.test_splits[0]", "DIS-TR:val", 2)]
    # A split after a repeated one keeps its own place in the config's list.
    cfg = data_config("dis5k", dis5k_root, test_splits=["DIS-TE1", "DIS-TE1", "DIS-TR:val"])
    assert _shared(cfg) == [("data.test_splits[2]", "DIS-TR:val", 2)]


def test_the_training_split_named_as_a_test_split_shares_all_its_images(
    dis5k_root, data_config
) -> None:
    cfg = data_config("dis5k", dis5k_root, test_splits=["DIS-TE1", "DIS-TR"])
    assert _shared(cfg) == [("data.test_splits[1]", "DIS-TR", 8)]


def test_the_images_trained_on_count_not_the_split_they_are_carved_from(
    cod10k_root, data_config
) -> None:
    # val_split null trains on Train:train; Train:val (its validation part) holds none of them,
    # though Train, the split named in data.train_split, holds it all.
    cfg = data_config("cod10k", cod10k_root, test_splits=["Test", "Train:val"])
    assert _shared(cfg) == []


def test_a_validation_folder_holding_a_training_name_is_found(tmp_path, data_config) -> None:
    # Sub-folders a and b are splits of their own names, which the config's name check lets
    # pass; "test" (drawn from a pool the folder lacks) cannot be listed and is skipped.
    folder_split(tmp_path / "data", "a", ["x", "y", "z"])
    folder_split(tmp_path / "data", "b", ["y", "w"])
    cfg = data_config("folder", tmp_path / "data", train_split="a", val_split="b")
    assert cfg.test_splits == ["test"]
    assert _shared(cfg) == [("data.val_split", "b", 1)]


@pytest.mark.usefixtures("one_thread", "small_branches")
def test_a_run_starts_and_says_it_once_in_its_log(
    tmp_path: Path, dis5k_root: Path, data_config: Callable[..., Any]
) -> None:
    data = data_config("dis5k", dis5k_root, test_splits=["DIS-TE1", "DIS-TR:val"])
    values: Dict[str, Any] = {
        "model": to_dict(model_config("pmgsam_tiny", image_size=64)),
        "data": to_dict(data),
        "schedule": {"epochs": 1, "warmup_epochs": 0},
        "train": {"batch_size": 4, "device": "cpu", "preview_every": 0},
        "output_dir": str(tmp_path / "run"),
    }
    trainer = Trainer(from_dict(ExperimentConfig, values))
    trainer.close()
    lines = (tmp_path / "run" / LOG_FILE).read_text().splitlines()
    said = [line for line in lines if "shares images" in line]
    assert len(said) == 1 and "WARNING" in said[0]
    assert "'DIS-TR' (8 images)" in said[0] and "data.test_splits[1] 'DIS-TR:val': 2" in said[0]
    assert "DIS-TE1" not in said[0]
