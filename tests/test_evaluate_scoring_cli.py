"""evaluate.py's scoring modes: they never write over an input, --overwrite or not (the DIS
scores over a skeleton: --ske-dir is an input as --gt-dir is; the COS results file,
``<out>.results.json`` beside --out, over the COCO ground truth), and --no-hce leaves HCE out."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from cli_cases import evaluate_main
from test_output_guards import pairs, refused  # noqa: F401 (fixture)


def test_dis_scores_are_not_written_into_the_skeleton_folder(pairs, tmp_path, capsys):  # noqa: F811
    pred, gt = pairs
    ske = tmp_path / "ske"
    ske.mkdir()
    cv2.imwrite(str(ske / "a.png"), np.zeros((30, 40), np.uint8))
    # (--out ske/a.png, over a skeleton, is refused sooner: its suffix is not .json.)
    argv = ["--pred-dir", pred, "--gt-dir", gt, "--ske-dir", ske, "--out", ske / "m.json"]
    err = refused(evaluate_main, [*argv, "--overwrite"], capsys, pred, gt, ske, expect="--out")
    assert f"the input folder '{ske}'" in err


def test_the_cos_results_file_is_not_written_over_the_ground_truth(pairs, tmp_path, capsys):  # noqa: F811
    pred, _ = pairs
    gt_json = tmp_path / "scores.results.json"
    gt_json.write_text('{"images": [], "annotations": [], "categories": []}')
    out = Path(tmp_path / "scores.json")  # its results file is scores.results.json
    argv = ["--task", "cos", "--pred-dir", pred, "--gt-json", gt_json, "--out", out]
    refused(evaluate_main, [*argv, "--overwrite"], capsys, gt_json, expect="is the input file")
    assert not out.exists()


def test_no_hce_leaves_hce_out_of_the_dis_scores(pairs, tmp_path, capsys):  # noqa: F811
    pred, gt = pairs
    scores = {}
    for flag in ([], ["--no-hce"]):
        out = tmp_path / f"scores{len(flag)}.json"
        argv = ["--pred-dir", pred, "--gt-dir", gt, "--out", out, "--workers", 1, "--quiet"]
        assert evaluate_main([str(a) for a in [*argv, *flag]]) == 0
        scores[bool(flag)] = json.loads(out.read_text())
    # The random maps make a spurious boundary HCE counts; without --no-hce it is scored.
    assert scores[False]["HCE"] > 0
    assert scores[True].get("HCE") is None
    assert scores[True]["MAE"] == scores[False]["MAE"]
