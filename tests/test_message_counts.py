"""Counts in the messages a user reads agree with their number ("1 pass", "2 passes"): a count
of 1 used to print as "1 passes after 0 warm-up", "[1 images]", "has 1 coordinates"."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from pmgsam.baselines.runner import measure_efficiency
from pmgsam.evaluation.dis_results import dis_line
from pmgsam.utils.messages import counted
from pmgsam.utils.rle import SegmentationError, rle_from_segmentation


def test_counted_uses_the_singular_for_one_only() -> None:
    assert counted(1, "pass", "passes") == "1 pass"
    assert counted(0, "pass", "passes") == "0 passes"
    assert counted(3, "step") == "3 steps"
    assert counted(1, "image") == "1 image"


def test_a_summary_of_one_image_says_image() -> None:
    assert dis_line({"num_images": 1, "MAE": 0.25}).startswith("[1 image] ")
    assert dis_line({"num_images": 2}).startswith("[2 images] ")


def test_a_polygon_of_one_coordinate_says_coordinate() -> None:
    with pytest.raises(SegmentationError, match=r"polygon 0 has 1 coordinate: x, y pairs"):
        rle_from_segmentation([[4.0]], 8, 8)


def test_the_baseline_timing_log_counts_one_pass_and_no_warm_up(caplog) -> None:
    model = torch.nn.Linear(1, 1)
    baseline = SimpleNamespace(
        model=model, label="SAM ViT-B", mode="auto", predict=lambda image, boxes: None
    )
    image = np.zeros((4, 4, 3), np.uint8)
    with caplog.at_level(logging.INFO, logger="pmgsam.baselines.runner"):
        measure_efficiency(baseline, image, None, iters=1, warmup=0, progress=False)
    assert "1 pass after 0 warm-up passes, plus one counting FLOPs" in caplog.text
