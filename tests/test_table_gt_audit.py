"""Audit of :mod:`pmgsam.evaluation.table_gt`: what a fingerprint is made of (a hand-derived
SHA-256 sum), which sets of splits benchmark mode records together, and how tables treat rows
whose record is missing, partial or edited by hand."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from pmgsam.data.io import DataError
from pmgsam.evaluation.table_gt import (
    GT_KEY,
    benchmark_records,
    coco_record,
    mask_record,
    pooled_record,
)
from pmgsam.evaluation.tables import cos_table, dis_table
from pmgsam.report import main as report_main
from tests.mask_cases import coco_annotation, coco_dict

TE = ("DIS-TE1", "DIS-TE2", "DIS-TE3", "DIS-TE4")


def _masks(folder: Path, names: dict) -> list:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in names.items():
        (folder / name).write_bytes(data)
        paths.append(folder / name)
    return paths


def _sha(stem: str, data: bytes) -> int:
    return int.from_bytes(hashlib.sha256(stem.encode() + b"\0" + data).digest(), "big")


def test_mask_record_is_the_sum_of_each_mask_s_name_and_bytes_in_any_order(tmp_path):
    a, b = _masks(tmp_path / "gt", {"a.png": b"mask-a", "b.png": b"mask-b"})
    expected = f"{(_sha('a', b'mask-a') + _sha('b', b'mask-b')) % 2**256:064x}"
    record = mask_record([b, a])
    assert record == {"fingerprint": expected, "images": 2, "source": str(tmp_path / "gt")}
    # The same bytes under other names are other ground truth (numbered files of two sets).
    swapped = _masks(tmp_path / "other", {"a.png": b"mask-b", "b.png": b"mask-a"})
    assert mask_record(swapped)["fingerprint"] != expected


def test_a_pooled_record_wraps_as_the_set_scored_as_one_does():
    top = {"fingerprint": "f" * 64, "images": 2, "source": "/d/TE1"}
    two = {"fingerprint": "0" * 63 + "2", "images": 3, "source": "/d/TE2"}
    pooled = pooled_record([{GT_KEY: top}, {GT_KEY: two}])
    assert pooled == {"fingerprint": "0" * 63 + "1", "images": 5, "source": "/d/TE1 + /d/TE2"}
    assert pooled_record([{GT_KEY: top}, {"maxFm": 0.5}]) is None
    assert pooled_record([{GT_KEY: top}, {GT_KEY: "edited by hand"}]) is None


def _split(folder: Path, names: dict) -> SimpleNamespace:
    return SimpleNamespace(mask_paths=_masks(folder, names))


def test_benchmark_records_a_dis5k_set_of_splits_as_exactly_its_parts(tmp_path):
    parts = {p: _split(tmp_path / p, {f"{p}_0.png": p.encode()}) for p in TE}
    dis = {"DIS-TE1+DIS-TE3": {"maxFm": 0.5}, "DIS-TE1-4": {"maxFm": 0.5}}
    benchmark_records("dis5k", ["DIS-TE3+DIS-TE1", "DIS-TE", "DIS-VD"], parts, {}, dis, {})
    one_three = [*parts["DIS-TE1"].mask_paths, *parts["DIS-TE3"].mask_paths]
    assert dis["DIS-TE1+DIS-TE3"][GT_KEY] == mask_record(one_three)
    every = [p for name in TE for p in parts[name].mask_paths]
    assert dis["DIS-TE1-4"][GT_KEY]["fingerprint"] == mask_record(every)["fingerprint"]
    assert dis["DIS-TE1-4"][GT_KEY]["images"] == 4
    assert "DIS-VD" not in dis  # not scored (a failed split): nothing added


def test_benchmark_records_a_cos_split_under_its_column_with_its_label_source(tmp_path):
    mask = np.zeros((8, 10), np.uint8)
    mask[2:5, 3:7] = 1
    gt = coco_dict((8, 10), [coco_annotation(1, 1, mask)])
    labels = SimpleNamespace(record=lambda: {"path": "/data/COD10K/Test.json"})
    datasets = {"Test": SimpleNamespace(instances=labels)}
    cos = {"COD10K": {"AP": 0.5}}
    benchmark_records("cod10k", ["Test"], datasets, {"Test": gt}, {}, cos)
    assert cos["COD10K"][GT_KEY] == coco_record(gt, "/data/COD10K/Test.json")
    assert cos["COD10K"][GT_KEY]["source"] == "/data/COD10K/Test.json"


def _two_images() -> dict:
    mask = np.zeros((8, 10), np.uint8)
    mask[2:5, 3:7] = 1
    other = np.zeros((8, 10), np.uint8)
    other[0:2, 0:9] = 1
    anns = [coco_annotation(1, 1, mask), coco_annotation(2, 1, other)]
    return coco_dict((8, 10), anns, images=("a.jpg", "b.jpg"))


def test_coco_record_does_not_depend_on_ids_or_order_but_on_names_sizes_and_crowds():
    base = coco_record(_two_images(), "s")["fingerprint"]
    # Exported again: other image and annotation ids, listed in another order.
    renumbered = _two_images()
    renumbered["images"] = [dict(im, id=im["id"] + 10) for im in renumbered["images"][::-1]]
    renumbered["annotations"] = [
        dict(a, id=a["id"] + 5, image_id=a["image_id"] + 10) for a in renumbered["annotations"]
    ][::-1]
    assert coco_record(renumbered, "s")["fingerprint"] == base
    # Maps pair with images by stem: a file naming the images' PNG copies is the same GT.
    converted = _two_images()
    converted["images"] = [
        dict(im, file_name=im["file_name"][:-3] + "png") for im in converted["images"]
    ]
    assert coco_record(converted, "s")["fingerprint"] == base
    renamed = _two_images()
    renamed["images"][1]["file_name"] = "c.jpg"  # the image without instances
    turned = _two_images()
    turned["images"][1].update(height=10, width=8)
    crowd = _two_images()
    crowd["annotations"][1]["iscrowd"] = 1
    for other in (renamed, turned, crowd):
        assert coco_record(other, "s")["fingerprint"] != base


def _entry(record: object = None) -> dict:
    entry = {"maxFm": 0.5, "MAE": 0.1, "num_images": 3}
    return entry if record is None else {**entry, GT_KEY: record}


def _record(fingerprint: str, source: str = "/d/test/masks") -> dict:
    return {"fingerprint": fingerprint, "images": 3, "source": source}


def test_a_column_is_refused_after_a_first_row_without_a_record():
    rows = [
        {"method": "old", "dis": {"test": _entry()}},
        {"method": "A", "dis": {"test": _entry(_record("0" * 64, "/one"))}},
        {"method": "B", "dis": {"test": _entry(_record("1" * 64, "/two"))}},
    ]
    with pytest.raises(ValueError, match="'test': rows 'A' and 'B'.*'/one'.*'/two'"):
        dis_table(rows)


def test_the_unrecorded_note_names_only_rows_with_scores_in_that_column():
    rows = [
        {"method": "A", "dis": {"test": _entry(_record("0" * 64))}},
        {"method": "B", "dis": {"test": _entry()}},
        {"method": "C", "dis": {"val": _entry()}},
    ]
    notes = [n for n in dis_table(rows).notes if "not recorded" in n]
    assert notes == [
        "test: the ground truth of B is not recorded (scored by an older pmgsam, or its GT was "
        "unreadable when recorded), so it is not checked to be the same images as the others'."
    ]


def _te_row(method: str, record: object) -> dict:
    curves = {"curves": {"fm": [0.5, 0.5]}}
    return {"method": method, "dis": {p: {**_entry(record), **curves} for p in TE}}


def test_records_edited_by_hand_table_as_unrecorded_and_a_bad_count_keeps_the_check(tmp_path):
    good = _record("ab" * 32)
    # A string or a number for a fingerprint: tabled beside a recorded row, noted, not refused.
    for edited in ("edited by hand", {"fingerprint": 5, "images": 3}):
        table = dis_table([_te_row("A", good), _te_row("B", edited)])
        assert any(n.startswith("DIS-TE1: the ground truth of B is not") for n in table.notes)
    # An image count that is no number: Overall (TE1-4) is still checked against a set scored
    # as one (it crashed the report before).
    counted = _te_row("C", {**good, "images": [3]})
    one_set = {"method": "S", "dis": {"DIS-TE1-4": _entry(_record("cd" * 32))}}
    with pytest.raises(ValueError, match=r"'Overall \(TE1-4\)': rows 'C' and 'S'"):
        dis_table([counted, one_set])
    for method, row in (("A", _te_row("A", good)), ("B", _te_row("B", "edited by hand"))):
        (tmp_path / method).mkdir()
        run = {"method": method, "dis": row["dis"], "cos": {}, "efficiency": {}, "meta": {}}
        (tmp_path / method / "run.json").write_text(json.dumps(run), encoding="utf-8")
    out = tmp_path / "t"
    assert report_main([str(tmp_path / "A"), str(tmp_path / "B"), "--out", str(out)]) == 0
    assert "the ground truth of B is not recorded" in (out / "dis.md").read_text(encoding="utf-8")


def test_a_cos_row_without_a_record_is_noted_beside_recorded_ones():
    record = {"fingerprint": "ab" * 32, "images": 1, "source": "/d/Test.json"}
    rows = [
        {"method": "A", "cos": {"COD10K": {"AP": 0.5, "protocol": "all", GT_KEY: record}}},
        {"method": "B", "cos": {"COD10K": {"AP": 0.4, "protocol": "all"}}},
    ]
    assert any(n.startswith("COD10K: the ground truth of B is not") for n in cos_table(rows).notes)


@pytest.mark.parametrize("error", [PermissionError("denied"), DataError("unreadable mask")])
def test_scores_are_added_when_the_ground_truth_cannot_be_read_again(tmp_path, monkeypatch, error):
    import pmgsam.evaluation.folder_row as folder_row

    def unreadable(paths, skeletons=None):
        raise error

    monkeypatch.setattr(folder_row, "mask_record", unreadable)
    gt = tmp_path / "gt"
    _masks(gt, {"a.png": b"a"})
    args = SimpleNamespace(run=tmp_path / "run", method="M", split="test", pred_dir=tmp_path,
                           gt_dir=gt, gt_json=None)  # fmt: skip
    with pytest.warns(UserWarning, match=f"the ground truth '{gt}' could not be read again"):
        path = folder_row.add_to_run(args, "dis", {"maxFm": 0.5, "num_images": 1})
    entry = json.loads(path.read_text(encoding="utf-8"))["dis"]["test"]
    assert entry["maxFm"] == 0.5 and GT_KEY not in entry


# pycocotools' polygon encoding under NumPy 2, as in test_rle_hand_masks.
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_coco_record_reads_masks_alone_a_polygon_as_its_rle():
    from pycocotools import mask as mask_utils

    polygon = [[3.0, 2.0, 7.0, 2.0, 7.0, 5.0, 3.0, 5.0]]
    rle = mask_utils.merge(mask_utils.frPyObjects(polygon, 8, 10))
    as_rle = coco_dict((8, 10), [coco_annotation(1, 1, mask_utils.decode(rle))])
    as_polygon = coco_dict((8, 10), [dict(as_rle["annotations"][0], segmentation=polygon)])
    base = coco_record(as_rle, "s")["fingerprint"]
    assert coco_record(as_polygon, "s")["fingerprint"] == base
    # Another tool's export: its area and box rounded otherwise, the same masks.
    rounded = coco_dict((8, 10), [dict(as_rle["annotations"][0], area=12.4, bbox=[3, 2, 4, 3])])
    assert coco_record(rounded, "s")["fingerprint"] == base
