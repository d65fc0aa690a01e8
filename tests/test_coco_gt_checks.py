"""A malformed COCO instance GT is one error line naming the file, annotation or image: RLE
counts, sizes, polygons and image sizes are checked before pycocotools sees them."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any, Dict

import cv2
import numpy as np
import pytest
from mask_cases import coco_annotation, coco_dict
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

import evaluate
from pmgsam.analysis.__main__ import main as analysis_main
from pmgsam.evaluation.coco_gt import load_coco
from pmgsam.evaluation.instances import evaluate_cos_folder
from pmgsam.evaluation.scoring import EvaluationInputError
from pmgsam.utils.cli import exit_status
from pmgsam.utils.rle import encode_rle

H, W = 20, 30


def _good() -> Dict[str, Any]:
    m = np.zeros((H, W), bool)
    m[5:15, 5:20] = True
    ann = {"id": 7, "image_id": 1, "category_id": 1, "segmentation": encode_rle(m)}
    return coco_dict((H, W), [ann], ["c.jpg"])


BAD = {  # case: (segmentation or image field edit, words the error must hold)
    "rle-negative": ({"size": [H, W], "counts": [-5, 605]}, "non-negative integers, got -5"),
    "rle-no-size": ({"counts": [H * W]}, "no 'size'"),
    "rle-short": ({"size": [H, W], "counts": [5, 10]}, "sum to 15, not to the image's"),
    "rle-float": ({"size": [H, W], "counts": [300.5, 299.5]}, "non-negative integers"),
    "rle-size": ({"size": [W, H], "counts": [H * W]}, "RLE size [30, 20] != its image's"),
    "rle-string-garbage": ({"size": [H, W], "counts": "!!!"}, "outside '0'..'o'"),
    "rle-string-cut": ({"size": [H, W], "counts": "1o"}, "end inside a number"),
    "rle-string-short": ({"size": [H, W], "counts": "55"}, "sum to 10"),
    "rle-string-size": ({"size": [H, 31], "counts": "0"}, "RLE size [20, 31]"),
    "poly-odd": ([[1, 2, 3, 4, 5, 6, 7]], "7 coordinates"),
    "poly-text": ([[1, 2, 3, 4, "5", 6]], "not a number"),
    "poly-far": ([[1e9, 1e9, 2e9, 2e9, -1e9, 5]], "x coordinates in [-1e+09, 2e+09]"),
    "poly-far-y": ([[1, 1, 2, 2, 3, 41]], "y coordinates"),
    "image-height-0": ("height=0", "has height 0 and width 30: both must be positive"),
    "image-width-neg": ("width=-3", "width -3"),
    "no-annotations": ("annotations=[]", "no (non-crowd) annotations"),
    # pycocotools keeps one image / annotation per id, and int() would floor a height of 20.5:
    # each of these used to score without a word.
    "image-height-float": ({"height": 20.5}, "20.5 is not an integer"),
    "image-id-text": ({"id": "1"}, "'1' is not an integer"),
    "image-id-twice": ([{"id": 1, "file_name": "d.jpg"}], "repeats image id 1 of 'c.jpg'"),
    "image-stem-twice": ([{"id": 2, "file_name": "x/c.png"}], "share the file-name stem 'c'"),
    "ann-id-twice": ([{"id": 7}], "repeats annotation id 7 of annotations[0]"),
    # pycocotools indexes annotations by category_id: a KeyError traceback without one.
    "ann-no-category": ({"category_id": None}, "(id 7, of 'c.jpg') has no 'category_id'"),
    "ann-category-text": ({"category_id": "fish"}, "category_id 'fish' is not an integer"),
}


def _bad(case: str) -> Dict[str, Any]:
    data, (edit, _) = _good(), BAD[case]
    if edit == "annotations=[]":
        data["annotations"] = []
    elif isinstance(edit, dict) and case.startswith("image"):
        data["images"][0].update(edit)
    elif isinstance(edit, list) and case.startswith("image"):
        data["images"].append({**data["images"][0], **edit[0]})
    elif isinstance(edit, list) and case.startswith("ann"):
        data["annotations"].append({**data["annotations"][0], **edit[0]})
    elif isinstance(edit, dict) and case.startswith("ann"):  # None: the key is left out
        ann = data["annotations"][0]
        ann.update(edit)
        for key in [k for k, v in edit.items() if v is None]:
            del ann[key]
    elif isinstance(edit, str):
        key, value = edit.split("=")
        data["images"][0][key] = int(value)
    else:
        data["annotations"][0]["segmentation"] = edit
    return data


@pytest.fixture
def pred_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "pred"
    folder.mkdir()
    m = np.zeros((H, W), np.uint8)
    m[5:15, 5:20] = 255
    cv2.imwrite(str(folder / "c.png"), m)
    return folder


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("case", sorted(BAD))
def test_evaluate_cos_refuses_bad_gt(tmp_path: Path, pred_dir: Path, capsys, case: str) -> None:
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(_bad(case)))
    out = tmp_path / "ap.json"
    argv = ["--task", "cos", "--pred-dir", pred_dir, "--gt-json", gt, "--out", out, "--quiet"]
    assert exit_status(evaluate.main, argv) == 2
    err = _one_line(capsys)
    assert str(gt) in err and BAD[case][1] in err, err
    if case.startswith(("rle", "poly")):
        assert "annotations[0] (id 7, of 'c.jpg')" in err
    if case.startswith("image") and not case.endswith("twice"):
        assert "images[0]" in err
    assert not out.exists()


@pytest.mark.parametrize("case", ["rle-negative", "poly-far", "image-height-0"])
def test_overlap_refuses_bad_gt(tmp_path: Path, capsys, case: str) -> None:
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(_bad(case)))
    argv = ["overlap", "--gt-json", gt, "--name", "X", "--out", tmp_path / "o"]
    assert exit_status(analysis_main, argv) == 2
    err = _one_line(capsys)
    assert f"--gt-json '{gt}'" in err and BAD[case][1] in err, err


@pytest.mark.parametrize(
    "content, words",
    [(b"\xff\xfe not text", "cannot read"), (b"  \n", "is empty"), (b'{"images": [', "line 1")],
)
def test_overlap_names_an_unreadable_gt_file(
    tmp_path: Path, capsys, content: bytes, words: str
) -> None:
    gt = tmp_path / "gt.json"
    gt.write_bytes(content)
    argv = ["overlap", "--gt-json", gt, "--name", "X", "--out", tmp_path / "o"]
    assert exit_status(analysis_main, argv) == 2
    err = _one_line(capsys)  # not a UnicodeDecodeError traceback
    assert f"--gt-json '{gt}'" in err and words in err, err


def test_overlap_needs_instances_only_to_score(tmp_path: Path, pred_dir: Path, capsys) -> None:
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(_bad("no-annotations")))
    argv = ["overlap", "--gt-json", gt, "--name", "X", "--out", tmp_path / "o"]
    assert exit_status(analysis_main, argv) == 0  # listing overlaps needs no instance
    capsys.readouterr()
    assert exit_status(analysis_main, [*argv, "--pred-dir", pred_dir]) == 2
    assert "no (non-crowd) annotations" in _one_line(capsys)


def test_good_gt_scores(tmp_path: Path, pred_dir: Path) -> None:
    gt = tmp_path / "gt.json"
    data = _good()
    poly = [5.0, 5.0, 19.5, 5.0, 19.5, 14.5, 5.0, 14.5]
    data["annotations"].append(dict(data["annotations"][0], id=8, segmentation=[poly]))
    gt.write_text(json.dumps(data))
    out = tmp_path / "ap.json"
    argv = ["--task", "cos", "--pred-dir", pred_dir, "--gt-json", gt, "--out", out, "--quiet"]
    assert exit_status(evaluate.main, argv) == 0
    # The map's one instance is exact for one of the two GT instances (the RLE one and the
    # polygon one, both the same rectangle): recall 1/2 at precision 1, which COCO's 101-point
    # AP reads as 51/101 at every IoU threshold (a GT instance lost on the way gives 1.0).
    scores = json.loads(out.read_text())
    assert scores["num_gt_instances"] == 2
    for key in ("AP", "AP50", "AP75"):
        assert scores[key] == pytest.approx(51 / 101, abs=1e-12), key


def test_annotations_without_id_get_ids_no_other_annotation_holds(tmp_path: Path) -> None:
    # Two GT instances, the first without an id, the second with id 1. Numbering the missing
    # id by position (1) would make pycocotools hold one instance twice and lose the other, so
    # a perfect prediction of both would score below AP 1.
    a, b = np.zeros((H, W), np.uint8), np.zeros((H, W), np.uint8)
    a[2:8, 2:10], b[12:18, 15:28] = 1, 1
    data = _good()
    data["annotations"] = [
        {"image_id": 1, "category_id": 1, "segmentation": encode_rle(a.astype(bool))},
        {"id": 1, "image_id": 1, "category_id": 1, "segmentation": encode_rle(b.astype(bool))},
    ]
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(data))
    pred = tmp_path / "pred"
    pred.mkdir()
    cv2.imwrite(str(pred / "c.png"), (a | b) * 255)
    out = tmp_path / "ap.json"
    argv = ["--task", "cos", "--pred-dir", pred, "--gt-json", gt, "--out", out, "--quiet"]
    assert exit_status(evaluate.main, argv) == 0
    scores = json.loads(out.read_text())
    assert scores["AP"] == pytest.approx(1.0) and scores["num_gt_instances"] == 2


def _crowd_only_gt() -> dict:
    mask = np.zeros((16, 16), bool)
    mask[4:10, 4:10] = True
    return coco_dict((16, 16), [coco_annotation(1, 1, mask, iscrowd=1)], ["a.png"])


def test_gt_with_only_crowd_regions_is_refused_as_pycocotools_would_score_minus_one():
    data = _crowd_only_gt()
    # pycocotools itself: crowd regions are ignored, so there is no GT instance and AP = -1.
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = data
        gt.createIndex()
        ann = dict(data["annotations"][0], score=0.9, iscrowd=0, id=1)
        ev = COCOeval(gt, gt.loadRes([ann]), iouType="segm")
        ev.params.useCats = 0
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert ev.stats[0] == -1
    with pytest.raises(EvaluationInputError, match="no \\(non-crowd\\) annotations"):
        load_coco(_crowd_only_gt(), require_instances=True)
    load_coco(_crowd_only_gt())  # fine where no score is asked for


def test_the_files_own_area_is_kept_for_the_area_ranges(tmp_path: Path, cocoeval_stats) -> None:
    # pycocotools puts a GT instance in the small / medium / large range by its stored 'area'
    # (a polygon's, which is not its pixel count). The 150-px rectangle of _good() is stored
    # with area 40 * 40 = 1600, a "medium" object (32^2 <= area < 96^2): its AP lands in the
    # medium stat and small reads -1 (no small GT). Recomputing the area from the mask (150,
    # "small") would swap the two.
    data = _good()
    data["annotations"][0].update(area=1600.0, iscrowd=0)  # complete for pycocotools alone
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(data))
    pred = tmp_path / "pred"
    pred.mkdir()
    m = np.zeros((H, W), np.uint8)
    m[5:15, 5:20] = 255
    cv2.imwrite(str(pred / "c.png"), m)
    out = tmp_path / "res.json"
    res = evaluate_cos_folder(pred, gt, results_out=out, progress=False)
    with contextlib.redirect_stdout(io.StringIO()):
        expected = cocoeval_stats(COCO(str(gt)), out)
    assert res["stats"] == pytest.approx(expected, abs=1e-12)
    assert res["stats"][3:6] == pytest.approx([-1.0, 1.0, -1.0], abs=1e-12)  # small, medium, large


def test_crowd_regions_are_not_counted_as_gt_instances(tmp_path: Path, pred_dir: Path) -> None:
    # _good()'s instance plus a crowd region elsewhere: one GT instance (COCOeval ignores the
    # crowd region, and the perfect prediction of the instance scores AP 1).
    data = _good()
    crowd = np.zeros((H, W), bool)
    crowd[16:19, 22:28] = True
    data["annotations"].append(
        {"id": 8, "image_id": 1, "category_id": 1, "iscrowd": 1, "segmentation": encode_rle(crowd)}
    )
    res = evaluate_cos_folder(pred_dir, data, progress=False)
    assert res["AP"] == pytest.approx(1.0, abs=1e-12)
    assert res["num_gt_instances"] == 1


def test_baseline_scores_do_not_count_crowd_regions_as_gt_instances(tmp_path: Path) -> None:
    # The baseline runner's COS scores, same GT as above: one instance and one crowd region.
    from pmgsam.baselines.row_scores import score_instances

    data = _good()
    crowd = np.zeros((H, W), bool)
    crowd[16:19, 22:28] = True
    data["annotations"].append(
        {"id": 8, "image_id": 1, "category_id": 1, "iscrowd": 1, "segmentation": encode_rle(crowd)}
    )
    inst = np.zeros((H, W), bool)
    inst[5:15, 5:20] = True
    rle = mask_utils.encode(np.asfortranarray(inst.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode()
    found = [{"image_id": 1, "category_id": 1, "segmentation": rle, "score": 0.9}]
    (tmp_path / "metrics").mkdir()
    res = score_instances(tmp_path, "Test", data, found, "test")
    assert res["AP"] == pytest.approx(1.0, abs=1e-12)
    assert res["num_gt_instances"] == 1


def _edited(edit) -> Dict[str, Any]:
    data = _good()
    edit(data)
    return data


MORE_BAD = {  # case: (edit of _good(), words the error must hold), checked by load_coco
    "image-no-file-name": (lambda d: d["images"][0].pop("file_name"), "images[0] needs id, fi"),
    "image-empty-name": (lambda d: d["images"][0].update(file_name=""), "'' names no file"),
    "ann-no-segmentation": (
        lambda d: d["annotations"][0].pop("segmentation"),
        "annotations[0] needs 'image_id' and 'segmentation'",
    ),
    "ann-image-id-text": (lambda d: d["annotations"][0].update(image_id="c"), "'c' is not an in"),
    "ann-unknown-image": (
        lambda d: d["annotations"][0].update(image_id=5),
        "annotations[0] refers to image_id 5, which 'images' does not list",
    ),
    "anns-not-a-list": (lambda d: d.update(annotations={}), "'annotations' must be a list"),
}


@pytest.mark.parametrize("case", sorted(MORE_BAD))
def test_load_coco_names_what_a_bad_gt_dict_lacks(case: str) -> None:
    edit, words = MORE_BAD[case]
    with pytest.raises(EvaluationInputError, match="^COCO GT: ") as err:
        load_coco(_edited(edit))
    assert words in str(err.value)


def test_a_gt_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    (tmp_path / "gt.json").write_bytes(b'{"images": "\xff\xfe"}')
    with pytest.raises(EvaluationInputError, match=r"cannot read COCO GT file '.*gt.json'"):
        load_coco(tmp_path / "gt.json")
    coco = load_coco(_good())
    assert load_coco(coco) is coco  # a ready COCO is used as it is


def test_a_loaded_coco_without_instances_is_refused_where_a_score_is_asked_for():
    # A COCO object skips the dict checks; AP -1 is still no score, so require_instances holds.
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = _crowd_only_gt()
        gt.createIndex()
    with pytest.raises(EvaluationInputError, match="COCO GT: no \\(non-crowd\\) annotations"):
        load_coco(gt, require_instances=True)
    assert load_coco(gt) is gt
