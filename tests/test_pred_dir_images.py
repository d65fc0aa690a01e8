"""An image folder given as --pred-dir is refused, naming it, in DIS and COS scoring; grey maps
saved as RGB files (three equal channels) are still maps (pmgsam.evaluation.map_checks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import evaluate
from pmgsam.evaluation.instances import evaluate_cos_folder
from pmgsam.evaluation.scoring import EvaluationInputError, evaluate_dis_folder
from pmgsam.utils.cli import exit_status


def test_dis_scoring_refuses_the_image_folder_as_predictions(dis5k_root: Path, tmp_path, capsys):
    images, gts = dis5k_root / "DIS-VD" / "im", dis5k_root / "DIS-VD" / "gt"
    # Before, the photos (same stems as the GT) were scored as maps without a word.
    with pytest.raises(EvaluationInputError, match=f"prediction folder '{images}' holds colour"):
        evaluate_dis_folder(images, gts, with_hce=False, progress=False)
    argv = ["--pred-dir", images, "--gt-dir", gts, "--out", tmp_path / "s.json", "--no-hce"]
    assert exit_status(evaluate.main, argv) == 2
    assert "holds colour images, not probability maps" in capsys.readouterr().err
    assert not (tmp_path / "s.json").exists()


def test_cos_scoring_refuses_the_image_folder_and_scores_grey_rgb_maps(
    cod10k_root: Path, tmp_path: Path
) -> None:
    test = cod10k_root / "Test"
    gt_json = test / "CAM_Instance_Test.json"
    with pytest.raises(EvaluationInputError, match=f"prediction folder '{test / 'Image'}' holds"):
        evaluate_cos_folder(test / "Image", gt_json, progress=False)
    # The GT object masks as maps: grey PNGs, and the same saved as RGB (equal channels) and
    # as RGB JPEGs (lossy, yet grey), score the same.
    grey, rgb, jpeg = tmp_path / "grey", tmp_path / "rgb", tmp_path / "jpeg"
    for folder in (grey, rgb, jpeg):
        folder.mkdir()
    for mask in sorted((test / "GT_Object").glob("*.png")):
        values = np.asarray(Image.open(mask).convert("L"))
        Image.fromarray(values).save(grey / mask.name)
        Image.fromarray(np.stack([values] * 3, axis=-1)).save(rgb / mask.name)
        Image.fromarray(np.stack([values] * 3, axis=-1)).save(jpeg / f"{mask.stem}.jpg")
    scores = [
        evaluate_cos_folder(f, gt_json, progress=False, warn_unscored=False)
        for f in (grey, rgb, jpeg)
    ]
    assert scores[0]["num_images"] > 0 and scores[0]["AP"] > 0
    assert scores[1]["AP"] == scores[0]["AP"] and scores[2]["num_images"] == scores[0]["num_images"]
