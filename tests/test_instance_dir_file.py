"""A folder dataset's ``data.instance_dir`` (or NC4K's ``Instance``) that names a file, not a
folder: COS scoring's error says it is a file and that a folder of instance maps is expected,
not that it does not exist (the user looking at the file would not know what was wrong)."""

from __future__ import annotations

import pytest
from test_dataset_layouts import S, _pairs

from pmgsam.data import DataError, build_dataset


def test_an_instance_dir_that_is_a_file_is_named_as_a_file(tmp_path, data_config) -> None:
    _pairs(tmp_path / "images", tmp_path / "masks", ["a0", "a1"])
    (tmp_path / "instances.json").write_text("{}")  # a COCO file where a folder is wanted
    cfg = data_config("folder", tmp_path, instance_dir="instances.json")
    dataset = build_dataset(cfg, "all", S, train=False)  # a training split still builds
    assert dataset.instances.kind == "none"
    with pytest.raises(DataError) as err:
        dataset.coco_gt()
    message = str(err.value)
    assert "instances.json" in message and "data.instance_dir" in message
    assert "is a file, not a folder" in message and "folder of instance maps" in message
    assert "does not exist" not in message


def test_nc4k_instance_that_is_a_file_is_named_as_a_file(tmp_path, data_config) -> None:
    _pairs(tmp_path / "Imgs", tmp_path / "GT", ["n0", "n1"])
    (tmp_path / "Instance").write_bytes(b"zip")
    dataset = build_dataset(data_config("nc4k", tmp_path), "test", S, train=False)
    with pytest.raises(DataError, match=r"Instance' is a file, not a folder") as err:
        dataset.coco_gt()
    assert "does not exist" not in str(err.value)
