"""Progress bars of the timing harness: a CPU timing of a SAM automatic mode (13 passes at the
defaults) ran for minutes after a single log line, with nothing to tell a stall from work."""

from __future__ import annotations

import re

import numpy as np
import torch

from pmgsam.baselines.runner import measure_efficiency
from pmgsam.efficiency.timing import measure_speed


def _final_count(err: str, label: str) -> str:
    """The last 'n/total' a tqdm bar labelled ``label`` printed to stderr."""
    counts = re.findall(rf"{re.escape(label)}.*?(\d+/\d+)", err.replace("\r", "\n"))
    assert counts, err
    return counts[-1]


def test_timing_bar_counts_warm_up_and_timed_passes(capsys) -> None:
    calls = []
    speed = measure_speed(lambda x: calls.append(x), torch.zeros(1), "fp32", 4, 2, "timing X")
    assert len(calls) == 6 and speed["images_per_s"] > 0
    assert _final_count(capsys.readouterr().err, "timing X") == "6/6"
    # Without warm-up the first call is a timed one: 3 calls in all, not 4.
    measure_speed(lambda x: calls.append(x), torch.zeros(1), "fp32", 3, 0, "timing Y")
    assert len(calls) == 9
    assert _final_count(capsys.readouterr().err, "timing Y") == "3/3"


def test_timing_without_a_label_prints_nothing(capsys) -> None:
    measure_speed(lambda x: x, torch.zeros(1), "fp32", 2, 1)
    assert capsys.readouterr().err == ""


class _Baseline:
    """The parts of a Baseline that measure_efficiency uses."""

    label, mode = "SAM ViT-B", "auto"

    def __init__(self) -> None:
        self.model = torch.nn.Linear(2, 2)
        self.passes = 0

    def predict(self, image, boxes=None):
        self.passes += 1
        return self.model(torch.ones(1, 2))


def test_baseline_timing_shows_a_bar_unless_quiet(capsys) -> None:
    baseline = _Baseline()
    image = np.zeros((4, 4, 3), np.uint8)
    measure_efficiency(baseline, image, None, 3, 1)
    assert _final_count(capsys.readouterr().err, "timing SAM ViT-B auto") == "4/4"
    measure_efficiency(baseline, image, None, 3, 1, progress=False)
    assert "timing" not in capsys.readouterr().err
