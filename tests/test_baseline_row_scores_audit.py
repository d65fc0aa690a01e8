"""A baseline row's COS files (``metrics/<split>.json``, ``.results.json``, ``.gt.json``,
:mod:`pmgsam.baselines.row_scores`) are written atomically: a rerun stopped mid-write (killed,
disk full) used to leave the earlier file truncated, so neither run's scores could be read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from pmgsam.baselines.row_scores import score_instances
from pmgsam.utils.rle import encode_rle


def _gt() -> dict:
    mask = np.zeros((8, 8), bool)
    mask[2:6, 2:6] = True
    image = {"id": 1, "file_name": "a.jpg", "height": 8, "width": 8}
    ann = {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 16,
           "bbox": [2, 2, 4, 4], "segmentation": encode_rle(mask)}  # fmt: skip
    return {"images": [image], "annotations": [ann], "categories": [{"id": 1}]}


def _found(count: int) -> list:
    """``count`` fresh COCO results of the GT's square (COCOeval adds numpy fields to them)."""
    inst = np.zeros((8, 8), np.uint8)
    inst[2:6, 2:6] = 1
    rle = mask_utils.encode(np.asfortranarray(inst))
    rle["counts"] = rle["counts"].decode()
    return [{"image_id": 1, "category_id": 1, "segmentation": rle, "score": 0.9}] * count


def test_a_write_stopped_half_way_leaves_the_earlier_files_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "metrics").mkdir()  # as score_predicted_instances makes it
    first = score_instances(tmp_path, "Test", _gt(), _found(1), "first run")
    metrics = tmp_path / "metrics"
    before = {p.name: p.read_text() for p in metrics.iterdir()}
    assert set(before) == {"Test.json", "Test.results.json"}

    def half_then_full_disk(self: Path, text: str, *args, **kwargs) -> int:
        with open(self, "w", encoding="utf-8") as f:
            f.write(text[: len(text) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", half_then_full_disk)
    with pytest.raises(OSError, match="No space left"):
        score_instances(tmp_path, "Test", _gt(), _found(2), "second run")
    monkeypatch.undo()
    assert {p.name: p.read_text() for p in metrics.iterdir()} == before
    assert json.loads((metrics / "Test.json").read_text())["source"] == first["source"]
