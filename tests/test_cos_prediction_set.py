"""Which prediction maps COS scoring scores: a map whose image the COCO GT does not list is
named in a warning (DIS refuses it, but a COCO file may cover part of an image folder)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from mask_cases import coco_annotation, coco_dict

import evaluate
from pmgsam.evaluation.instances import UnscoredPredictionWarning, evaluate_cos_folder
from pmgsam.evaluation.scoring import EvaluationInputError
from pmgsam.utils.cli import exit_status

S = 16


def _case(tmp_path: Path, gt_stems, map_stems) -> tuple:
    """A COCO file of one 4x4 square per image of ``gt_stems``, and a folder of perfect maps
    named ``map_stems``."""
    m = np.zeros((S, S), np.uint8)
    m[4:8, 4:8] = 1
    anns = [coco_annotation(i, i, m) for i in range(1, len(gt_stems) + 1)]
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(coco_dict((S, S), anns, [f"{s}.jpg" for s in gt_stems])))
    pred = tmp_path / "pred"
    pred.mkdir()
    for stem in map_stems:
        cv2.imwrite(str(pred / f"{stem}.png"), m * 255)
    return pred, gt


def test_maps_without_gt_are_named_in_a_warning_and_not_scored(tmp_path: Path) -> None:
    # Four GT images, five maps: the fifth (another split's) is left out, with a warning.
    pred, gt = _case(tmp_path, ["a", "b", "c", "d"], ["a", "b", "c", "d", "other_split_7"])
    with pytest.warns(UnscoredPredictionWarning) as caught:
        res = evaluate_cos_folder(pred, gt, progress=False)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert message.startswith("1 prediction(s) in ") and "other_split_7.png" in message
    assert res["num_images"] == 4 and res["num_results"] == 4 and res["AP"] == 1.0


def test_the_cli_warns_and_writes_the_scores(tmp_path: Path) -> None:
    pred, gt = _case(tmp_path, ["a", "b"], ["a", "b", "x", "y", "z"])
    out = tmp_path / "ap.json"
    argv = ["--task", "cos", "--pred-dir", pred, "--gt-json", gt, "--out", out, "--quiet"]
    with pytest.warns(UnscoredPredictionWarning, match=r"^3 prediction\(s\) .*x.png, y.png, z.png"):
        assert exit_status(evaluate.main, argv) == 0
    assert json.loads(out.read_text())["num_images"] == 2


def test_a_matching_folder_warns_nothing(tmp_path: Path) -> None:
    pred, gt = _case(tmp_path, ["a", "b"], ["a", "b"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert evaluate_cos_folder(pred, gt, progress=False)["num_images"] == 2


def test_missing_maps_error_also_names_the_maps_without_gt(tmp_path: Path) -> None:
    # A folder of another split: the GT's maps are missing and its own maps have no GT.
    pred, gt = _case(tmp_path, ["a", "b"], ["p", "q", "r"])
    with pytest.raises(EvaluationInputError) as err:
        evaluate_cos_folder(pred, gt, progress=False)
    text = str(err.value)
    assert "2 GT image(s) have no prediction" in text and "a.jpg, b.jpg" in text
    assert "3 prediction(s) in" in text and "p.png, q.png, r.png" in text
