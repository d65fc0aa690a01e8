"""Training augmentation, one operation at a time, against hand-computed expectations: the flip
is horizontal, rotations go both ways over the whole limit with zero corners, colour jitter goes
both ways (brightness, contrast, saturation and hue each by its own setting), crops keep the
minimum scale, cut every side and report their size, and masks shrink by majority."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from pmgsam.data import AugmentConfig, EvalTransform, TrainTransform, unpad_and_resize
from pmgsam.data.augmentation import smallest_crop_side

S = 64
NOTHING = {"crop_prob": 0.0, "hflip_prob": 0.0, "rotate_prob": 0.0, "color_jitter_prob": 0.0}
SEEDS = range(12)


def augment(image: np.ndarray, mask: np.ndarray, seed: int, **cfg: float) -> dict:
    torch.manual_seed(seed)
    return TrainTransform(S, AugmentConfig(**{**NOTHING, **cfg}))(image, mask)


def test_flip_mirrors_image_and_mask_left_to_right() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (S, 40, 3), dtype=np.uint8)  # long side S: no resize
    mask = (rng.random((S, 40)) > 0.5).astype(np.uint8)
    out = augment(image, mask, 0, hflip_prob=1.0)
    flipped = torch.from_numpy(image[:, ::-1].astype(np.float32)).permute(2, 0, 1) / 255.0
    assert torch.equal(out["image"][:, :, :40], flipped)
    assert np.array_equal(out["mask"][0, :, :40].numpy(), mask[:, ::-1])
    assert out["image"][:, :, 40:].abs().sum() == 0 and out["mask"][:, :, 40:].sum() == 0


def test_rotation_turns_both_ways_within_the_limit_with_zero_corners() -> None:
    mask = np.zeros((S, S), np.uint8)
    mask[30:34, 8:56] = 1  # a horizontal bar: its axis gives the angle
    image = np.zeros((S, S, 3), np.uint8)
    image[..., 0] = mask * 255
    image[..., 1] = 255  # the frame: what is rotated out must become 0
    angles = []
    for seed in SEEDS:
        out = augment(image, mask, seed, rotate_prob=1.0, rotate_limit=30.0)
        ys, xs = np.nonzero(out["mask"][0].numpy())
        cov = np.cov(np.stack([xs, ys]).astype(np.float64))
        angle = np.degrees(0.5 * np.arctan2(2 * cov[0, 1], cov[0, 0] - cov[1, 1]))
        assert abs(angle) <= 31.0, seed
        if abs(angle) > 3.0:
            assert torch.all(out["image"][:, [0, 0, -1, -1], [0, -1, 0, -1]] == 0), seed
        angles.append(angle)
    assert min(angles) < -3.0 and max(angles) > 3.0, angles
    # The whole limit is drawn from: 12 uniform angles all within 2/3 of it has odds (2/3)^12,
    # under 1 %; a limit of 15 degrees would keep every one within 16.
    assert max(abs(a) for a in angles) > 20.0, angles


def test_colour_jitter_goes_both_ways_within_its_ranges() -> None:
    mask = np.zeros((S, S), np.uint8)
    jitter = {"color_jitter_prob": 1.0, "brightness": 0.0, "contrast": 0.0, "saturation": 0.0}
    gray = np.full((S, S, 3), 100, np.uint8)
    factors = []
    for seed in SEEDS:
        out = augment(gray, mask, seed, **{**jitter, "brightness": 0.5, "hue": 0.0})
        factors.append(out["image"].mean().item() * 255.0 / 100.0)
    assert 0.49 <= min(factors) < 0.95 and 1.05 < max(factors) <= 1.51, factors
    green = np.zeros((S, S, 3), np.uint8)
    green[...] = (60, 180, 60)  # RGB; OpenCV hue 60 of 180
    shifts = []
    for seed in SEEDS:
        out = augment(green, mask, seed, **{**jitter, "hue": 0.1})
        rgb = np.rint(out["image"][:, :4, :4].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        shifts.append(int(cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)[..., 0].mean()) - 60)
    # hue 0.1 of the circle is 18 OpenCV hue units either way.
    assert -19 <= min(shifts) < -2 and 2 < max(shifts) <= 19, shifts


def test_contrast_and_saturation_jitter_follow_their_own_ranges() -> None:
    # Top half: grays 50 | 150; bottom half: green (60, 180, 60). Contrast c blends every pixel
    # with the image's mean gray, so the two grays end 100 * c apart and green minus red (120)
    # scales by c too; saturation s blends each pixel with its own gray, leaving the grays and
    # scaling green minus red by s. So c = gray gap / 100 and s = (G - R) / 120 / c.
    mask = np.zeros((S, S), np.uint8)
    image = np.zeros((S, S, 3), np.uint8)
    image[: S // 2, : S // 2], image[: S // 2, S // 2 :] = 50, 150
    image[S // 2 :] = (60, 180, 60)
    jitter = {"color_jitter_prob": 1.0, "brightness": 0.0, "hue": 0.0}

    def factors(**ranges: float) -> tuple:
        c, s = [], []
        for seed in SEEDS:
            x = augment(image, mask, seed, **jitter, **ranges)["image"] * 255.0
            top, bottom = x[:, : S // 2], x[:, S // 2 :]
            c.append(float(top[:, :, S // 2 :].mean() - top[:, :, : S // 2].mean()) / 100.0)
            s.append(float((bottom[1] - bottom[0]).mean()) / 120.0 / c[-1])
        return c, s

    contrast, same = factors(contrast=0.5, saturation=0.0)
    assert 0.49 <= min(contrast) < 0.9 and 1.1 < max(contrast) <= 1.51, contrast
    assert max(abs(v - 1.0) for v in same) <= 0.03, same  # saturation's range is [1, 1]
    same, saturation = factors(contrast=0.0, saturation=0.5)
    assert 0.49 <= min(saturation) < 0.9 and 1.1 < max(saturation) <= 1.51, saturation
    assert max(abs(v - 1.0) for v in same) <= 0.03, same


def test_crop_keeps_the_minimum_scale_and_reports_its_size() -> None:
    height, width = 100, 160
    image = np.full((height, width, 3), 255, np.uint8)
    mask = np.ones((height, width), np.uint8)
    sizes = set()
    for seed in range(20):
        out = augment(image, mask, seed, crop_prob=1.0, crop_min_scale=0.6)
        ch, cw = out["orig_size"].tolist()
        # At most int(0.2 * side) pixels are cut from each end of a side.
        assert 60 <= ch <= height and 96 <= cw <= width, (ch, cw)
        sizes.add((ch, cw))
        # The valid (white) region is the crop resized to long side S.
        valid = out["image"][0] > 0
        rows, cols = int(valid.any(1).sum()), int(valid.any(0).sum())
        scale = S / max(ch, cw)
        assert abs(rows - ch * scale) <= 0.5 and abs(cols - cw * scale) <= 0.5, (ch, cw)
    assert len(sizes) > 5
    for seed in range(5):  # crop_prob 0: never cropped
        out = augment(image, mask, seed, crop_min_scale=0.6, hflip_prob=0.5)
        assert out["orig_size"].tolist() == [height, width]
    assert smallest_crop_side(100, AugmentConfig(crop_min_scale=0.6)) == 60
    assert smallest_crop_side(100, AugmentConfig(enabled=False, crop_min_scale=0.6)) == 100


def test_mask_shrinks_by_block_majority() -> None:
    # 256 -> 64: each output pixel is one 4×4 block; where the block is not split evenly the
    # mask must follow its majority (nearest-neighbour sampling reads one corner pixel).
    rng = np.random.default_rng(3)
    mask = (rng.random((256, 256)) > 0.5).astype(np.uint8)
    out = EvalTransform(S)(np.zeros((256, 256, 3), np.uint8), mask)["mask"][0].numpy()
    means = mask.reshape(S, 4, S, 4).mean(axis=(1, 3))
    decided = means != 0.5
    assert np.array_equal(out[decided], (means > 0.5)[decided].astype(np.float32))


def test_an_evenly_split_mask_block_is_background() -> None:
    # 4x4 -> S = 2: each output pixel is one 2x2 block. Block means, by hand: top-left 2/4
    # (a tie: no majority, background, "> 0.5"), top-right 3/4 (foreground), bottom row 0 / 1/4.
    mask = np.zeros((4, 4), np.uint8)
    mask[0:2, 0] = 1
    mask[0:2, 2:4] = 1
    mask[1, 2] = 0
    mask[3, 3] = 1
    out = EvalTransform(2)(np.zeros((4, 4, 3), np.uint8), mask)["mask"][0].numpy()
    assert out.tolist() == [[0.0, 1.0], [0.0, 0.0]]


def test_the_mask_is_rotated_soft_like_the_image() -> None:
    # The image holds its own mask (red = 255 * mask) and is shrunk 3x to S, so the mask arrives
    # soft at the rotation. Image and mask go through the same geometry with the same
    # interpolation, so wherever the red value is clearly off 0.5 (beyond the uint8 rounding of
    # two resamplings, 2/255) its side of 0.5 must be the mask's. Binarising the mask before
    # rotating it, or rotating it nearest-neighbour, breaks this on hundreds of edge pixels.
    rng = np.random.default_rng(0)
    mask = (rng.random((48, 48)) > 0.5).astype(np.uint8).repeat(4, 0).repeat(4, 1)[:190, :170]
    image = np.zeros(mask.shape + (3,), np.uint8)
    image[..., 0] = mask * 255
    for seed in range(2):
        out = augment(image, mask, seed, rotate_prob=1.0, rotate_limit=30.0)
        red, target = out["image"][0].numpy(), out["mask"][0].numpy() > 0.5
        clear = np.abs(red - 0.5) > 2 / 255
        assert clear.sum() > 3500  # nearly all of the 64 x 57 valid region
        assert np.array_equal((red > 0.5)[clear], target[clear]), seed


def test_mismatched_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="mask shape"):
        EvalTransform(S)(np.zeros((30, 40, 3), np.uint8), np.zeros((40, 30), np.uint8))
    with pytest.raises(ValueError, match="3 sizes for a batch of 2"):
        unpad_and_resize(torch.zeros(2, 1, S, S), torch.tensor([[10, 10]] * 3), S)


def test_the_crop_cuts_every_side_within_its_border() -> None:
    # Each pixel holds its own coordinates (red 4x, green 4y). The 40 x 50 crop is enlarged to
    # S, and bilinear enlarging copies the corner pixel exactly, so the output's first pixel
    # names the crop's top-left corner; orig_size gives its size, hence the bottom/right cuts.
    height, width = 40, 50
    ys, xs = np.mgrid[0:height, 0:width]
    image = np.stack([xs * 4, ys * 4, np.zeros_like(xs)], -1).astype(np.uint8)
    mask = np.zeros((height, width), np.uint8)
    cuts = []
    for seed in range(20):
        out = augment(image, mask, seed, crop_prob=1.0, crop_min_scale=0.6)
        left, top = (round(float(out["image"][c, 0, 0]) * 255 / 4) for c in (0, 1))
        ch, cw = out["orig_size"].tolist()
        cuts.append((left, width - left - cw, top, height - top - ch))
    # At most int(0.2 * side) pixels go from each end: 10 of the width, 8 of the height.
    for limit, side in zip((10, 10, 8, 8), zip(*cuts)):
        assert 0 <= min(side) and max(side) <= limit and max(side) > 0, cuts
