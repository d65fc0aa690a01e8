"""HCE from skeletons computed from the GT masks (a DIS5K split without ``ske/``) differs from HCE
against the official ``ske/`` files: benchmark mode now records the computed ones (the skeleton
sum of no file: zero), so a column holding a row of each is refused, naming both rows and the
way out. A record without skeletons (an older pmgsam's) stays comparable with both. Kept
ablation scores whose HCE record names no skeletons gain the computed ones when no skeleton
file is found now, without being scored again."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Optional

import cv2
import numpy as np
import pytest

from pmgsam.ablation.gt import kept_record, other_ground_truth
from pmgsam.evaluation.table_gt import GT_KEY, benchmark_records
from pmgsam.evaluation.tables import build_tables, dis_table

PARTS = ("DIS-TE1", "DIS-TE2", "DIS-TE3", "DIS-TE4")
ZERO = "0" * 64  # the sum modulo 2**256 of no skeleton file's digest


def _split(folder: Path, ske: bool) -> SimpleNamespace:
    """Two 6x6 masks; with ``ske`` a skeleton file for each (a DIS5K split's ``ske/``), else
    none (``skeleton_paths`` None, as a DIS5K split without that folder is built)."""
    (folder / "gt").mkdir(parents=True)
    (folder / "ske").mkdir()
    masks, skes = [], []
    for i in range(2):
        mask = np.zeros((6, 6), np.uint8)
        mask[1 : 4 + i, 1:5] = 255
        masks.append(folder / "gt" / f"a{i}.png")
        cv2.imwrite(str(masks[-1]), mask)
        skes.append(folder / "ske" / f"a{i}.png")
        cv2.imwrite(str(skes[-1]), (mask > 0).astype(np.uint8) * 255)
    return SimpleNamespace(mask_paths=masks, skeleton_paths=skes if ske else None)


def _recorded(split: SimpleNamespace, name: str = "DIS-TE1", hce: Optional[float] = 4.0) -> dict:
    """A benchmark entry of ``split`` with its GT record, as benchmark mode writes it."""
    dis = {name: {"maxFm": 0.5, "HCE": hce, "num_images": 2}}
    benchmark_records("dis5k", [name], {name: split}, {}, dis, {})
    return dis[name]


def test_benchmark_records_computed_skeletons_only_with_hce(tmp_path) -> None:
    split = _split(tmp_path / "c", ske=False)
    assert _recorded(split)[GT_KEY]["skeletons"] == ZERO
    assert "skeletons" not in _recorded(split, hce=None)[GT_KEY]  # --no-hce: no HCE to check
    official = _recorded(_split(tmp_path / "o", ske=True))[GT_KEY]
    assert official["skeletons"] != ZERO


def test_official_and_computed_skeletons_are_refused_in_one_column(tmp_path) -> None:
    official = _recorded(_split(tmp_path / "o", ske=True))
    computed = _recorded(_split(tmp_path / "c", ske=False))
    assert official[GT_KEY]["fingerprint"] == computed[GT_KEY]["fingerprint"]  # same masks
    runs = [{"method": "Official", "dis": {"DIS-TE1": official}},
            {"method": "Computed", "dis": {"DIS-TE1": computed}}]  # fmt: skip
    with pytest.raises(ValueError) as err:
        dis_table(runs)
    message = str(err.value)
    assert "rows 'Official' and 'Computed'" in message and "HCE" in message
    assert "computed from the masks" in message and "--ske-dir" in message
    # An older record (no skeletons) sits with either; two computed rows share the column.
    older = {**official, GT_KEY: {k: v for k, v in official[GT_KEY].items() if k != "skeletons"}}
    for row in (official, computed):
        table = dis_table([{"method": "X", "dis": {"DIS-TE1": row}},
                           {"method": "Old", "dis": {"DIS-TE1": older}}])  # fmt: skip
        assert [m for m, _ in table.rows] == ["X", "Old"]
    again = _recorded(_split(tmp_path / "c2", ske=False))
    table = dis_table([runs[1], {"method": "Again", "dis": {"DIS-TE1": again}}])
    assert [m for m, _ in table.rows] == ["Computed", "Again"]


def test_overall_pooled_from_computed_parts_refuses_an_official_set(tmp_path) -> None:
    parts = {p: _recorded(_split(tmp_path / p, ske=False), p) for p in PARTS}
    pooled_run = {"method": "Parts", "dis": parts}
    whole = _split(tmp_path / "whole", ske=True)
    entry = {"maxFm": 0.5, "HCE": 4.0, "num_images": 8}
    dis = {"DIS-TE1-4": entry}
    splits = {p: whole for p in PARTS}  # every part of the same masks as the parts above
    benchmark_records("dis5k", ["DIS-TE"], splits, {}, dis, {})
    with pytest.raises(ValueError, match=r"column 'Overall \(TE1-4\)'.*computed from the masks"):
        build_tables([pooled_run, {"method": "Set", "dis": dis}])
    splits = {p: _split(tmp_path / f"n{p}", ske=False) for p in PARTS}
    benchmark_records("dis5k", ["DIS-TE"], splits, {}, dis, {})
    assert dis["DIS-TE1-4"][GT_KEY]["skeletons"] == ZERO
    assert build_tables([pooled_run, {"method": "Set", "dis": dis}])


def test_kept_ablation_scores_gain_the_computed_skeletons_record(tmp_path) -> None:
    now = {"fingerprint": "a" * 64, "images": 2, "skeletons": ZERO}
    older = {"MAE": 0.2, "HCE": 3.0, GT_KEY: {"fingerprint": "a" * 64, "images": 2}}
    # No skeleton file now (the data digest saw none then): kept, and recorded as computed.
    assert other_ground_truth("v", older, now, no_hce=False) is None
    assert kept_record(older, now)["skeletons"] == ZERO
    # Skeleton files now: what HCE was scored against is unknown, so scored again (with HCE).
    files = {**now, "skeletons": "b" * 64}
    reason = other_ground_truth("v", older, files, no_hce=False)
    assert "do not record the GT skeletons" in reason
    assert other_ground_truth("v", older, files, no_hce=True) is None  # would drop HCE
    assert "skeletons" not in kept_record(older, files)
    assert kept_record({"MAE": 0.2}, now) is None  # no record: none made up
