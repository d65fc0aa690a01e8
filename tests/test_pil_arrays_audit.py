"""Mutation audit: pmgsam.data.pil_arrays.pil_pixels and the readers built on it, at band
edges and in the PIL modes the first tests did not meet.

Expectation: ``np.asarray(img.convert(mode))`` (the whole-image formula pil_pixels replaces)
and, for 16-bit files, the 255/65535 scaling computed by hand in Python integers.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pmgsam.data import pil_arrays
from pmgsam.data.io import load_image, load_mask
from pmgsam.data.pil_arrays import pil_pixels

RNG = np.random.default_rng(7)
RGB = RNG.integers(0, 256, (9, 11, 3), dtype=np.uint8)
WORDS = RNG.integers(0, 65536, (9, 11)).astype(np.uint16)


def _images() -> dict:
    base = Image.fromarray(RGB)
    made = {m: base.convert(m) for m in ("1", "L", "LA", "La", "RGBa", "RGBX", "CMYK", "YCbCr")}
    made["I"] = Image.fromarray(WORDS.astype(np.int32) - 300, "I")
    made["F"] = Image.fromarray(WORDS.astype(np.float32) / 65535, "F")
    made["PA"] = base.quantize(16).convert("PA")
    made["P"] = base.quantize(16)
    for mode, order in (("I;16B", ">u2"), ("I;16L", "<u2"), ("I;16", "<u2")):
        made[mode] = Image.frombytes(mode, (11, 9), WORDS.astype(order).tobytes())
    return made


def _want(img: Image.Image, mode):
    return np.asarray(img.convert(mode) if mode and mode != img.mode else img)


@pytest.mark.parametrize("band_bytes", [1, 8 * 11 * 2, 8 * 11 * 4 - 1, pil_arrays.BAND_BYTES])
def test_every_mode_equals_the_whole_image_conversion(monkeypatch, band_bytes):
    # 1 byte: rows of one (the band budget is below one row); 2 rows: 9 rows end mid-band.
    monkeypatch.setattr(pil_arrays, "BAND_BYTES", band_bytes)
    for name, img in _images().items():
        for mode in (None, "RGB", "L", "RGBA"):
            try:
                want = _want(img, mode)
            except ValueError:  # PIL converts La and RGBa to some modes only: so do bands
                with pytest.raises(ValueError):
                    pil_pixels(img, mode)
                continue
            got = pil_pixels(img, mode)
            assert got.dtype == want.dtype and got.shape == want.shape, (name, mode)
            assert np.array_equal(got, want), (name, mode)
            assert got.flags.c_contiguous and got.flags.writeable


def test_an_image_wider_than_the_band_budget_is_read_a_row_at_a_time(monkeypatch):
    # 8 bytes a pixel times 40 columns is over 100 bytes: the band rounds up to one row.
    monkeypatch.setattr(pil_arrays, "BAND_BYTES", 100)
    wide = Image.fromarray(RNG.integers(0, 256, (3, 40, 3), dtype=np.uint8))
    assert np.array_equal(pil_pixels(wide, "L"), _want(wide, "L"))
    one_row = Image.fromarray(RNG.integers(0, 256, (1, 40), dtype=np.uint8))
    assert np.array_equal(pil_pixels(one_row), np.asarray(one_row))


@pytest.mark.parametrize("size", [(0, 0), (5, 0), (0, 4)])
@pytest.mark.parametrize("mode", [None, "RGB", "L"])
def test_an_empty_image_keeps_its_shape_and_type(size, mode):
    img = Image.new("P", size)
    want, got = _want(img, mode), pil_pixels(img, mode)
    assert got.shape == want.shape and got.dtype == want.dtype


def _scaled(words: np.ndarray) -> np.ndarray:
    """255/65535 rounded half up, in Python integers."""
    return np.array([[(int(v) * 255 + 32767) // 65535 for v in row] for row in words], np.uint8)


@pytest.mark.parametrize("mode, order", [("I;16B", ">u2"), ("I;16", "<u2")])
def test_big_and_little_endian_16_bit_files_read_the_same_levels(
    tmp_path, monkeypatch, mode, order
):
    monkeypatch.setattr(pil_arrays, "BAND_BYTES", 8 * 11 * 2)
    path = tmp_path / "m.tif"
    Image.frombytes(mode, (11, 9), WORDS.astype(order).tobytes()).save(path)
    assert Image.open(path).mode == mode
    want = _scaled(WORDS)
    assert np.array_equal(load_mask(path), want)
    image = load_image(path)
    assert image.shape == (9, 11, 3) and all(np.array_equal(image[:, :, c], want) for c in range(3))


def test_a_cmyk_file_reads_as_pil_converts_it(tmp_path, monkeypatch):
    monkeypatch.setattr(pil_arrays, "BAND_BYTES", 1)
    path = tmp_path / "c.tif"
    Image.fromarray(RGB).convert("CMYK").save(path)
    rgb = np.asarray(Image.open(path).convert("RGB"))
    assert np.array_equal(load_image(path), rgb)
    with pytest.warns(UserWarning, match="is a colour image"):
        assert np.array_equal(load_mask(path, "prediction", False), rgb.max(axis=2))
