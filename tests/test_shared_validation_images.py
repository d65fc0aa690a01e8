"""The start-of-run warning about shared images also names a test split that holds validation
images, unless it is the validation split itself (DIS-VD as both is the DIS5K protocol); and a
carved test split listed for that check without a split file is said to be listed only for it,
not that only training saves split files (this is training). Counts are derived by hand from
the folders built here."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import List

from mask_cases import folder_split

from pmgsam.data import build_dataset, train_val_split_names
from pmgsam.engine.train_data import shared_validation_images, warn_shared_images


def _warn(cfg, caplog) -> List[str]:
    train, val = train_val_split_names(cfg)
    train_set = build_dataset(cfg, train, 64, train=True)
    val_set = build_dataset(cfg, val, 64, train=False)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        warn_shared_images(cfg, train_set, val_set)
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_a_test_split_holding_validation_images_is_named(tmp_path, data_config, caplog) -> None:
    # b validates; c (a test split) holds one of b's two images and none of a's.
    folder_split(tmp_path / "data", "a", ["x", "y"])
    folder_split(tmp_path / "data", "b", ["v", "w"])
    folder_split(tmp_path / "data", "c", ["w", "z"])
    cfg = data_config(
        "folder", tmp_path / "data", train_split="a", val_split="b", test_splits=["b", "c"]
    )
    val_set = build_dataset(cfg, "b", 64, train=False)
    # b as a test split is the validation split itself: not counted.
    assert shared_validation_images(cfg, val_set) == [("data.test_splits[1]", "c", 1)]
    (said,) = _warn(cfg, caplog)
    assert said.startswith("the validation split 'b' (2 images) shares images")
    assert "data.test_splits[1] 'c': 1" in said and "'b':" not in said
    assert "training split" not in said  # a holds none of b's or c's names


def test_a_carved_validation_split_whose_images_a_test_folder_copies(
    tmp_path, data_config, caplog
) -> None:
    # val_split null: a:train / a:val carved from a's 5 images, round(0.2 * 5) = 1 validates;
    # c copies all of a, so it holds the 4 training images and the validation one: one warning
    # says both.
    names = ["p", "q", "r", "s", "t"]
    folder_split(tmp_path / "data", "a", names)
    folder_split(tmp_path / "data", "c", names)
    cfg = data_config("folder", tmp_path / "data", train_split="a", test_splits=["c"])
    (said,) = _warn(cfg, caplog)
    assert "the training split 'a:train' (4 images)" in said
    assert "data.test_splits[0] 'c': 4" in said
    assert "the validation split 'a:val' (1 images)" in said
    assert "data.test_splits[0] 'c': 1" in said


def test_dis5k_validation_split_as_a_test_split_is_silent(dis5k_root, data_config, caplog) -> None:
    cfg = data_config("dis5k", dis5k_root, test_splits=["DIS-VD", "DIS-TE1", "DIS-TE2"])
    assert _warn(cfg, caplog) == []


def test_a_carved_test_split_without_a_file_is_said_to_be_only_listed(
    dis5k_root, data_config, caplog
) -> None:
    cfg = data_config("dis5k", dis5k_root, test_splits=["DIS-TE1", "DIS-TR:val"])
    _warn(cfg, caplog)
    drawn = [r.getMessage() for r in caplog.records if "does not exist" in r.getMessage()]
    assert len(drawn) == 1 and "train/val drawn with seed 0 in memory, not saved" in drawn[0]
    assert "(test split 'DIS-TR:val' is only listed here, to check it for shared" in drawn[0]
    assert "only training saves" not in drawn[0]
    split_dir = Path(cfg.split_dir)
    assert not split_dir.exists() or not any(split_dir.iterdir())  # drawn, not saved


def test_every_split_sharing_training_images_is_listed(tmp_path, data_config, caplog) -> None:
    # a trains on x, y; b (validation) holds x, c (a test split) holds y: one clause, both named.
    folder_split(tmp_path / "data", "a", ["x", "y"])
    folder_split(tmp_path / "data", "b", ["x", "v"])
    folder_split(tmp_path / "data", "c", ["y", "z"])
    cfg = data_config(
        "folder", tmp_path / "data", train_split="a", val_split="b", test_splits=["c"]
    )
    (said,) = _warn(cfg, caplog)
    assert "other splits of the config: data.val_split 'b': 1; data.test_splits[0] 'c': 1;" in said
    assert "the validation split" not in said  # c holds none of b's names
