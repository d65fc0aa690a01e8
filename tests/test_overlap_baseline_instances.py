"""``python -m pmgsam.analysis overlap --run`` on a SAM baseline's COD10K run: its full-set AP
was scored from its instances (every generated mask, scored by predicted IoU, kept in
``metrics/<split>.results.json``), so the subset is scored from the same instances, not from
the union maps in ``pred/<split>``, whose components are other instances with other scores."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from mask_cases import coco_dict

from pmgsam.analysis.__main__ import main
from pmgsam.utils.cli import exit_status
from pmgsam.utils.rle import encode_rle

H, W = 8, 8
SOURCE = "sam-auto masks as instances, score = predicted IoU"


def _instance(rows: slice, cols: slice) -> np.ndarray:
    mask = np.zeros((H, W), bool)
    mask[rows, cols] = True
    return mask


# Image a: two instances side by side (they touch: the subset); image b: one on its own.
MASKS = {
    "a.jpg": [_instance(slice(1, 5), slice(0, 3)), _instance(slice(1, 5), slice(3, 6))],
    "b.jpg": [_instance(slice(2, 6), slice(2, 6))],
}


def _coco(ids: dict) -> dict:
    anns = []
    for name, masks in MASKS.items():
        for mask in masks:
            anns.append({"id": len(anns) + 1, "image_id": ids[name], "category_id": 1,
                         "iscrowd": 0, "area": int(mask.sum()),
                         "segmentation": encode_rle(mask)})  # fmt: skip
    return coco_dict((H, W), anns, {name: ids[name] for name in MASKS})


@pytest.fixture
def baseline_run(tmp_path: Path) -> tuple:
    """(GT file, run folder): the run's instances are exactly the GT's, its maps empty."""
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(_coco({"a.jpg": 1, "b.jpg": 2})))
    run = tmp_path / "run"
    (run / "metrics").mkdir(parents=True)
    # The run's own GT numbers the images otherwise: instances pair with images by name.
    run_gt = _coco({"a.jpg": 7, "b.jpg": 8})
    (run / "metrics" / "Test.gt.json").write_text(json.dumps(run_gt))
    results = [{"image_id": a["image_id"], "category_id": 1, "segmentation": a["segmentation"],
                "score": 0.9} for a in run_gt["annotations"]]  # fmt: skip
    (run / "metrics" / "Test.results.json").write_text(json.dumps(results))
    cos = {"AP": 1.0, "AP50": 1.0, "AP75": 1.0, "protocol": "all", "resize_pred": False,
           "source": SOURCE, "num_results": 3, "results_file": "Test.results.json"}  # fmt: skip
    meta = {"baseline": "sam-auto"}
    (run / "run.json").write_text(json.dumps({"method": "SAM", "cos": {"TOY": cos}, "meta": meta}))
    (run / "pred" / "Test").mkdir(parents=True)
    for name in MASKS:  # the union maps: empty here, so scoring them would give AP 0
        cv2.imwrite(str(run / "pred" / "Test" / name.replace(".jpg", ".png")), np.zeros((H, W)))
    return gt, run


def test_subset_of_a_baseline_run_is_scored_from_its_instances(tmp_path, baseline_run) -> None:
    gt, run = baseline_run
    args = ["overlap", "--gt-json", str(gt), "--name", "TOY", "--split", "Test"]
    args += ["--rule", "touch", "--run", str(run), "--out", str(tmp_path / "ov"), "--quiet"]
    main(args)
    cos = json.loads((run / "run.json").read_text())["cos"]
    # Image a holds the touching pair: its two instances, found exactly, give AP 1.
    sub = cos["TOY overlap"]
    assert (sub["AP"], sub["num_images"], sub["num_results"]) == (1.0, 1, 2)
    assert sub["source"] == SOURCE and sub["share"] == 0.5
    assert cos["TOY"]["num_results"] == 3  # the full-set entry is the run's own


def test_maps_of_a_baseline_run_are_refused(tmp_path, baseline_run) -> None:
    gt, run = baseline_run
    args = ["overlap", "--gt-json", str(gt), "--name", "TOY", "--run", str(run)]
    args += ["--pred-dir", str(run / "pred" / "Test"), "--out", str(tmp_path / "ov")]
    assert exit_status(main, args) == 2
    assert not (tmp_path / "ov").exists()


def test_another_name_for_a_baseline_run_is_refused(tmp_path, baseline_run) -> None:
    # No TOY2 entry: scoring the maps would add a maps-based full set to the baseline's row.
    gt, run = baseline_run
    args = ["overlap", "--gt-json", str(gt), "--name", "TOY2", "--split", "Test"]
    args += ["--run", str(run), "--out", str(tmp_path / "ov")]
    assert exit_status(main, args) == 2
    assert "TOY2" not in json.loads((run / "run.json").read_text())["cos"]


def test_scoring_options_for_a_baseline_run_are_refused(tmp_path, baseline_run, capsys) -> None:
    # Its instances are scored as they were made: a --threshold would change nothing.
    gt, run = baseline_run
    args = ["overlap", "--gt-json", str(gt), "--name", "TOY", "--split", "Test", "--run", str(run)]
    args += ["--threshold", "0.3", "--out", str(tmp_path / "ov")]
    assert exit_status(main, args) == 2
    assert "--threshold would be ignored: --run" in capsys.readouterr().err
    assert not (tmp_path / "ov").exists()
    assert "TOY overlap" not in json.loads((run / "run.json").read_text())["cos"]
