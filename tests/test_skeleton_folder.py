"""DIS scoring with ``--ske-dir`` names the GT masks it found no skeleton for: their HCE falls
back to a skeleton computed from the GT (as the official tool does), which a folder of
skeletons saved in another format would otherwise bring about without a word."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pmgsam.evaluation.scoring import evaluate_dis_folder


def _folders(tmp_path: Path, skeleton_ext: str) -> tuple:
    pred, gt, ske = tmp_path / "pred", tmp_path / "gt", tmp_path / "ske"
    for folder in (pred, gt, ske):
        folder.mkdir()
    mask = np.zeros((16, 20), np.uint8)
    mask[3:12, 4:16] = 255
    skeleton = np.zeros_like(mask)
    skeleton[7, 6:14] = 255
    for stem in ("a", "b"):
        Image.fromarray(mask).save(gt / f"{stem}.png")
        Image.fromarray(np.zeros_like(mask)).save(pred / f"{stem}.png")
    Image.fromarray(skeleton).save(ske / "a.png")
    Image.fromarray(skeleton).save(ske / f"b{skeleton_ext}")
    return pred, gt, ske


def test_gt_masks_without_a_skeleton_file_are_named(tmp_path: Path) -> None:
    pred, gt, ske = _folders(tmp_path, ".gif")
    with pytest.warns(UserWarning, match=r"1 of 2 GT mask\(s\) have no skeleton .*: b\.png$"):
        evaluate_dis_folder(pred, gt, ske_dir=ske, progress=False)


def test_a_full_skeleton_folder_scores_quietly(tmp_path: Path) -> None:
    pred, gt, ske = _folders(tmp_path, ".png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary, _ = evaluate_dis_folder(pred, gt, ske_dir=ske, progress=False)
    # The empty prediction misses each given skeleton, one straight line: approxPolyDP keeps
    # its 2 end points. The skeleton computed from the GT rectangle forks, so counts more.
    assert summary["HCE"] == 2.0


def test_a_skeleton_of_the_gts_extension_is_used(tmp_path: Path) -> None:
    # A skeleton is <stem> with any mask extension: a .bmp GT's .bmp skeleton is found, so its
    # HCE equals that of the same skeleton as .png (tests/test_skeleton_lookup.py: others).
    pred, gt, ske = _folders(tmp_path, ".png")
    as_png, _ = evaluate_dis_folder(pred, gt, ske_dir=ske, progress=False)
    for folder in (gt, ske):
        Image.open(folder / "b.png").save(folder / "b.bmp")
        (folder / "b.png").unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        as_bmp, _ = evaluate_dis_folder(pred, gt, ske_dir=ske, progress=False)
    assert as_bmp["HCE"] == as_png["HCE"]


def test_no_skeleton_warning_when_hce_is_not_computed(tmp_path: Path) -> None:
    pred, gt, ske = _folders(tmp_path, ".gif")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        evaluate_dis_folder(pred, gt, ske_dir=ske, progress=False, with_hce=False)
