"""binarize and shrink_mask without full-size temporaries (shrink_mask works in bands of whole
blocks): the same arrays as the formulas they replaced (copied below), less traced memory at the
peak, and the same training samples."""

from __future__ import annotations

import tracemalloc

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

import pmgsam.data.datasets as datasets
from pmgsam.data.augmentation import _SHRINK_BAND_PIXELS, reduced_decode_factor, shrink_mask
from pmgsam.data.datasets import SegmentationDataset
from pmgsam.data.io import binarize


def _old_binarize(mask):
    return (mask > 128).astype(np.uint8)


def _old_shrink_mask(mask, shape, factor):
    """augmentation.shrink_mask before the in-place levels (its checks left out)."""
    h, w = shape
    pad_bottom, pad_right = h * factor - mask.shape[0], w * factor - mask.shape[1]
    levels = (mask != 0).astype(np.uint8) * 64
    levels = cv2.copyMakeBorder(levels, 0, pad_bottom, 0, pad_right, cv2.BORDER_REPLICATE)
    small = cv2.resize(levels, (w, h), interpolation=cv2.INTER_AREA)
    return small.astype(np.float32) / 64.0


def _traced_peak(func, *args):
    tracemalloc.start()
    try:
        out = func(*args)
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_binarize_equals_the_astype_formula_and_is_writable():
    every = np.arange(256, dtype=np.uint8).reshape(16, 16)
    got = binarize(every)
    assert got.dtype == np.uint8 and np.array_equal(got, _old_binarize(every))
    assert got.sum() == 127  # hand-derived: 129..255 are foreground
    got[...] = 1 - got  # callers may write into it (a view of a fresh bool array)
    assert np.array_equal(got, 1 - _old_binarize(every))


def test_binarize_holds_one_byte_a_pixel():
    mask = np.random.default_rng(0).integers(0, 256, (480, 640), dtype=np.uint8)
    out, peak = _traced_peak(binarize, mask)
    assert peak < 1.1 * out.nbytes, peak
    assert _traced_peak(_old_binarize, mask)[1] > 1.1 * out.nbytes  # the test can fail


@pytest.mark.parametrize("factor", [2, 4, 8])
def test_shrink_mask_equals_the_old_formula(factor):
    rng = np.random.default_rng(factor)
    for height, width in ((37, 53), (64, 48), (9, 8)):
        shape = (-(-height // factor), -(-width // factor))
        binary = (rng.random((height, width)) < 0.4).astype(np.uint8)
        for mask in (binary, binary.astype(bool), binary * 255):
            got = shrink_mask(mask, shape, factor)
            want = _old_shrink_mask(mask, shape, factor)
            assert got.dtype == want.dtype == np.float32 and np.array_equal(got, want)
        assert binary.max() == 1  # the input is left as it was


@pytest.mark.parametrize("size", [(2000, 3000), (1999, 2999)])
def test_shrink_mask_holds_no_extra_full_size_copy(size):
    # 6 MP: several bands. Beside the float32 result (one byte a mask pixel at factor 2) it
    # holds one band at a time: its {0, 64} levels, their edge-replicated copy (a partial
    # block: the odd size) and the band's resized rows, each at most a band's bytes. One
    # full-size uint8 copy (levels of the whole mask) would add 6 MB; the old formula held
    # the levels, their padded copy and a float copy of the result.
    mask = (np.random.default_rng(1).random(size) < 0.4).astype(np.uint8)
    shape = (-(-size[0] // 2), -(-size[1] // 2))
    result, peak = _traced_peak(shrink_mask, mask, shape, 2)
    bound = result.nbytes + 3 * _SHRINK_BAND_PIXELS
    assert peak < bound, peak
    assert result.nbytes + mask.size > bound  # one full-size copy would fail it
    assert _traced_peak(_old_shrink_mask, mask, shape, 2)[1] > bound  # the test can fail


def test_reduced_decode_training_samples_equal_the_old_ones(tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (301, 403, 3), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "a.jpg")
    mask = np.zeros((301, 403), np.uint8)
    mask[40:250, 60:300] = 255
    mask[::7] = 0
    Image.fromarray(mask).save(tmp_path / "a.png")
    ds = SegmentationDataset([tmp_path / "a.jpg"], [tmp_path / "a.png"], 32, train=True)
    assert ds.reduced_decode and reduced_decode_factor(403, 32, ds.transform.cfg) > 1

    def samples():
        torch.manual_seed(0)
        return [ds[0] for _ in range(3)]

    new = samples()
    monkeypatch.setattr(datasets, "binarize", _old_binarize)
    monkeypatch.setattr(datasets, "shrink_mask", _old_shrink_mask)
    old = samples()
    for a, b in zip(new, old):
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["mask"], b["mask"])
        assert torch.equal(a["orig_size"], b["orig_size"])


def test_reduced_decode_loading_drops_the_0_255_mask_first(tmp_path):
    # A JPEG decoded at 1/f: the full-size 0-255 mask was held beside its {0, 1} copy while the
    # copy was shrunk (4 bytes a pixel at the peak instead of 3).
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)).save(tmp_path / "a.jpg")
    Image.fromarray(((rng.random((480, 640)) < 0.3) * 255).astype(np.uint8)).save(
        tmp_path / "a.png"
    )
    ds = SegmentationDataset([tmp_path / "a.jpg"], [tmp_path / "a.png"], 32, train=True)
    _, peak = _traced_peak(ds.load_for_training, 0)
    assert peak < 3.5 * 480 * 640, peak
