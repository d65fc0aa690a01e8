"""Mutation audit: the reduced-decode training load (SegmentationDataset.load_for_training)
shrinks the GT as training reads it, foreground ``> 128``: a mask's faint levels (an
anti-aliased edge, a soft matte) are background there as on the full-size path.

Expectation: hand-derived, block-aligned fractions (1 inside the bright block, 0 elsewhere).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from pmgsam.data.augmentation import reduced_decode_factor
from pmgsam.data.datasets import SegmentationDataset


def test_faint_mask_levels_are_background_when_decoded_reduced(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(tmp_path / "a.jpg")
    mask = np.full((256, 256), 100, np.uint8)  # faint everywhere: not foreground (<= 128)
    mask[:128, :128] = 255
    Image.fromarray(mask).save(tmp_path / "a.png")
    ds = SegmentationDataset([tmp_path / "a.jpg"], [tmp_path / "a.png"], 32, train=True)
    factor = reduced_decode_factor(256, 32, ds.transform.cfg)
    assert ds.reduced_decode and factor in (2, 4, 8)
    image, shrunk = ds.load_for_training(0)
    side = 256 // factor
    assert image.shape[:2] == shrunk.shape == (side, side)
    want = np.zeros((side, side), np.float32)
    want[: side // 2, : side // 2] = 1.0
    assert np.array_equal(shrunk, want)
