"""``pmgsam.ablate --evaluate`` scoring the maps a variant already has (HCE added to scores made
without it): the kept maps of every part are scored as one set, with HCE exactly as asked, and
the summary counts each part's images (test_ablate_rescoring.py stands in for this pass)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

import pmgsam.ablation.scoring as scoring

PARTS = {"DIS-TE1": ["a"], "DIS-TE2": ["a", "b"]}  # one name in both parts


def _variant(tmp_path: Path) -> tuple:
    gt = np.zeros((16, 16), np.uint8)
    gt[4:12, 4:12] = 255
    miss = np.zeros_like(gt)
    miss[4:12, 4:8] = 255  # half the square: HCE > 0
    datasets = {}
    for part, names in PARTS.items():
        (tmp_path / part).mkdir()
        (tmp_path / "run" / "pred" / part).mkdir(parents=True)
        for name in names:
            cv2.imwrite(str(tmp_path / part / f"{name}.png"), gt)
            cv2.imwrite(str(tmp_path / "run" / "pred" / part / f"{name}.png"), miss)
        datasets[part] = SimpleNamespace(
            names=names, mask_paths=[tmp_path / part / f"{n}.png" for n in names]
        )
    return tmp_path / "run", datasets


@pytest.mark.parametrize("no_hce", [True, False])
def test_kept_maps_are_scored_as_one_set_with_hce_as_asked(tmp_path, no_hce: bool) -> None:
    run_dir, datasets = _variant(tmp_path)
    opts = SimpleNamespace(workers=1, no_hce=no_hce, quiet=True)
    summary = scoring._predict_and_score(
        tmp_path / "k5.yaml", run_dir, "DIS-TE1+DIS-TE2", [], opts, datasets, predict=False
    )
    assert summary["num_images"] == 3
    assert summary["parts"] == {"DIS-TE1": 1, "DIS-TE2": 2}
    # Every kept map misses half the square: 32 of 256 pixels wrong (the maps predicted
    # before, not new ones).
    assert summary["MAE"] == pytest.approx(32 / 256, abs=1e-9)
    if no_hce:
        assert summary.get("HCE") is None
    else:
        assert summary["HCE"] > 0
    written = json.loads((run_dir / "metrics" / "DIS-TE1+DIS-TE2.json").read_text())
    assert written["split"] == "DIS-TE1+DIS-TE2"
    with (run_dir / "metrics" / written["per_image_file"]).open(newline="") as fh:
        names = [row["name"] for row in csv.DictReader(fh)]
    # The image named "a" in both parts keeps one row each.
    assert names == ["DIS-TE1/a", "DIS-TE2/a", "DIS-TE2/b"]
