"""A folder dataset whose split is not there says where it looked, what it expected there and
what it found (it said only "valid: []"); the unread-format warning about an image folder is
given once, though the train, val and test splits carved from it each list that folder."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from mask_cases import folder_split

from pmgsam.data.io import DataError
from pmgsam.data.layouts import list_split


def _refusal(cfg, split: str) -> str:
    with pytest.raises(DataError) as err:
        list_split(cfg, split)
    return str(err.value)


def test_an_all_folder_is_named_as_no_split_with_the_root_to_set(tmp_path, data_config) -> None:
    folder_split(tmp_path, "all", ["a", "b"])
    cfg = data_config("folder", tmp_path, train_split="all")
    message = _refusal(cfg, "all")
    assert f"split 'all' is '{tmp_path / 'images'}' + '{tmp_path / 'masks'}'" in message
    assert f"split '<name>' is '{tmp_path}/<name>/images' + '{tmp_path}/<name>/masks'" in message
    assert f"'{tmp_path}' holds the folders: all" in message
    assert f"set data.root to '{tmp_path / 'all'}'" in message


def test_a_split_named_that_is_not_there_names_the_folders_found(tmp_path, data_config) -> None:
    folder_split(tmp_path, "training", ["a"])
    folder_split(tmp_path, "validation", ["b"])
    message = _refusal(data_config("folder", tmp_path), "train")
    assert f"'{tmp_path}' holds the folders: training, validation, none named 'train'" in message
    assert "'all/'" not in message  # no such folder: no advice about one


def test_a_split_folder_without_the_image_folder_says_what_it_holds(tmp_path, data_config) -> None:
    (tmp_path / "train" / "img").mkdir(parents=True)
    (tmp_path / "train" / "gt").mkdir()
    message = _refusal(data_config("folder", tmp_path), "train")
    assert f"'{tmp_path / 'train'}' has no 'images' folder (its folders: gt, img)" in message
    assert "(data.image_dir 'images', data.mask_dir 'masks')" in message


def test_a_missing_root_is_named(tmp_path, data_config) -> None:
    root = tmp_path / "nowhere"
    message = _refusal(data_config("folder", root), "all")
    assert f"'{root}' does not exist (data.root)" in message


def test_unread_formats_are_named_once_for_the_splits_carved_from_one_folder(
    tmp_path: Path, data_config
) -> None:
    folder_split(tmp_path, "", [f"p{i}" for i in range(10)])
    (tmp_path / "images" / "IMG_9.heic").write_bytes(b"a phone photo")
    cfg = data_config("folder", tmp_path, train_split="train:train")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # Python's own once-per-place rule is not the test
        for split in ("train:train", "train:val", "test", "all"):
            assert list_split(cfg, split).names
    named = [str(w.message) for w in caught if "formats that are not read" in str(w.message)]
    assert len(named) == 1 and "IMG_9.heic" in named[0]
