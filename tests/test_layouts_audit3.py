"""Details of the folder-layout messages that a wrong version would get wrong while the earlier
tests pass: which unread files a missing pair names, when the once-per-folder warning is given
again, and which advice a split not found gets."""

from __future__ import annotations

import warnings

import pytest
from mask_cases import folder_split

from pmgsam.data.io import DataError
from pmgsam.data.layouts import list_split


def _refusal(cfg, split: str) -> str:
    with pytest.raises(DataError) as err:
        list_split(cfg, split)
    return str(err.value)


def _unread_warnings(cfg, split: str) -> list:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        list_split(cfg, split)
    return [str(w.message) for w in caught if "formats that are not read" in str(w.message)]


def test_a_missing_pair_names_only_its_own_partners_in_other_formats(tmp_path, data_config) -> None:
    folder_split(tmp_path, "", ["a", "b", "c"])
    for stem in ("b", "c"):
        (tmp_path / "masks" / f"{stem}.png").rename(tmp_path / "masks" / f"{stem}.webp")
    (tmp_path / "masks" / "notes.txt").write_text("who drew which mask")
    message = _refusal(data_config("folder", tmp_path, train_split="all"), "all")
    assert "; b.webp, c.webp are there, but masks are read from" in message
    assert message.endswith("files only: convert them")
    assert "notes.txt" not in message


def test_a_file_of_another_format_added_later_is_named_again(tmp_path, data_config) -> None:
    folder_split(tmp_path, "", ["a"])
    cfg = data_config("folder", tmp_path, train_split="all")
    (tmp_path / "images" / "IMG_1.heic").write_bytes(b"a phone photo")
    assert len(_unread_warnings(cfg, "all")) == 1
    assert _unread_warnings(cfg, "all") == []  # the same folder, the same files: said once
    (tmp_path / "images" / "IMG_2.heic").write_bytes(b"another one")
    (message,) = _unread_warnings(cfg, "all")
    assert "holds 2 file(s)" in message and "IMG_1.heic, IMG_2.heic" in message


def test_an_all_folder_without_images_gets_no_advice_to_use_it(tmp_path, data_config) -> None:
    (tmp_path / "all" / "pictures").mkdir(parents=True)
    message = _refusal(data_config("folder", tmp_path), "train")
    assert f"'{tmp_path}' holds the folders: all, none named 'train'" in message
    assert "set data.root" not in message


def test_a_split_folder_holding_no_folder_says_so(tmp_path, data_config) -> None:
    (tmp_path / "train").mkdir()
    message = _refusal(data_config("folder", tmp_path), "train")
    assert message.endswith(f"'{tmp_path / 'train'}' has no 'images' folder (nor any folder)")


def test_another_dataset_s_unknown_split_gets_no_folder_layout(tmp_path, data_config) -> None:
    message = _refusal(data_config("dis5k", tmp_path), "DIS-XX")
    assert "unknown split 'DIS-XX'" in message
    assert "folder dataset" not in message and "holds" not in message


def test_the_folders_found_are_named_in_natural_order(tmp_path, data_config) -> None:
    for name in ("fold10", "fold2"):
        (tmp_path / name).mkdir()
    message = _refusal(data_config("folder", tmp_path), "train")
    assert "holds the folders: fold2, fold10, none named 'train'" in message


def test_a_split_folder_that_cannot_be_listed_is_named_without_its_folders(
    tmp_path, data_config, deny_listing
) -> None:
    (tmp_path / "train" / "img").mkdir(parents=True)
    deny_listing(tmp_path / "train")
    message = _refusal(data_config("folder", tmp_path), "train")
    assert message.endswith(f"'{tmp_path / 'train'}' has no 'images' folder")


def test_a_root_that_cannot_be_listed_is_named_not_a_bare_permission_error(
    tmp_path, data_config, deny_listing
) -> None:
    # Before, listing data.root for split folders raised PermissionError naming no key.
    (tmp_path / "train" / "images").mkdir(parents=True)
    deny_listing(tmp_path)
    message = _refusal(data_config("folder", tmp_path), "train")
    assert f"'{tmp_path}' cannot be listed" in message and "Permission denied" in message
