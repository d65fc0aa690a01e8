"""A data.root one level off the dataset folder (its parent, or a download unpacked one level
deeper) is named in the error with the folder that holds the layout."""

from __future__ import annotations

import shutil

import pytest

from pmgsam.data.errors import DataNotFoundError
from pmgsam.data.layouts import list_split


@pytest.mark.parametrize("dataset", ["dis5k", "cod10k", "nc4k"])
def test_the_parent_of_the_dataset_folder_names_the_dataset_folder(
    dataset, dis5k_root, cod10k_root, nc4k_root, data_config
):
    root = {"dis5k": dis5k_root, "cod10k": cod10k_root, "nc4k": nc4k_root}[dataset]
    split = {"dis5k": "DIS-TE1", "cod10k": "Test", "nc4k": "all"}[dataset]
    cfg = data_config(dataset, root.parent)
    with pytest.raises(DataNotFoundError, match=rf"'{root}' holds it: set data.root to that"):
        list_split(cfg, split)


def test_a_download_unpacked_one_level_deeper_is_found(dis5k_root, tmp_path, data_config):
    outer = tmp_path / "DIS5K"
    shutil.copytree(dis5k_root / "DIS-TE1", outer / "DIS5K" / "DIS-TE1")
    with pytest.raises(DataNotFoundError, match=rf"'{outer / 'DIS5K'}' holds it"):
        list_split(data_config("dis5k", outer), "DIS-TE1")


def test_no_folder_is_named_when_none_holds_the_layout(tmp_path, data_config):
    (tmp_path / "empty" / "other").mkdir(parents=True)
    with pytest.raises(DataNotFoundError) as err:
        list_split(data_config("nc4k", tmp_path / "empty"), "all")
    assert "holds it" not in str(err.value)
    assert "NC4K folder holding Imgs/, GT/ and Instance/" in str(err.value)
