"""Scoring a DIS5K split whose ``ske/`` folder lacks some GT's skeleton says so, as
``evaluate.py --ske-dir`` does: that image's HCE then uses a skeleton computed from its GT."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pmgsam.evaluation.scoring import evaluate_dis_pairs


def _split(tmp_path: Path) -> list:
    split = tmp_path / "DIS-TE1"
    for folder in ("gt", "ske", "pred"):
        (split / folder).mkdir(parents=True)
    pairs = []
    for stem in ("a", "b"):
        gt = np.zeros((20, 20), np.uint8)
        gt[5:15, 8:12] = 255
        Image.fromarray(gt).save(split / "gt" / f"{stem}.png")
        Image.fromarray(gt // 2).save(split / "pred" / f"{stem}.png")
        pairs.append([stem, split / "pred" / f"{stem}.png", split / "gt" / f"{stem}.png", None])
    ske = np.zeros((20, 20), np.uint8)
    ske[6:14, 10] = 255
    Image.fromarray(ske).save(split / "ske" / "a.png")
    pairs[0][3] = split / "ske" / "a.png"  # b has none
    return [tuple(p) for p in pairs]


def test_a_gt_without_its_skeleton_in_the_splits_ske_folder_is_named(tmp_path: Path) -> None:
    pairs = _split(tmp_path)
    with pytest.warns(UserWarning, match=r"1 of 2 GT mask\(s\) have no skeleton .* in ") as caught:
        evaluate_dis_pairs(pairs, workers=1, progress=False)
    message = str(caught[0].message)
    assert str(tmp_path / "DIS-TE1" / "ske") in message and message.endswith(": b.png")


def test_no_warning_without_hce_or_without_a_ske_folder(tmp_path: Path) -> None:
    pairs = _split(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        evaluate_dis_pairs(pairs, workers=1, progress=False, with_hce=False)
        no_ske = [(s, p, g, None) for s, p, g, _ in pairs]
        for f in (tmp_path / "DIS-TE1" / "ske").iterdir():
            f.unlink()
        (tmp_path / "DIS-TE1" / "ske").rmdir()
        evaluate_dis_pairs(no_ske, workers=1, progress=False)  # a split without ske/: silent
