"""Sizes and scales the transforms hand on, against hand-derived values: ``orig_size`` is
[H, W], each map of a batch goes back to its own size, the full scale of an integer image is
exactly 1, and a float image must stay within [0, 1]."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pmgsam.data import AugmentConfig, EvalTransform, TrainTransform, unpad_and_resize

S = 64


def test_orig_size_is_height_then_width() -> None:
    # A 30 x 50 (H x W) image: [W, H] would send maps back transposed (and refused by scoring).
    image = np.zeros((30, 50, 3), np.uint8)
    assert EvalTransform(S)(image)["orig_size"].tolist() == [30, 50]
    no_crop = AugmentConfig(crop_prob=0.0, hflip_prob=1.0, rotate_prob=0.0)
    torch.manual_seed(0)
    sample = TrainTransform(S, no_crop)(image, np.zeros((30, 50), np.uint8))
    assert sample["orig_size"].tolist() == [30, 50]


def test_each_map_of_a_batch_goes_back_to_its_own_size() -> None:
    # At S = 8 a (4, 8) image fills the top four rows and a (8, 2) image the left two columns,
    # both without resizing: un-padding is then a plain crop of each map's own region.
    x = torch.arange(2 * 64, dtype=torch.float32).reshape(2, 1, 8, 8)
    first, second = unpad_and_resize(x, torch.tensor([[4, 8], [8, 2]]), 8)
    assert torch.equal(first, x[0, :, :4, :8]) and torch.equal(second, x[1, :, :8, :2])
    first, second = unpad_and_resize(x, [(8, 2), (4, 8)], 8)
    assert torch.equal(first, x[0, :, :8, :2]) and torch.equal(second, x[1, :, :4, :8])
    # True is a whole number to Python (1): as a height it is a mistake, not one row.
    with pytest.raises(ValueError, match=r"two whole numbers\), got \(True, 8\)$"):
        unpad_and_resize(x[0], (True, 8), 8)


def test_the_full_scale_of_each_integer_type_is_one() -> None:
    # 65535 (not 65536) is 16-bit white, and 257 * v in 16 bits is v in 8 bits, exactly.
    values = np.arange(0, 256, dtype=np.uint16).reshape(16, 16)
    gray16 = np.repeat((values * 257)[:, :, None], 3, axis=2)
    out = EvalTransform(16)(gray16)["image"]
    assert out.max().item() == 1.0
    expected = torch.from_numpy(values.astype(np.float32) / 255.0)
    assert torch.allclose(out[0], expected, atol=1e-6, rtol=0)
    white8 = EvalTransform(4)(np.full((4, 4, 3), 255, np.uint8))["image"]
    assert torch.equal(white8, torch.ones(3, 4, 4))


@pytest.mark.parametrize("high", [1.01, 1.4])
def test_a_float_image_a_little_above_one_is_refused(high: float) -> None:
    # Under 1.5 it is not a 0-255 image (no hint to divide by 255), but it is still outside
    # the [0, 1] the model's normalisation assumes.
    image = np.full((8, 9, 3), 0.5, np.float32)
    image[0, 0] = high
    with pytest.raises(ValueError, match=r"^a float image must hold values in \[0, 1\], got") as e:
        EvalTransform(S)(image)
    assert "divide" not in str(e.value)
    image[0, 0] = 1.0
    assert EvalTransform(S)(image)["image"].max().item() == pytest.approx(1.0, abs=1e-6)
