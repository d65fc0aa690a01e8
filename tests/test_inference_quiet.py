"""``python -m pmgsam.engine.inference --quiet`` predicts without a progress bar, as
``evaluate.py``, the analyses and the efficiency report do (a batch job's log otherwise fills
with bar redraws); without it the bar is shown."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pmgsam.engine.inference import main as inference_main
from pmgsam.utils.cli import exit_status

pytestmark = pytest.mark.usefixtures("one_thread")


def test_quiet_drops_the_progress_bar_only(weights, tmp_path, capsys) -> None:
    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "a.png"), np.full((20, 30, 3), 9, np.uint8))
    argv = ["--checkpoint", weights["one"], "--input", images, "--num-workers", "0"]
    assert exit_status(inference_main, [*argv, "--out", tmp_path / "loud"]) == 0
    loud = capsys.readouterr()
    assert "predict →" in loud.err and "wrote 1 probability map " in loud.out
    assert exit_status(inference_main, [*argv, "--out", tmp_path / "quiet", "--quiet"]) == 0
    quiet = capsys.readouterr()
    assert "predict →" not in quiet.err and "wrote 1 probability map " in quiet.out
    assert (tmp_path / "quiet" / "a.png").is_file()
