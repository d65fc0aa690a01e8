"""``--skip-existing`` over a folder where one image was edited since its map was written: its
map is predicted again and the others kept. All maps are then this model's, of these images,
so the folder must be resumable again (not left marked as mixed)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pmgsam.engine.inference import main as inference_main
from pmgsam.utils.cli import exit_status

pytestmark = pytest.mark.usefixtures("one_thread")


def test_a_resume_over_an_edited_image_leaves_a_resumable_folder(weights, tmp_path, capsys):
    images, out = tmp_path / "images", tmp_path / "out"
    images.mkdir()
    for name in ("a", "b"):
        cv2.imwrite(str(images / f"{name}.png"), np.full((20, 30, 3), 9, np.uint8))
    argv = ["--checkpoint", weights["one"], "--input", images, "--out", out]
    argv += ["--num-workers", "0"]
    assert exit_status(inference_main, argv) == 0
    cv2.imwrite(str(images / "b.png"), np.full((24, 30, 3), 200, np.uint8))  # edited
    assert exit_status(inference_main, [*argv, "--skip-existing"]) == 0
    assert "wrote 1 probability map " in capsys.readouterr().out
    assert cv2.imread(str(out / "b.png"), cv2.IMREAD_UNCHANGED).shape == (24, 30)
    # Used to be refused: "may also hold maps of another model or setting".
    assert exit_status(inference_main, [*argv, "--skip-existing"]) == 0
    assert "wrote 0 probability maps" in capsys.readouterr().out
