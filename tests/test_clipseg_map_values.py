"""The CLIPSeg prior's maps hold CLIPSeg's probabilities (sigmoid of its logits) as 8-bit
levels, pixel for pixel (a stand-in model whose logits are set by hand)."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import cv2
import torch
from PIL import Image

import pmgsam.analysis.clipseg as clipseg

# Logits on CLIPSeg's (here 2 x 3) output grid, and round(255 * sigmoid) by hand:
# sigmoid 0.5, 0.75, 0.25 / 0.8808, 0.1192, 1 - 2e-9.
LOGITS = [[0.0, math.log(3), -math.log(3)], [2.0, -2.0, 20.0]]
LEVELS = [[128, 191, 64], [225, 30, 255]]


class _Model:
    def to(self, device: str) -> _Model:
        return self

    def __call__(self, logits: torch.Tensor) -> SimpleNamespace:
        return SimpleNamespace(logits=logits)


def _stand_in(model_dir: Path):
    def processor(text, images, **kwargs):
        return {"logits": torch.tensor([LOGITS])}

    return processor, _Model()


def test_clipseg_maps_are_its_sigmoid_probabilities(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(clipseg, "_load", _stand_in)
    image = tmp_path / "im.png"
    Image.new("RGB", (3, 2), (10, 20, 30)).save(image)  # the grid's size: no resizing
    out = clipseg.clipseg_maps(tmp_path / "model", "object", [image], ["im"], tmp_path / "maps")
    written = cv2.imread(str(out / "im.png"), cv2.IMREAD_GRAYSCALE)
    assert written.tolist() == LEVELS
