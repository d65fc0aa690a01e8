"""A folder dataset's sub-folders ``a b`` and ``a_b`` are two splits, but their carved parts
(``a b:val``, ``a_b:val``) would be saved in one split file (``folder__a_b__val...json``: the
space becomes '_' in the name). Carving either is refused naming both, before a file is
written: the second used to read the first one's carving and blame images "that no longer
exist", or with the same image names silently take the other folder's draw."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from pmgsam.data.config import DataConfig
from pmgsam.data.io import DataError
from pmgsam.data.layouts import list_split


def _folder_split(root: Path, name: str, stems) -> None:
    for sub in ("images", "masks"):
        (root / name / sub).mkdir(parents=True)
    for stem in stems:
        cv2.imwrite(str(root / name / "images" / f"{stem}.png"), np.zeros((8, 8, 3), np.uint8))
        cv2.imwrite(str(root / name / "masks" / f"{stem}.png"), np.zeros((8, 8), np.uint8))


def _config(tmp_path: Path) -> DataConfig:
    return DataConfig(dataset="folder", root=str(tmp_path / "data"), split_dir=str(tmp_path / "s"))


@pytest.mark.parametrize("carved", ["a b:val", "a_b:train"])
def test_splits_sharing_a_split_file_name_are_refused(tmp_path: Path, carved: str) -> None:
    _folder_split(tmp_path / "data", "a b", ["x1", "x2", "x3"])
    _folder_split(tmp_path / "data", "a_b", ["y1", "y2", "y3"])
    with pytest.raises(DataError, match=r"splits '(a b|a_b)' and '(a_b|a b)' .*share the split"):
        list_split(_config(tmp_path), carved)
    assert not (tmp_path / "s").exists()  # nothing written


def test_a_split_without_a_twin_is_carved_and_saved(tmp_path: Path) -> None:
    _folder_split(tmp_path / "data", "a b", ["x1", "x2", "x3"])
    _folder_split(tmp_path / "data", "c", ["y1", "y2", "y3"])
    cfg = _config(tmp_path)
    val = list_split(cfg, "a b:val").names
    assert len(val) == 1 and set(val) <= {"x1", "x2", "x3"}
    assert [p.name for p in (tmp_path / "s").iterdir()] == ["folder__a_b__val0.2__seed0.json"]
    # Unsplit, both folders are their own splits (no split file involved).
    assert list_split(cfg, "a b").names == ["x1", "x2", "x3"]
