"""End to end against the reference packages: maps scored split by split with ``evaluate.py
--pred-dir ... --run``, then tabled by ``pmgsam.report``, give the numbers that PySODMetrics (one
pass over all TE1-4 images for the Overall column) and the official HCE give.

The other metric tests call the metric functions; this one goes through the files a user
publishes from (the per-image CSV, run.json's curves and image counts, the printed table), on
maps the unit tests leave out: all-zero, constant, values 1..254 only, a band at exactly level
128, and a GT of three pixels. The splits hold unequal image counts, so an Overall averaged over
the four splits (instead of pooled over their images) differs from the reference.
"""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from cli_cases import evaluate_main
from mask_cases import make_pair, pysod_scores

from pmgsam import report
from pmgsam.evaluation.tables import pool_te

H, W = 48, 64
METRICS = ("maxFm", "wFmeasure", "MAE", "Smeasure", "meanEm", "HCE")
HEADS = {
    "maxFm": "maxFβ↑",
    "wFmeasure": "wFβ↑",
    "MAE": "MAE↓",
    "Smeasure": "Sα↑",
    "meanEm": "mEφ↑",
    "HCE": "HCE↓",
}


def _edge_pairs() -> list:
    """(prediction, GT) pairs of maps the unit tests do not cover."""
    _, gt = make_pair(H, W, 7)
    noisy = np.clip(gt / 255 * 200 + 20 + np.random.default_rng(1).normal(0, 25, gt.shape), 1, 254)
    band = np.where(gt > 128, 200, 3).astype(np.uint8)
    band[(cv2.dilate(gt, np.ones((5, 5), np.uint8)) > 0) & (gt == 0)] = 128
    tiny = np.zeros((H, W), np.uint8)
    tiny[10:12, 20] = 255
    tiny[11, 21] = 255
    return [
        (np.zeros((H, W), np.uint8), gt),
        (np.full((H, W), 77, np.uint8), gt),
        (noisy.astype(np.uint8), gt),
        (band, gt),
        (cv2.GaussianBlur(np.roll(tiny, 2, axis=1), (0, 0), 1.5), tiny),
    ]


def _official_hce(pred: np.ndarray, gt: np.ndarray) -> int:
    """The official DIS HCE: PySODMetrics' port of hce_metric_main.py, given the raw > 128
    binarisation the official tool applies (its own step would min-max normalise first)."""
    import py_sod_metrics as psm

    return int(psm.HumanCorrectionEffortMeasure().cal_hce((pred > 128).astype(float), gt > 128))


def _reference(pairs: list) -> dict:
    ref = {k: float(v) for k, v in pysod_scores(pairs).items()}
    ref["HCE"] = float(np.mean([_official_hce(p, g) for p, g in pairs]))
    return ref


def test_split_scores_per_image_rows_and_pooled_overall_equal_the_references(
    tmp_path: Path, capsys
) -> None:
    pairs = _edge_pairs() + [make_pair(H, W, 20 + i) for i in range(3)]
    # 1, 2, 3 and 2 images: the plain mean of the four splits is not the pooled value.
    sizes = {"DIS-TE1": 1, "DIS-TE2": 2, "DIS-TE3": 3, "DIS-TE4": 2}
    run, start = tmp_path / "run", 0
    split_pairs = {}
    for split, n in sizes.items():
        split_pairs[split] = pairs[start : start + n]
        start += n
        pdir, gdir = tmp_path / split / "pred", tmp_path / split / "gt"
        pdir.mkdir(parents=True)
        gdir.mkdir()
        for i, (p, g) in enumerate(split_pairs[split]):
            cv2.imwrite(str(pdir / f"{split}_{i}.png"), p)
            cv2.imwrite(str(gdir / f"{split}_{i}.png"), g)
        out = tmp_path / "scores" / f"{split}.json"
        argv = ["--pred-dir", pdir, "--gt-dir", gdir, "--out", out, "--run", run]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the constant and all-zero maps' warnings
            assert evaluate_main([*argv, "--split", split, "--workers", "1", "--quiet"]) == 0
        with open(out.with_suffix(".per_image.csv"), encoding="utf-8") as fh:
            rows = {r["name"]: r for r in csv.DictReader(fh)}
        for i, pair in enumerate(split_pairs[split]):
            ref = _reference([pair])
            row = rows[f"{split}_{i}"]
            for key in METRICS:
                assert float(row[key]) == pytest.approx(ref[key], abs=1e-9), (split, i, key)

    assert report.main([str(run), "--out", str(tmp_path / "tables")]) == 0
    capsys.readouterr()
    with open(tmp_path / "tables" / "dis.csv", encoding="utf-8") as fh:
        (table,) = list(csv.DictReader(fh))
    groups = {**split_pairs, "Overall (TE1-4)": pairs}
    for group, group_pairs in groups.items():
        ref = _reference(group_pairs)
        for key in METRICS:
            shown = f"{ref[key]:.0f}" if key == "HCE" else f"{ref[key]:.3f}"
            assert table[f"{group} {HEADS[key]}"] == shown, (group, key)
    # The 3-decimal table could hide a small pooling error: the pooled values themselves.
    pooled = pool_te(json.loads((run / "run.json").read_text(encoding="utf-8"))["dis"])
    ref = _reference(pairs)
    for key in METRICS:
        assert pooled[key] == pytest.approx(ref[key], abs=1e-9), key
