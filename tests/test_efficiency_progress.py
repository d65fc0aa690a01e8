"""``python -m pmgsam.efficiency`` shows a progress bar over each timing on stderr (a
``--compare`` generator's pass takes minutes on a CPU), and ``--quiet`` hides it, as
``evaluate.py --quiet`` hides the baselines' timing bar.

The bar is what is tested, not the model: a one-convolution stand-in replaces PMG-SAM (whose
build and FLOP count took seconds), and the real timing loop draws the bar over its calls."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import pytest
from stand_in_models import ReportStandIn

import pmgsam.efficiency.report as report_mod
from pmgsam.efficiency.cli import main

ARGV = ["--model", "pmgsam_tiny", "--size", "32", "--iters", "2", "--warmup", "1"]
ARGV += ["--device", "cpu", "--compare", "sam_vit_b"]


def _fake_amg(labels: List[Optional[str]]):
    def amg(name: str, images: Any, progress: Optional[str] = None, **kwargs: Any) -> Dict:
        labels.append(progress)
        speed = {"latency_ms_median": 1000.0, "images_per_s": 1.0, "first_call_ms": 1000.0}
        speed.update(peak_memory_mb=None, peak_reserved_mb=None)
        flops = {"total": 4e11, "image_encoder": 3e11}
        return {**speed, "flops_per_image": flops, "masks_kept": 0}

    return amg


@pytest.fixture
def labels(monkeypatch: pytest.MonkeyPatch) -> List[Optional[str]]:
    """The progress labels the (faked) generator timing was given; PMG-SAM is a stand-in."""
    seen: List[Optional[str]] = []
    monkeypatch.setattr(report_mod, "measure_amg", _fake_amg(seen))
    monkeypatch.setattr(
        report_mod, "build_model", lambda name, image_size: ReportStandIn(image_size)
    )
    return seen


def test_each_timing_shows_a_bar_on_stderr(labels, capsys) -> None:
    main(ARGV)
    out, err = capsys.readouterr()
    # 1 warm-up call + 2 timed ones; the printed report on stdout stays free of bars.
    assert "timing pmgsam_tiny inference" in err and "3/3" in err
    assert "timing" not in out and "images/s" in out
    assert labels == ["timing sam_vit_b automatic mask generator"]


def test_quiet_shows_no_bar(labels, capsys) -> None:
    main([*ARGV, "--quiet"])
    out, err = capsys.readouterr()
    assert "timing" not in err and "images/s" in out
    assert labels == [None]
