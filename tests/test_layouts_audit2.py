"""pmgsam.data.layouts on the cases the first tests of its newer code left open: a data.root one
level inside the dataset folder (named by its parent), a data.root that cannot be listed, and
data.cam_only, which only COD10K reads, leaving the split file of another dataset alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from pmgsam.data.errors import DataNotFoundError
from pmgsam.data.layouts import list_split


def test_a_root_one_level_inside_the_dataset_names_the_dataset_folder(dis5k_root, data_config):
    # data.root=DIS5K/DIS-TE1: DIS5K/DIS-TE1/DIS-TE1/im is missing; DIS5K holds DIS-TE1/im.
    cfg = data_config("dis5k", dis5k_root / "DIS-TE1")
    with pytest.raises(DataNotFoundError, match=rf"'{dis5k_root}' holds it: set data.root"):
        list_split(cfg, "DIS-TE1")


def test_a_root_that_cannot_be_listed_keeps_the_missing_folder_error(
    tmp_path, data_config, deny_listing
):
    root = tmp_path / "NC4K"
    root.mkdir()
    deny_listing(root)
    with pytest.raises(DataNotFoundError, match=r"image folder '.*Imgs' does not exist") as err:
        list_split(data_config("nc4k", root), "test")
    assert "holds it" not in str(err.value)


def test_cam_only_false_leaves_another_datasets_split_file_alone(nc4k_root, data_config, tmp_path):
    # NC4K has no NonCAM images: cam_only changes nothing there, so the carve and its file
    # are the ones of the default config (a second file would be a second, unrelated carve).
    split_dir = tmp_path / "splits"
    default = data_config("nc4k", nc4k_root, split_dir=str(split_dir))
    names = {part: list_split(default, part).names for part in ("train", "test")}
    files = sorted(p.name for p in split_dir.iterdir())
    flag = data_config("nc4k", nc4k_root, split_dir=str(split_dir), cam_only=False)
    assert {part: list_split(flag, part).names for part in ("train", "test")} == names
    assert sorted(p.name for p in split_dir.iterdir()) == files
    assert all(name.startswith("nc4k__") for name in files), files


def test_a_root_of_dot_inside_the_dataset_names_the_dataset_folder(
    dis5k_root, data_config, monkeypatch
):
    # Run from DIS5K/DIS-TE1 with data.root=".": its parent, as written, is "." again.
    monkeypatch.chdir(dis5k_root / "DIS-TE1")
    with pytest.raises(DataNotFoundError, match=rf"'{dis5k_root.resolve()}' holds it"):
        list_split(data_config("dis5k", Path(".")), "DIS-TE1")
