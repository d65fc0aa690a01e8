"""COS instances: AP of prediction folders against pycocotools, COCO results and the CLI
(image-by-image splitting and matching: test_cos_matching.py)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from cli_cases import evaluate_main
from mask_cases import coco_annotation, coco_dict
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from pmgsam.evaluation.instances import evaluate_cos_folder
from pmgsam.evaluation.scoring import EvaluationInputError

H, W = 80, 100


def _rect(y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    return m


def _pycocotools_rle(mask: np.ndarray) -> dict:
    """pycocotools' own RLE of a boolean mask, counts as str: a reference for the results."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return dict(rle, counts=rle["counts"].decode())


def _coco_gt(images: dict) -> dict:
    """COCO GT dict from {file_name: [bool masks]}."""
    anns = []
    for img_id, masks in enumerate(images.values(), start=1):
        anns += [coco_annotation(len(anns) + k, img_id, m) for k, m in enumerate(masks, 1)]
    return coco_dict((H, W), anns, list(images))


def _write(tmp_path: Path, gt: dict, maps: dict) -> tuple:
    pdir = tmp_path / "pred"
    pdir.mkdir()
    for stem, prob in maps.items():
        cv2.imwrite(str(pdir / f"{stem}.png"), prob)
    gt_json = tmp_path / "gt.json"
    gt_json.write_text(json.dumps(gt))
    return pdir, gt_json


def _map(*parts: tuple) -> np.ndarray:
    out = np.zeros((H, W), np.uint8)
    for mask, value in parts:
        out[mask] = value
    return out


def test_perfect_predictions_give_ap_one(tmp_path: Path):
    gt_masks = {
        "a.jpg": [_rect(5, 30, 5, 40), _rect(40, 70, 50, 90)],
        "b.jpg": [_rect(10, 60, 20, 60)],
    }
    maps = {
        "a": _map((gt_masks["a.jpg"][0], 255), (gt_masks["a.jpg"][1], 230)),
        "b": _map((gt_masks["b.jpg"][0], 250)),
    }
    pdir, gt_json = _write(tmp_path, _coco_gt(gt_masks), maps)
    for protocol in ("all", "matched"):
        res = evaluate_cos_folder(pdir, gt_json, protocol=protocol, progress=False)
        assert [res["AP"], res["AP50"], res["AP75"]] == pytest.approx([1.0] * 3, abs=1e-12)
        assert res["protocol"] == protocol and res["num_results"] == 3


def test_touching_instances_merged_by_cca_lower_ap(tmp_path: Path):
    left, right = _rect(20, 40, 10, 30), _rect(20, 40, 30, 50)  # equal squares sharing an edge
    pdir, gt_json = _write(
        tmp_path, _coco_gt({"t.png": [left, right]}), {"t": _map((left | right, 255))}
    )
    res = evaluate_cos_folder(pdir, gt_json, progress=False)
    # One merged instance, IoU 0.5 with each GT: matched only at IoU threshold 0.5, recall 0.5
    # at precision 1 -> 51 of COCO's 101 recall points.
    assert res["num_pred_instances"] == 1
    assert res["AP50"] == pytest.approx(51 / 101, abs=1e-12)
    assert res["AP75"] == 0.0
    assert res["AP"] == pytest.approx(51 / 101 / 10, abs=1e-12)


def test_false_positive_matches_pycocotools_and_protocols(tmp_path: Path, cocoeval_stats):
    tp1, tp2, fp = _rect(5, 25, 5, 25), _rect(50, 75, 60, 95), _rect(5, 15, 70, 80)
    prob = _map((tp1, 230), (fp, 204), (tp2, 153))  # FP scored between the two TPs
    gt = _coco_gt({"f.png": [tp1, tp2]})
    pdir, gt_json = _write(tmp_path, gt, {"f": prob})
    out = tmp_path / "res.json"
    res = evaluate_cos_folder(pdir, gt_json, results_out=out, progress=False)
    direct = [
        {"image_id": 1, "category_id": 1, "segmentation": _pycocotools_rle(m), "score": v / 255}
        for m, v in ((tp1, 230), (fp, 204), (tp2, 153))
    ]
    # pycocotools fed the three instances directly (not through this package's coco_map).
    (tmp_path / "direct.json").write_text(json.dumps(direct))
    expected = cocoeval_stats(COCO(str(gt_json)), tmp_path / "direct.json")
    assert [res["AP"], res["AP50"]] == pytest.approx(expected[:2], abs=1e-12)
    # By hand: ranks TP, FP, TP -> precision 1 up to recall 0.5, then 2/3.
    assert res["AP"] == pytest.approx((51 + 50 * 2 / 3) / 101, abs=1e-12)
    written = json.loads(out.read_text())
    assert len(written) == 3 and all("bbox" not in r for r in written)
    assert all(isinstance(r["segmentation"]["counts"], str) for r in written)
    matched = evaluate_cos_folder(pdir, gt_json, protocol="matched", progress=False)
    assert matched["AP"] == pytest.approx(1.0, abs=1e-12) and matched["num_results"] == 2
    assert "Hungarian" in matched["protocol_description"]


def test_missing_prediction_is_listed(tmp_path: Path):
    gt = _coco_gt({"x.jpg": [_rect(0, 9, 0, 9)], "y.jpg": [_rect(0, 9, 0, 9)]})
    pdir, gt_json = _write(tmp_path, gt, {"x": _map((_rect(0, 9, 0, 9), 255))})
    with pytest.raises(EvaluationInputError, match=r"1 GT image\(s\).*y\.jpg"):
        evaluate_cos_folder(pdir, gt_json, progress=False)


def test_cli_cos_mode(tmp_path: Path):
    m = _rect(10, 30, 10, 30)
    pdir, gt_json = _write(tmp_path, _coco_gt({"c.jpg": [m]}), {"c": _map((m, 255))})
    out = tmp_path / "ap.json"
    args = ["--task", "cos", "--pred-dir", str(pdir), "--gt-json", str(gt_json), "--out", str(out)]
    assert evaluate_main(args + ["--matched-only", "--quiet"]) == 0
    data = json.loads(out.read_text())
    assert data["AP"] == pytest.approx(1.0, abs=1e-12) and data["protocol"] == "matched"
    assert (tmp_path / data["results_file"]).exists()


def test_matched_protocol_keeps_both_optimally_matched_instances(tmp_path: Path):
    # test_cos_matching's greedy-vs-Hungarian geometry through the folder path: a greedy
    # matcher would keep only P0.
    g0, g1 = _rect(0, 10, 0, 10), _rect(0, 10, 10, 20)
    p0, p1 = _rect(0, 10, 3, 15), _rect(0, 10, 0, 2)
    pdir, gt_json = _write(
        tmp_path, _coco_gt({"g.png": [g0, g1]}), {"g": _map((p0, 255), (p1, 200))}
    )
    res = evaluate_cos_folder(pdir, gt_json, protocol="matched", progress=False)
    assert res["num_pred_instances"] == 2 and res["num_results"] == 2


def test_ap_equals_pycocotools_cocoeval_called_directly(tmp_path: Path, cocoeval_stats):
    from pycocotools.coco import COCO

    # Two images; predictions at several IoUs (about 0.55 to 1), a false positive and a
    # missed GT, with scores that interleave TPs and FPs.
    a0, a1, a2 = _rect(5, 25, 5, 25), _rect(40, 70, 10, 40), _rect(10, 30, 60, 90)
    b0, b1 = _rect(10, 50, 10, 50), _rect(55, 75, 60, 95)
    gt = _coco_gt({"a.png": [a0, a1, a2], "b.png": [b0, b1]})
    drawn = {  # image id: (instance, level) pairs, each instance a separate component
        1: [(_rect(5, 25, 5, 23), 240), (_rect(40, 62, 10, 40), 180), (a2, 120)],
        2: [(_rect(10, 50, 10, 32), 220), (_rect(2, 8, 80, 98), 200)],
    }
    pdir, gt_json = _write(tmp_path, gt, {"a": _map(*drawn[1]), "b": _map(*drawn[2])})
    out = tmp_path / "res.json"
    res = evaluate_cos_folder(pdir, gt_json, results_out=out, progress=False)

    assert res["stats"] == pytest.approx(cocoeval_stats(COCO(str(gt_json)), out), abs=1e-12)
    # pycocotools fed the instances as drawn (its own RLE, score = level / 255), not the
    # results file this package wrote: the splitting and scoring are checked too. Level 120
    # (a2) is under the 0.5 threshold: no instance, the missed GT.
    direct = []
    for image_id, parts in drawn.items():
        for mask, level in parts:
            if level / 255 <= 0.5:
                continue
            seg = {"image_id": image_id, "category_id": 1, "segmentation": _pycocotools_rle(mask)}
            direct.append(dict(seg, score=level / 255))
    (tmp_path / "direct.json").write_text(json.dumps(direct))
    expected = cocoeval_stats(COCO(str(gt_json)), tmp_path / "direct.json")
    assert res["stats"] == pytest.approx(expected, abs=1e-12)
    assert 0.0 < res["AP"] < res["AP50"] < 1.0  # a case that exercises partial credit


# --- cases found by mutation testing: each pins a rule the tests above never exercised ---
def test_matched_protocol_ignores_crowd_regions(tmp_path: Path):
    # A crowd region is not an instance: a prediction on it is not "matched to a GT instance".
    inst, crowd = _rect(5, 25, 5, 25), _rect(40, 70, 50, 90)
    gt = _coco_gt({"c.png": [inst, crowd]})
    gt["annotations"][1]["iscrowd"] = 1
    pdir, gt_json = _write(tmp_path, gt, {"c": _map((inst, 255), (crowd, 200))})
    res = evaluate_cos_folder(pdir, gt_json, protocol="matched", progress=False)
    assert res["num_pred_instances"] == 2 and res["num_results"] == 1


def test_folder_passes_threshold_and_min_area_on(tmp_path: Path):
    # A 0.39 object counts only with threshold 0.3; a 4-px speckle is dropped by min_area 5.
    obj, speck = _rect(10, 30, 10, 30), _rect(50, 52, 50, 52)
    pdir, gt_json = _write(
        tmp_path, _coco_gt({"o.png": [obj]}), {"o": _map((obj, 100), (speck, 255))}
    )
    res = evaluate_cos_folder(pdir, gt_json, threshold=0.3, min_area=5, progress=False)
    assert res["num_pred_instances"] == 1
    assert res["AP"] == pytest.approx(1.0, abs=1e-12)


def test_resize_pred_upsamples_to_the_gt_size(tmp_path: Path):
    # A half-size (50x40) map of the same rectangles. Bilinear 2x upsampling of a 0/255 step
    # at source column a gives 63.75 at 2a-1 and 191.25 at 2a, so "> 0.5" restores exactly
    # [2a, 2b): the prediction is perfect at full size (W != H catches swapped sizes).
    masks = [_rect(10, 30, 10, 40), _rect(40, 70, 50, 90)]
    small = np.zeros((H // 2, W // 2), np.uint8)
    small[5:15, 5:20] = 255
    small[20:35, 25:45] = 230
    pdir, gt_json = _write(tmp_path, _coco_gt({"r.png": masks}), {"r": small})
    # Named as W x H (the overlap test's maps are square and cannot tell a swap apart).
    with pytest.raises(EvaluationInputError, match="r.png 50x40 vs GT 100x80"):
        evaluate_cos_folder(pdir, gt_json, progress=False)
    out = tmp_path / "res.json"
    res = evaluate_cos_folder(pdir, gt_json, resize_pred=True, results_out=out, progress=False)
    assert res["AP"] == pytest.approx(1.0, abs=1e-12)
    # Bilinear (as the DIS path): the upsampled 30x40 rectangle of 230 keeps 230 inside, 0.75 of
    # it on its 132 edge pixels and 0.5625 on its 4 corners, so its score is 230/255 times
    # (1064 + 132 * 0.75 + 4 * 0.5625) / 1200; nearest-neighbour would keep 230/255 exactly.
    low = min(r["score"] for r in json.loads(out.read_text()))
    assert low == pytest.approx(230 / 255 * 1165.25 / 1200, abs=2e-3)


def test_ap_is_class_agnostic_and_results_carry_the_gt_category(tmp_path: Path, cocoeval_stats):
    # GT objects of two categories (ids 7 and 9), predicted perfectly. Class-agnostic AP is 1;
    # a per-category evaluation would leave the category-9 object unmatched (all predictions
    # carry the first category id, 7).
    from pycocotools.coco import COCO

    a, b = _rect(5, 30, 5, 40), _rect(40, 70, 50, 90)
    gt = _coco_gt({"k.png": [a, b]})
    gt["categories"] = [{"id": 7, "name": "fish"}, {"id": 9, "name": "crab"}]
    gt["annotations"][0]["category_id"] = 7
    gt["annotations"][1]["category_id"] = 9
    pdir, gt_json = _write(tmp_path, gt, {"k": _map((a, 255), (b, 230))})
    out = tmp_path / "res.json"
    res = evaluate_cos_folder(pdir, gt_json, results_out=out, progress=False)
    assert res["AP"] == pytest.approx(1.0, abs=1e-12)
    assert res["stats"] == pytest.approx(cocoeval_stats(COCO(str(gt_json)), out), abs=1e-12)
    assert {r["category_id"] for r in json.loads(out.read_text())} == {7}


def test_gt_missing_area_and_iscrowd_scores_as_if_filled_in(tmp_path: Path, cocoeval_stats):
    # A missing area becomes the mask area and a missing iscrowd 0. The small/medium/large
    # stats read the area (COCO: small < 32^2 <= medium < 96^2), so a wrong default shows there.
    from pycocotools.coco import COCO

    small, medium = _rect(5, 15, 5, 15), _rect(30, 75, 40, 90)  # 100 px and 2250 px
    gt = _coco_gt({"s.png": [small, medium]})
    full = tmp_path / "full.json"
    full.write_text(json.dumps(gt))
    for ann in gt["annotations"]:
        del ann["area"], ann["iscrowd"]
    pred = _map((small, 255), (_rect(30, 75, 40, 70), 200))  # medium one found at IoU 0.6
    pdir, gt_json = _write(tmp_path, gt, {"s": pred})
    out = tmp_path / "res.json"
    res = evaluate_cos_folder(pdir, gt_json, results_out=out, progress=False)
    assert res["stats"] == pytest.approx(cocoeval_stats(COCO(str(full)), out), abs=1e-12)
    assert res["stats"][3] == pytest.approx(1.0, abs=1e-12)  # AP_small: the exact match


def _pycocotools_stats_without_detections(gt_json: Path) -> list:
    """COCOeval's 12 stats (class-agnostic segm) for an empty detection set.

    ``loadRes`` refuses an empty list, so the detection COCO is built by hand with the GT's
    images and no annotations; everything else is pycocotools' own evaluation.
    """
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_json))
        dt = COCO()
        dt.dataset = {
            "images": list(gt.dataset["images"]),
            "categories": list(gt.dataset["categories"]),
            "annotations": [],
        }
        dt.createIndex()
        ev = COCOeval(gt, dt, iouType="segm")
        ev.params.useCats = 0
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return [float(v) for v in ev.stats]


def _blank_case(tmp_path: Path) -> tuple:
    m = _rect(10, 30, 10, 30)  # one small GT object; no medium or large one
    pdir, gt_json = _write(tmp_path, _coco_gt({"z.png": [m]}), {"z": np.zeros((H, W), np.uint8)})
    return evaluate_cos_folder(pdir, gt_json, progress=False), gt_json


def test_blank_predictions_score_zero(tmp_path: Path):
    # No instance anywhere: recall is 0 at every IoU threshold, so AP is 0, as pycocotools
    # reports for an empty detection set.
    res, gt_json = _blank_case(tmp_path)
    ref = _pycocotools_stats_without_detections(gt_json)
    assert res["num_results"] == 0
    assert (res["AP"], res["AP50"], res["AP75"]) == (0.0, 0.0, 0.0) == tuple(ref[:3])


def test_blank_predictions_stats_equal_pycocotools(tmp_path: Path):
    # The area ranges without a GT instance (medium, large here) read -1, not 0.
    res, gt_json = _blank_case(tmp_path)
    assert res["stats"] == _pycocotools_stats_without_detections(gt_json)
