"""Tests for pmgsam.data's transforms: augmentation geometry and seeding, resize and unpad."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest
import torch
from mask_cases import iou
from PIL import Image
from torch.utils.data import DataLoader

from pmgsam.data import (
    AugmentConfig,
    EvalTransform,
    TrainTransform,
    build_dataset,
    resized_hw,
    unpad_and_resize,
)

S = 64


def _asymmetric_mask(h, w):
    m = np.zeros((h, w), np.uint8)
    m[h // 8 : h // 2, w // 10 : w // 3] = 1  # block in the top-left
    m[h // 2 : h - 4, w // 10 : w // 10 + 6] = 1  # leg going down
    cv2.line(m, (w // 2, h // 5), (w - 8, h - 10), 1, 2)  # thin diagonal wire
    return m


def test_augmentation_keeps_image_and_mask_aligned():
    h, w = 90, 150
    mask = _asymmetric_mask(h, w)
    image = np.zeros((h, w, 3), np.uint8)
    image[..., 0] = mask * 255  # the image encodes its own mask
    image[..., 1] = 200  # constant inside the frame: marks the rotated/cropped valid area
    cfg = AugmentConfig(
        crop_prob=1, hflip_prob=1, rotate_prob=1, rotate_limit=30, crop_min_scale=0.6
    )
    cfg.color_jitter_prob = 0.0
    aug, plain = TrainTransform(S, cfg), EvalTransform(S)(image, mask)
    for seed in range(4):
        torch.manual_seed(seed)
        out = aug(image, mask)
        from_image = out["image"][0] > 0.5
        target = out["mask"][0] > 0.5
        assert target.sum() > 20
        mismatch = (from_image ^ target).sum().item()
        assert mismatch <= 0.1 * target.sum().item()
        # The geometry really changed (a flip alone moves the top-left block to the right).
        assert iou(target.numpy(), plain["mask"][0].numpy() > 0.5) < 0.7
        rh, rw = resized_hw(*out["orig_size"].tolist(), S)
        assert out["image"][1, :rh, :rw].mean() > 0.5 and out["image"][1, rh:, :].sum() == 0


def test_train_transform_follows_torch_seed():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (50, 70, 3), dtype=np.uint8)
    mask = _asymmetric_mask(50, 70)
    aug = TrainTransform(S, AugmentConfig(crop_prob=1, rotate_prob=1, color_jitter_prob=1))
    torch.manual_seed(3)
    a = aug(image, mask)
    torch.manual_seed(3)
    b = aug(image, mask)
    c = aug(image, mask)
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["mask"], b["mask"])
    assert not torch.equal(b["image"], c["image"])


def test_dataloader_workers_draw_fresh_augmentations(nc4k_root, data_config):
    cfg = data_config("nc4k", nc4k_root)
    cfg.augment = AugmentConfig(crop_prob=1, hflip_prob=0.5, rotate_prob=1, color_jitter_prob=0)
    ds = build_dataset(cfg, "all", S, train=True)
    loader = DataLoader(ds, batch_size=2, num_workers=2, shuffle=False)
    epochs = [torch.cat([b["mask"] for b in loader]) for _ in range(2)]
    # Same images in the same order: only the augmentation can make the epochs differ, and
    # albumentations 2.0.x alone would repeat it per worker (hence the reseeding from torch).
    assert epochs[0].shape == (10, 1, S, S) and not torch.equal(epochs[0], epochs[1])


@pytest.mark.parametrize("hw", [(48, 80), (80, 48), (64, 64), (300, 200), (7, 129)])
def test_unpad_and_resize_round_trip(hw):
    h, w = hw
    rh, rw = resized_hw(h, w, S)
    assert max(rh, rw) == S and abs(rh / rw - h / w) < 2.0 / min(rh, rw) + 1e-6
    mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(mask, (w // 2, h // 2), (max(w // 3, 1), max(h // 3, 1)), 20, 0, 360, 1, -1)
    padded = EvalTransform(S)(np.zeros((h, w, 3), np.uint8), mask)["mask"]
    padded[:, rh:, :] = 1e6  # padding must be ignored
    padded[:, :, rw:] = 1e6
    back = unpad_and_resize(padded, torch.tensor([h, w]), S)
    assert back.shape == (1, h, w) and back.max() <= 1.0
    if min(h, w) > 8:
        assert iou(back[0].numpy() > 0.5, mask.astype(bool)) > 0.9
    batch = unpad_and_resize(padded[None].repeat(2, 1, 1, 1), (h, w), S)
    assert batch.shape == (2, 1, h, w)
    per_sample = unpad_and_resize(padded[None].repeat(2, 1, 1, 1), torch.tensor([[h, w]] * 2), S)
    assert isinstance(per_sample, list) and per_sample[1].shape == (1, h, w)


def test_unpad_is_identity_at_native_size():
    x = torch.rand(1, S, S)
    assert torch.allclose(unpad_and_resize(x, [S, S], S), x)
    img = (np.random.default_rng(1).random((S, S, 3)) * 255).astype(np.uint8)
    out = EvalTransform(S)(img)["image"]
    assert torch.allclose(out, torch.from_numpy(img).permute(2, 0, 1) / 255.0)


def test_unpad_of_an_integer_map_crops_it_as_float_and_bad_sizes_are_named():
    # A (4, 8) image fills the top 4 rows of an 8 x 8 map: same size back, values unchanged.
    x = torch.arange(64, dtype=torch.uint8).reshape(1, 8, 8)
    out = unpad_and_resize(x, (4, 8), 8)
    assert out.dtype == torch.float32 and torch.equal(out, x[:, :4].float())
    with pytest.raises(ValueError, match=r"expected a \(..., 8, 8\) map, got \(1, 8, 7\)"):
        unpad_and_resize(x[..., :7], (4, 8), 8)
    # Named as passed (it was shown converted, as tensor([4, 8, 3])); a cut 4.5 is refused too.
    bad_sizes = [
        ([4, 8, 3], "[4, 8, 3]"),
        ((4.5, 8), "(4.5, 8)"),
        ("ab", "'ab'"),
        (4, "4"),
        ([[4, 8, 3]], "[4, 8, 3]"),  # one per map of the batch: the map's own
        ([[4, 8], [4]], "[[4, 8], [4]]"),  # ragged: no (B, 2) table
        (torch.tensor([4, 8, 3]), "tensor([4, 8, 3])"),
    ]
    for bad, shown in bad_sizes:
        words = rf"^orig_size must be \[H, W\] \(two whole numbers\), got {re.escape(shown)}$"
        with pytest.raises(ValueError, match=words):
            unpad_and_resize(x, bad, 8)
    assert unpad_and_resize(x, (4.0, 8.0), 8).shape == (1, 4, 8)
    assert unpad_and_resize(x, np.array([4, 8]), 8).shape == (1, 4, 8)
    with pytest.raises(ValueError, match=r"sizes must be positive, got \(0, 8\) and S=8"):
        resized_hw(0, 8, 8)


@pytest.mark.parametrize("hw", [(100, 150), (150, 100), (300, 200)])
def test_unpad_and_resize_enlarges_like_opencv(hw):
    # OpenCV's INTER_LINEAR samples at half-pixel centres (align_corners=False): a corner-aligned
    # or shifted resize differs from it by far more than float rounding.
    h, w = resized_hw(*hw, S)
    x = torch.from_numpy(np.random.default_rng(0).random((1, S, S)).astype(np.float32))
    ours = unpad_and_resize(x, hw, S)[0].numpy()
    ref = cv2.resize(x[0, :h, :w].numpy(), hw[::-1], interpolation=cv2.INTER_LINEAR)
    assert np.abs(ours - ref).max() < 1e-5


@pytest.mark.parametrize("hw", [(20, 30), (30, 20), (17, 40)])
def test_unpad_and_resize_shrinks_like_pil(hw):
    # Shrinking is antialiased like PIL's bilinear filter; plain bilinear sampling (no
    # antialias) differs from PIL by ~0.4 on this noise.
    h, w = resized_hw(*hw, S)
    x = torch.from_numpy(np.random.default_rng(1).random((1, S, S)).astype(np.float32))
    ours = unpad_and_resize(x, hw, S)[0].numpy()
    ref = Image.fromarray(x[0, :h, :w].numpy(), mode="F").resize(hw[::-1], Image.BILINEAR)
    assert np.abs(ours - np.asarray(ref)).max() < 1e-5


def test_eval_transform_shrinks_by_block_average():
    # 256x128 -> S=64 is an exact 4x reduction: INTER_AREA is then the mean of each 4x4 block
    # (derived by hand with numpy). Bilinear sampling would read only the 2x2 pixels around
    # each block centre.
    image = np.random.default_rng(2).integers(0, 256, (128, 256, 3), dtype=np.uint8)
    out = EvalTransform(S)(image)["image"]
    blocks = image.reshape(32, 4, 64, 4, 3).astype(np.float64).mean(axis=(1, 3)) / 255.0
    ours = out[:, :32, :].permute(1, 2, 0).numpy()
    assert np.abs(ours - blocks).max() <= 0.5 / 255 + 1e-6  # uint8 rounding of the mean
    assert out[:, 32:, :].abs().sum() == 0  # zero padding below the image


@pytest.mark.parametrize(
    "hw, size, expected",
    [
        # Long side -> S; short side round-half-up(short * S / long), computed by hand.
        ((300, 200), 64, (64, 43)),  # 200 * 64 / 300 = 42.67 -> 43 (a floor would say 42)
        ((200, 300), 64, (43, 64)),
        ((8, 3), 4, (4, 2)),  # 3 * 4 / 8 = 1.5 exactly: rounds up to 2
        ((3, 8), 4, (2, 4)),
        ((8, 5), 4, (4, 3)),  # 2.5 -> 3
        ((1000, 1), 64, (64, 1)),  # 0.064 rounds to 0: a side keeps at least one pixel
        ((1, 1000), 64, (1, 64)),
    ],
)
def test_resized_hw_by_hand(hw, size, expected):
    assert resized_hw(*hw, size) == expected


def test_eval_transform_enlarges_bilinearly():
    # 4x4 -> S = 8 (2x) of columns 0, 0, 255, 255. Output column j samples source x = j/2 - 1/4
    # (half-pixel centres): j = 3 reads 1.25 -> 255 / 4 = 63.75, j = 4 reads 1.75 -> 191.25;
    # the others fall on a constant side. Nearest-neighbour would give 0 or 255 only.
    image = np.zeros((4, 4, 3), np.uint8)
    image[:, 2:] = 255
    out = EvalTransform(8)(image)["image"]
    row = np.array([0, 0, 0, 63.75, 191.25, 255, 255, 255]) / 255
    for channel in out.numpy():
        assert np.abs(channel - row).max() <= 0.5 / 255 + 1e-6  # uint8 rounding
