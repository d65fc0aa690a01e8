"""Which model output each written map is: ``--out`` gets the final mask's probabilities and
``--premask-out`` the Pre-Mask's (DESIGN.md §1: both are logits, sigmoid → probability), each
at its own image's original size, with several images of different sizes in one batch."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from pmgsam.data import unpad_and_resize
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
    cv2.imwrite(str(images / "a.png"), rng.integers(0, 255, (30, 70, 3), dtype=np.uint8))
    cv2.imwrite(str(images / "b.png"), rng.integers(0, 255, (90, 40, 3), dtype=np.uint8))
    dataset = ImageFolder(images, S)
    out, pre = tmp_path / "out", tmp_path / "pre"
    Predictor(model, "cpu").predict_dataset(
        dataset, out, batch_size=2, num_workers=0, progress=False, premask_dir=pre
    )
    samples = [dataset[i] for i in range(len(dataset))]
    with torch.no_grad():
        logits = model(torch.stack([s["image"] for s in samples]))
    for index, (name, sample) in enumerate(zip(dataset.names, samples)):
        final = _expected_png(logits["mask"][index : index + 1], sample["orig_size"])
        premask = _expected_png(logits["pre_mask"][index : index + 1], sample["orig_size"])
        # The two outputs must differ for the test to tell them apart.
        assert np.abs(final.astype(int) - premask.astype(int)).max() > 5
        for folder, expected in ((out, final), (pre, premask)):
            written = cv2.imread(str(folder / f"{name}.png"), cv2.IMREAD_UNCHANGED)
            assert written.shape == expected.shape  # (h, w) of the image file
            assert np.abs(written.astype(int) - expected.astype(int)).max() <= 1, (folder, name)
