"""HCE is measured against GT skeletons (DIS5K's ``ske/``, ``--ske-dir``): two rows of the same
masks scored against other skeletons get other HCE in one column. The ``ground_truth`` record
of a DIS entry with HCE therefore records the skeleton files apart from the masks'
fingerprint, so that records without them (older pmgsam, no HCE) stay comparable, and the
tables refuse a column whose rows recorded different skeletons (skeletons computed from the
masks: test_table_gt_computed_skeletons.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace
from typing import Optional

import cv2
import numpy as np
import pytest

from pmgsam.evaluation.table_gt import GT_KEY, benchmark_records, dataset_record
from pmgsam.evaluation.tables import build_tables, dis_table

PARTS = ("DIS-TE1", "DIS-TE2", "DIS-TE3", "DIS-TE4")


def _split(folder: Path, ske_value: int, with_ske: tuple = (0, 1)) -> SimpleNamespace:
    """Two 6x6 masks a0, a1 (the same whatever ``ske_value``) and skeleton files of the
    images ``with_ske``, drawn with ``ske_value``."""
    (folder / "gt").mkdir(parents=True)
    (folder / "ske").mkdir()
    masks, skes = [], []
    for i in range(2):
        mask = np.zeros((6, 6), np.uint8)
        mask[1 : 4 + i, 1:5] = 255
        masks.append(folder / "gt" / f"a{i}.png")
        cv2.imwrite(str(masks[-1]), mask)
        ske: Optional[Path] = None
        if i in with_ske:
            ske = folder / "ske" / f"a{i}.png"
            cv2.imwrite(str(ske), np.full((6, 6), ske_value, np.uint8))
        skes.append(ske)
    return SimpleNamespace(mask_paths=masks, skeleton_paths=skes)


def _digest_sum(pairs) -> str:
    """By hand: sum mod 2**256 of SHA-256(stem, NUL, file bytes)."""
    total = sum(
        int.from_bytes(hashlib.sha256(s.encode() + b"\0" + p.read_bytes()).digest(), "big")
        for s, p in pairs
    )
    return f"{total % 2**256:064x}"


def _scores(hce: Optional[float]) -> dict:
    return {"maxFm": 0.5, "MAE": 0.1, "HCE": hce, "num_images": 2}


def test_skeletons_are_recorded_apart_from_the_masks_where_hce_was_scored(tmp_path) -> None:
    split = _split(tmp_path / "one", 0, with_ske=(1,))  # a0 has none: HCE computes it
    record = dataset_record(split, skeletons=True)
    masks = [(p.stem, p) for p in split.mask_paths]
    # The masks' fingerprint is the one recorded without skeletons (older records compare).
    assert record["fingerprint"] == _digest_sum(masks) == dataset_record(split)["fingerprint"]
    assert record["skeletons"] == _digest_sum([("a1", split.skeleton_paths[1])])
    assert "skeletons" not in dataset_record(split)
    # benchmark_records: with HCE the skeletons are recorded, without HCE (--no-hce) not.
    dis = {"DIS-TE1": _scores(12.0), "DIS-TE2": _scores(None)}
    benchmark_records("dis5k", ["DIS-TE1", "DIS-TE2"], {"DIS-TE1": split, "DIS-TE2": split},
                      {}, dis, {})  # fmt: skip
    assert dis["DIS-TE1"][GT_KEY]["skeletons"] == record["skeletons"]
    assert "skeletons" not in dis["DIS-TE2"][GT_KEY]


def test_a_column_of_two_skeleton_sets_is_refused_one_without_skeletons_is_not(tmp_path):
    official = dataset_record(_split(tmp_path / "o", 255), skeletons=True)
    redrawn = dataset_record(_split(tmp_path / "r", 128), skeletons=True)
    computed = dataset_record(_split(tmp_path / "c", 255, with_ske=()), skeletons=True)
    assert official["fingerprint"] == redrawn["fingerprint"] == computed["fingerprint"]
    assert computed["skeletons"] == "0" * 64  # no file: the sum of none

    def run(method: str, record: dict) -> dict:
        return {"method": method, "dis": {"DIS-TE1": {**_scores(10.0), GT_KEY: record}}}

    with pytest.raises(ValueError, match=r"column 'DIS-TE1': rows 'A' and 'B'.*GT skeletons"):
        dis_table([run("A", official), run("B", redrawn)])
    # Without a skeletons record (an older one) it is not refused.
    older = {k: v for k, v in official.items() if k != "skeletons"}
    table = dis_table([run("A", official), run("D", older)])
    assert [m for m, _ in table.rows] == ["A", "D"]
    same = dis_table([run("A", official), run("E", dict(official))])
    assert [m for m, _ in same.rows] == ["A", "E"]


def test_overall_pooled_from_parts_checks_the_skeletons_of_a_set_scored_as_one(tmp_path):
    splits = {p: _split(tmp_path / p, 200) for p in PARTS}
    whole = dataset_record(*splits.values(), skeletons=True)  # DIS-TE scored as one set
    one_set = {"method": "S", "dis": {"DIS-TE1-4": {**_scores(9.0), "num_images": 8,
                                                    GT_KEY: whole}}}  # fmt: skip
    parts = {
        p: {**_scores(9.0), GT_KEY: dataset_record(s, skeletons=True)} for p, s in splits.items()
    }
    groups = [t for t, _ in dis_table([{"method": "P", "dis": parts}, one_set]).groups]
    assert "Overall (TE1-4)" in groups
    # DIS-TE4's skeletons redrawn (its masks unchanged): Overall's HCE is of other skeletons.
    cv2.imwrite(str(splits["DIS-TE4"].skeleton_paths[0]), np.full((6, 6), 7, np.uint8))
    parts["DIS-TE4"] = {**_scores(9.0), GT_KEY: dataset_record(splits["DIS-TE4"], skeletons=True)}
    with pytest.raises(ValueError, match=r"column 'Overall \(TE1-4\)'.*different GT skeletons"):
        build_tables([{"method": "P", "dis": parts}, one_set])
