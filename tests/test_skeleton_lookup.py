"""One rule finds GT skeletons (pmgsam.data.layouts.skeleton_files): a DIS5K split's ``ske/``
folder in benchmark mode and DIS scoring's ``--ske-dir`` read the same folder the same way,
and name the same masks without one."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pmgsam.data import build_dataset
from pmgsam.evaluation.hce import hce_counts
from pmgsam.evaluation.scoring import (
    EvaluationInputError,
    evaluate_dis_folder,
    evaluate_dis_pairs,
)

# Skeletons in several formats and cases; d has none, e one in a format no mask reader takes.
SKELETONS = {"a": "a.png", "b": "b.BMP", "c": "c.tif", "e": "e.webp"}
STEMS = ["a", "b", "c", "d", "e"]


def _dis5k_split(root: Path) -> Path:
    split = root / "DIS-TE1"
    for sub in ("im", "gt", "ske"):
        (split / sub).mkdir(parents=True)
    gt = np.zeros((16, 20), np.uint8)
    gt[3:12, 4:16] = 255
    # A skeleton with a second stroke outside the GT: HCE with it differs from HCE with the
    # skeleton computed from the GT, so the scores tell a found skeleton from a missed one.
    skeleton = np.zeros_like(gt)
    skeleton[7, 6:14] = 255
    skeleton[14, 1:4] = 255
    for stem in STEMS:
        Image.fromarray(np.full((16, 20, 3), 90, np.uint8)).save(split / "im" / f"{stem}.jpg")
        Image.fromarray(gt).save(split / "gt" / f"{stem}.png")
    for name in SKELETONS.values():
        Image.fromarray(skeleton).save(split / "ske" / name)
    return split


def test_benchmark_and_folder_scoring_find_the_same_skeletons(tmp_path, data_config) -> None:
    split = _dis5k_split(tmp_path / "DIS5K")
    pred = tmp_path / "pred"
    pred.mkdir()
    for stem in STEMS:
        Image.fromarray(np.zeros((16, 20), np.uint8)).save(pred / f"{stem}.png")
    ds = build_dataset(data_config("dis5k", tmp_path / "DIS5K"), "DIS-TE1", 32, train=False)
    ske = split / "ske"
    expected = [ske / "a.png", ske / "b.BMP", ske / "c.tif", None, None]
    assert ds.skeleton_paths == expected
    # Benchmark mode scores the dataset's (stem, map, GT, skeleton) tuples.
    pairs = [(n, pred / f"{n}.png", g, k) for n, g, k in zip(ds.names, ds.mask_paths, expected)]
    missing = r"2 of 5 GT mask\(s\) have no skeleton .*DIS-TE1.ske, .*: d\.png, e\.png$"
    with pytest.warns(UserWarning, match=missing):
        _, by_dataset = evaluate_dis_pairs(pairs, progress=False)
    with pytest.warns(UserWarning, match=missing):
        _, by_folder = evaluate_dis_folder(pred, split / "gt", ske_dir=ske, progress=False)
    hce = {r.name: r.hce for r in by_dataset}
    assert {r.name: r.hce for r in by_folder} == hce
    # Both used the skeleton files found, and the computed skeleton for d and e.
    empty, gt = np.zeros((16, 20), np.uint8), np.asarray(Image.open(split / "gt" / "a.png"))
    given = hce_counts(empty, gt, np.asarray(Image.open(ske / "a.png")) > 128)
    computed = hce_counts(empty, gt)
    assert given != computed
    assert [hce[s] for s in STEMS] == [given, given, given, computed, computed]


def test_two_skeletons_of_one_stem_are_refused_by_both_paths(tmp_path, data_config) -> None:
    split = _dis5k_split(tmp_path / "DIS5K")
    Image.open(split / "ske" / "a.png").save(split / "ske" / "a.jpg")
    cfg = data_config("dis5k", tmp_path / "DIS5K")
    with pytest.raises(ValueError, match=r"two files with stem 'a': 'a.jpg' and 'a.png'"):
        build_dataset(cfg, "DIS-TE1", 32, train=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(EvaluationInputError, match=r"ske' has two files with stem 'a'"):
            evaluate_dis_folder(split / "gt", split / "gt", ske_dir=split / "ske", progress=False)
