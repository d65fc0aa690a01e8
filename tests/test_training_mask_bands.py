"""shrink_mask a band at a time and the reduced-decode mask resized without a float copy: the
same values as the whole-mask formulas they replaced (copied below), the same seeded training
samples, less traced memory."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from test_training_mask_copies import _old_shrink_mask as _whole_mask_shrink
from test_training_mask_copies import _traced_peak

import pmgsam.data.augmentation as augmentation
import pmgsam.data.datasets as datasets
from pmgsam.data.augmentation import TrainTransform, reduced_decode_factor, shrink_mask
from pmgsam.data.config import AugmentConfig
from pmgsam.data.datasets import DrawKey, SegmentationDataset

EVERY_STEP = AugmentConfig(crop_prob=1.0, hflip_prob=1.0, rotate_prob=1.0, color_jitter_prob=1.0)


def _odd_edged_mask(height, width, seed):
    """A {0, 1} mask whose edges fall at odd rows and columns, and which cut f x f blocks."""
    rng = np.random.default_rng(seed)
    mask = (rng.random((height, width)) < 0.3).astype(np.uint8)
    mask[height // 5 : height - 3, 7 : width // 2 + 1] = 1
    mask[::3, 1::5] = 0
    mask[-1, ::2] = 1  # the last row and column are what a partial block replicates
    mask[::2, -1] = 1
    return mask


@pytest.mark.parametrize("factor", [2, 4, 8])
@pytest.mark.parametrize("band_pixels", [1, 97, 1 << 20])
def test_bands_give_the_whole_mask_values(factor, band_pixels, monkeypatch):
    monkeypatch.setattr(augmentation, "_SHRINK_BAND_PIXELS", band_pixels)
    for height, width in ((61, 45), (64, 48), (7, 9), (1, 17)):
        mask = _odd_edged_mask(height, width, height * width + factor)
        shape = (-(-height // factor), -(-width // factor))
        for variant in (mask, mask.astype(bool), mask * 255, mask[:, ::-1]):
            got = shrink_mask(variant, shape, factor)
            want = _whole_mask_shrink(variant, shape, factor)
            assert got.dtype == np.float32 and got.shape == shape
            assert np.array_equal(got, want), (height, width)
    # Hand-derived: a 2x2 block with 3 pixels set is 3/4; a 1x2 partial block (1 row, the
    # encoder repeats it) of {1, 0} is 2/4.
    block = np.array([[1, 1, 0], [1, 0, 0], [0, 0, 0]], np.uint8)
    assert shrink_mask(block, (2, 2), 2).tolist() == [[0.75, 0.0], [0.0, 0.0]]
    assert shrink_mask(np.array([[1, 0]], np.uint8), (1, 1), 2).tolist() == [[0.5]]


@pytest.mark.parametrize("height, width", [(480, 640), (479, 639)])
def test_shrink_mask_holds_no_full_size_levels(height, width, monkeypatch):
    # The whole-mask levels and their edge-padded copy held two bytes a mask pixel (48 MB at
    # 24 MP), the copy made even when there was nothing to pad.
    monkeypatch.setattr(augmentation, "_SHRINK_BAND_PIXELS", 1 << 14)
    mask = _odd_edged_mask(height, width, 5)
    shape = (-(-height // 2), -(-width // 2))
    peak = _traced_peak(shrink_mask, mask, shape, 2)[1]
    result = 4 * shape[0] * shape[1]  # float32, a quarter of the pixels: mask.size bytes
    assert peak < result + 0.2 * mask.size, peak
    assert _traced_peak(_whole_mask_shrink, mask, shape, 2)[1] > 2 * mask.size  # can fail


class _RecordingPipeline:
    """An albumentations pipeline that keeps the masks it returns."""

    def __init__(self, pipeline):
        self.pipeline, self.masks = pipeline, []

    def __getattr__(self, name):
        return getattr(self.pipeline, name)

    def __call__(self, **data):
        out = self.pipeline(**data)
        self.masks.append(out["mask"])
        return out


@pytest.mark.parametrize("crop_prob", [0.0, 1.0])
def test_reduced_mask_crop_is_resized_without_a_float_copy(monkeypatch, crop_prob):
    image = np.random.default_rng(0).integers(0, 256, (150, 200, 3), dtype=np.uint8)
    fractions = shrink_mask(_odd_edged_mask(299, 399, 1), (150, 200), 2)
    before = fractions.copy()
    resized = []
    resize = augmentation.resize_by_rule
    record = lambda a, h, w: resized.append(a) or resize(a, h, w)  # noqa: E731
    monkeypatch.setattr(augmentation, "resize_by_rule", record)
    transform = TrainTransform(64, AugmentConfig(**{**vars(EVERY_STEP), "crop_prob": crop_prob}))
    crop = _RecordingPipeline(transform.pipelines[0])
    transform.pipelines = (crop, transform.pipelines[1])
    transform(image, fractions, draw=(0, 0, 0, 0))
    # The crop step's float32 mask itself (``fractions`` when nothing was cut), not a copy.
    assert crop.masks[0].dtype == np.float32
    assert any(a is crop.masks[0] for a in resized)
    assert np.array_equal(fractions, before)  # no step wrote into the caller's mask


def _write_pair(folder, height, width, seed):
    rng = np.random.default_rng(seed)
    rows = np.linspace(0, 255, width, dtype=np.float64)[None, :, None]
    image = (rows + rng.integers(0, 60, (height, width, 3))).clip(0, 255).astype(np.uint8)
    Image.fromarray(image).save(folder / f"{seed}.jpg", quality=92)
    Image.fromarray(_odd_edged_mask(height, width, seed) * 255).save(folder / f"{seed}.png")
    return folder / f"{seed}.jpg", folder / f"{seed}.png"


@pytest.mark.parametrize("augment", [EVERY_STEP, AugmentConfig()])
def test_seeded_training_samples_equal_the_whole_mask_ones(tmp_path, monkeypatch, augment):
    pairs = [_write_pair(tmp_path, 301, 403, 1), _write_pair(tmp_path, 283, 197, 2)]
    images, masks = zip(*pairs)
    ds = SegmentationDataset(list(images), list(masks), 48, train=True, augment=augment)
    assert all(reduced_decode_factor(s, 48, augment) == 4 for s in (403, 283))
    monkeypatch.setattr(augmentation, "_SHRINK_BAND_PIXELS", 333)  # several bands a mask
    keys = [DrawKey(7, epoch, index, 0) for epoch in range(4) for index in range(2)]
    new = [ds[key] for key in keys]
    monkeypatch.setattr(datasets, "shrink_mask", _whole_mask_shrink)
    resize = augmentation.resize_by_rule
    # The former transform's astype copy of the float32 mask before its resize.
    monkeypatch.setattr(augmentation, "resize_by_rule", lambda a, h, w: resize(a.copy(), h, w))
    old = [ds[key] for key in keys]
    for a, b in zip(new, old):
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["mask"], b["mask"])
        assert torch.equal(a["orig_size"], b["orig_size"])
    assert 0 < sum(float(s["mask"].mean()) for s in new) < len(new)  # neither empty nor full
