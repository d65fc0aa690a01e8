"""Which model output each written map is: ``--out`` gets the final mask's probabilities and
``--premask-out`` the Pre-Mask's (DESIGN.md §1: both are logits, sigmoid → probability), each
at its own image's original size and under its own image's name, with several images of
different sizes in one batch."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from pmgsam.data import EvalTransform, load_image, unpad_and_resize
from pmgsam.engine.inference import ImageFolder, Predictor

S = 64


def _expected_png(logits: torch.Tensor, orig_size: torch.Tensor) -> np.ndarray:
    """What the writer should store: sigmoid probability at the original size, × 255 rounded."""
    prob = unpad_and_resize(torch.sigmoid(logits.float())[0, 0], orig_size, S)
    return np.rint(prob.numpy() * 255).astype(np.uint8)


def test_final_and_premask_maps_are_their_own_outputs(
    small_tiny_model: torch.nn.Module, tmp_path: Path
) -> None:
    model = small_tiny_model.eval()
    rng = np.random.default_rng(3)
    images = tmp_path / "images"
    images.mkdir()
    # Natural order (img2, img10) is not the string order: each map must be of its own file.
    cv2.imwrite(str(images / "img10.png"), rng.integers(0, 255, (30, 70, 3), dtype=np.uint8))
    cv2.imwrite(str(images / "img2.png"), rng.integers(0, 255, (90, 40, 3), dtype=np.uint8))
    dataset = ImageFolder(images, S)
    out, pre = tmp_path / "out", tmp_path / "pre"
    Predictor(model, "cpu").predict_dataset(
        dataset, out, batch_size=2, num_workers=0, progress=False, premask_dir=pre
    )
    names = ["img10", "img2"]
    samples = [EvalTransform(S)(load_image(images / f"{name}.png")) for name in names]
    with torch.no_grad():
        logits = model(torch.stack([s["image"] for s in samples]))
    for index, (name, sample) in enumerate(zip(names, samples)):
        final = _expected_png(logits["mask"][index : index + 1], sample["orig_size"])
        premask = _expected_png(logits["pre_mask"][index : index + 1], sample["orig_size"])
        # The two outputs must differ for the test to tell them apart.
        assert np.abs(final.astype(int) - premask.astype(int)).max() > 5
        for folder, expected in ((out, final), (pre, premask)):
            written = cv2.imread(str(folder / f"{name}.png"), cv2.IMREAD_UNCHANGED)
            assert written.shape == expected.shape  # (h, w) of the image file
            assert np.abs(written.astype(int) - expected.astype(int)).max() <= 1, (folder, name)
