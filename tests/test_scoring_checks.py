"""Input checks and bookkeeping of the DIS folder scoring (:mod:`pmgsam.evaluation.scoring`).

References are independent of the folder scoring: the per-image metrics of the arrays themselves
(``image_metrics`` called directly with the skeleton the files hold), numpy means, and sizes
written out by hand. All in-process (``workers=1``).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from mask_cases import make_pair

from pmgsam.evaluation.dis_metrics import image_metrics
from pmgsam.evaluation.dis_results import write_dis_results
from pmgsam.evaluation.scoring import (
    EvaluationInputError,
    evaluate_dis_folder,
    evaluate_dis_pairs,
)


def folders(root: Path, pairs: dict, gt_ext: str = ".png") -> tuple:
    (root / "p").mkdir(parents=True)
    (root / "g").mkdir()
    for stem, (pred, gt) in pairs.items():
        cv2.imwrite(str(root / "p" / f"{stem}.png"), pred)
        cv2.imwrite(str(root / "g" / f"{stem}{gt_ext}"), gt)
    return root / "p", root / "g"


def test_a_transposed_prediction_is_refused_though_its_pixel_count_matches(tmp_path) -> None:
    pred, gt = make_pair(30, 40, 0)
    pdir, gdir = folders(tmp_path, {"a": (np.ascontiguousarray(pred.T), gt)})
    with pytest.raises(EvaluationInputError, match="a.png 30x40 vs GT a.png 40x30"):
        evaluate_dis_folder(pdir, gdir, progress=False)


@pytest.mark.parametrize("gt_ext", [".png", ".bmp"])
def test_given_skeleton_is_read_above_128_whatever_the_gt_format(tmp_path, gt_ext) -> None:
    pred, gt = make_pair(60, 80, 3)
    pdir, gdir = folders(tmp_path, {"a": (pred, gt)}, gt_ext)
    ske = np.zeros_like(gt)
    ske[10:50, 40] = 255  # a vertical stroke: the given skeleton
    ske[30, 5:75] = 100  # a faint stroke, not part of it (> 128 only)
    (tmp_path / "s").mkdir()
    cv2.imwrite(str(tmp_path / "s" / "a.png"), ske)
    summary, per = evaluate_dis_folder(pdir, gdir, tmp_path / "s", progress=False)
    expect = image_metrics(pred, gt, gt_skeleton=ske > 128).hce
    # The case tells the given skeleton from the computed one and from the faint stroke.
    assert expect != image_metrics(pred, gt).hce
    assert expect != image_metrics(pred, gt, gt_skeleton=ske > 0).hce
    assert per[0].hce == expect


def test_skeleton_of_another_size_is_refused(tmp_path) -> None:
    pred, gt = make_pair(30, 40, 1)
    pdir, gdir = folders(tmp_path, {"a": (pred, gt)})
    (tmp_path / "s").mkdir()
    cv2.imwrite(str(tmp_path / "s" / "a.png"), np.zeros((20, 40), np.uint8))
    with pytest.raises(EvaluationInputError, match=r"a.png: size \(20, 40\) differs from GT"):
        evaluate_dis_folder(pdir, gdir, tmp_path / "s", progress=False)


def test_per_image_results_follow_the_names_not_the_image_sizes(tmp_path) -> None:
    # Largest images are scored first; the results still come back in name order.
    cases = {"a": make_pair(20, 30, 0), "b": make_pair(60, 80, 1), "c": make_pair(40, 50, 2)}
    pdir, gdir = folders(tmp_path, cases)
    summary, per = evaluate_dis_folder(pdir, gdir, with_hce=False, progress=False)
    assert [r.name for r in per] == ["a", "b", "c"]
    for r, (pred, gt) in zip(per, cases.values()):
        assert r.mae == image_metrics(pred, gt, with_hce=False).mae
    out, side = write_dis_results(tmp_path / "m" / "S.json", summary, per, {"split": "S"})
    data = json.loads(out.read_text())
    assert side.name == "S.per_image.csv" and data["per_image_file"] == "S.per_image.csv"
    expect = np.mean([image_metrics(p, g, with_hce=False).fm_curve for p, g in cases.values()], 0)
    np.testing.assert_allclose(data["curves"]["fm"], expect, rtol=0, atol=1e-12)
    assert data["split"] == "S" and data["num_images"] == 3


def test_a_0_1_prediction_map_is_not_stretched_to_0_255(tmp_path) -> None:
    _, gt = make_pair(30, 40, 2)
    pred = (gt > 128).astype(np.uint8)  # a map of 0s and 1s: almost black
    pdir, gdir = folders(tmp_path, {"a": (pred, gt)})
    _, per = evaluate_dis_folder(pdir, gdir, progress=False)
    expect = image_metrics(pred, gt)
    assert expect.hce != image_metrics(pred * 255, gt).hce  # HCE reads the map above 128
    assert per[0].mae == expect.mae and per[0].hce == expect.hce


def test_no_pairs_is_an_input_error() -> None:
    with pytest.raises(EvaluationInputError, match="nothing to evaluate"):
        evaluate_dis_pairs([], progress=False)
