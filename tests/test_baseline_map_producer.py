"""What a baseline's DIS maps depend on, so that ``--skip-existing`` never keeps a stale map.

An automatic mode's map is one reduction of its masks (``--reduce``): a map made by ``union``
is not the ``largest`` one, and the oracle's is chosen by the GT, so an edited GT mask makes it
stale. Stand-in baselines and hand-made masks, as in tests/test_baseline_runner.py.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import cv2
import numpy as np

import evaluate
from pmgsam.baselines.base import Prediction
from pmgsam.baselines.row import map_settings
from pmgsam.baselines.runner import run_baseline

H, W = 8, 10


def block(x0: int, x1: int) -> np.ndarray:
    """(H, W) uint8, 1 on columns x0..x1-1 of every row."""
    m = np.zeros((H, W), np.uint8)
    m[:, x0:x1] = 1
    return m


class OneImage:
    """A one-image dataset whose GT mask is a file that a test may edit."""

    names = ["a"]
    skeleton_paths = None

    def __init__(self, root: Path, gt: np.ndarray) -> None:
        root.mkdir(parents=True)
        self.image_paths = [root / "a.jpg"]
        self.mask_paths = [root / "a.png"]
        cv2.imwrite(str(self.image_paths[0]), np.full((H, W, 3), 50, np.uint8))
        self.write_gt(gt)

    def write_gt(self, gt: np.ndarray) -> None:
        self.gt = gt
        cv2.imwrite(str(self.mask_paths[0]), gt * 255)

    def __len__(self) -> int:
        return 1

    def load(self, i: int):
        return np.full((H, W, 3), 50, np.uint8), self.gt


class TwoMasks:
    """An automatic stand-in: the left and the right half, every time it is asked."""

    prompt, mode, label = "auto", "auto", "stand-in"

    def __init__(self) -> None:
        self.calls = 0

    def predict(self, image: np.ndarray, boxes: Optional[np.ndarray] = None) -> Prediction:
        self.calls += 1
        return Prediction([block(0, 5).astype(np.float32), block(5, 10).astype(np.float32)],
                          [0.9, 0.8])  # fmt: skip


PRODUCER = {"weights": "w", "weights_sha256": "0" * 64, "frozen_sha256": None, "image_size": 64,
            "amp": "none", "maps": "final", "settings": {"reduce": "oracle"}}  # fmt: skip


def test_a_resumed_oracle_map_follows_an_edited_gt(tmp_path: Path) -> None:
    data = OneImage(tmp_path / "data", block(0, 4))  # IoU: left 4/5, right 0
    out, baseline = tmp_path / "run", TwoMasks()
    kwargs = dict(progress=False, producer=PRODUCER, timing=False)
    run_baseline(baseline, data, out, "S", "oracle", **kwargs)
    pred = out / "pred" / "S" / "a.png"
    np.testing.assert_array_equal(cv2.imread(str(pred), cv2.IMREAD_UNCHANGED), block(0, 5) * 255)
    data.write_gt(block(6, 10))  # now IoU: left 0, right 4/5
    stat = os.stat(data.mask_paths[0])  # a new time even on a coarse-clock file system
    os.utime(data.mask_paths[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    run_baseline(baseline, data, out, "S", "oracle", skip_existing=True, **kwargs)
    assert baseline.calls == 2  # predicted again: its map was made from the old GT
    np.testing.assert_array_equal(cv2.imread(str(pred), cv2.IMREAD_UNCHANGED), block(5, 10) * 255)


def test_automatic_maps_of_other_settings_have_another_producer() -> None:
    parser = evaluate.build_parser()

    def settings(baseline: str, reduce: str):
        return map_settings(parser.parse_args(["--baseline", baseline, "--reduce", reduce]))

    for baseline in ("sam-auto", "sam2-auto", "esam"):
        made = [settings(baseline, reduce) for reduce in ("union", "largest", "oracle")]
        assert [m["reduce"] for m in made] == ["union", "largest", "oracle"]
    # Nor are E-SAM maps made with other thresholds, nor a generator's with other settings.
    esam = ["--baseline", "esam", "--esam-merge-similarity"]
    assert map_settings(parser.parse_args([*esam, "0.8"])) != map_settings(
        parser.parse_args([*esam, "0.9"])
    )
    auto = ["--baseline", "sam-auto", "--pred-iou-thresh"]
    assert map_settings(parser.parse_args([*auto, "0.8"])) != map_settings(
        parser.parse_args([*auto, "0.9"])
    )
    m2m = ["--baseline", "sam2-auto"]  # SAM2's mask-to-mask refinement changes every mask
    assert map_settings(parser.parse_args(m2m)) != map_settings(
        parser.parse_args([*m2m, "--use-m2m"])
    )
    # A box prompt makes one map whatever --reduce says: its maps are kept across it.
    assert settings("sam-box", "union") == settings("sam-box", "largest")
