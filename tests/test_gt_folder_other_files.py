"""DIS scoring names the files of the GT folder it does not read: a GT mask saved as .webp or
.gif would otherwise leave its image out of the score without a word."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pmgsam.evaluation.scoring import evaluate_dis_folder


def _folders(tmp_path: Path, extra: str) -> tuple:
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    pred.mkdir()
    gt.mkdir()
    mask = np.zeros((6, 8), np.uint8)
    mask[1:4, 2:6] = 255
    for folder in (pred, gt):
        Image.fromarray(mask).save(folder / "a.png")
        if extra:
            Image.fromarray(255 - mask).save(folder / f"b{extra}")
    (gt / ".DS_Store").write_bytes(b"\0")
    return pred, gt


@pytest.mark.parametrize("extra", [".webp", ".gif"])
def test_gt_masks_of_other_formats_are_named(tmp_path: Path, extra: str) -> None:
    pred, gt = _folders(tmp_path, extra)
    with pytest.warns(
        UserWarning, match=rf"1 file\(s\) in the GT folder .*are not scored: b\{extra}"
    ):
        summary, _ = evaluate_dis_folder(pred, gt, progress=False, with_hce=False)
    assert summary["num_images"] == 1


def test_a_gt_folder_of_masks_only_scores_quietly(tmp_path: Path) -> None:
    pred, gt = _folders(tmp_path, "")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary, _ = evaluate_dis_folder(pred, gt, progress=False, with_hce=False)
    assert summary["num_images"] == 1 and summary["MAE"] == 0.0


def test_gt_masks_with_an_upper_case_extension_are_read_and_not_named(tmp_path: Path) -> None:
    # list_files matches extensions whatever their case: A.PNG is a GT mask it reads.
    pred, gt = _folders(tmp_path, "")
    for folder in (pred, gt):
        (folder / "a.png").rename(folder / "a.PNG")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary, _ = evaluate_dis_folder(pred, gt, progress=False, with_hce=False)
    assert summary["num_images"] == 1
