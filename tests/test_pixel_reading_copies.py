"""load_image / load_mask without full-size copies (pmgsam.data.pil_arrays, to_uint8's table):
the same pixels, dtype and warnings as the readers they replaced (tests/old_pixel_readers.py)
on every kind of file, in 2-row bands as well as one; less traced memory at the peak than the
old readers; arrays that callers may write into."""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from pmgsam.data import io, pil_arrays
from pmgsam.data.datasets import SegmentationDataset
from pmgsam.data.io import load_image, load_mask, to_uint8
from tests.old_pixel_readers import (
    _old_load_image,
    _old_load_mask,
    _old_mask_pixels,
    _old_to_uint8,
)


def _files(folder):
    """One small file of each kind the readers meet; 63 rows, so 2-row bands end mid-image."""
    rng = np.random.default_rng(3)
    h, w = 63, 45
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    blob = np.zeros((h, w), np.uint8)
    blob[10:40, 5:30] = 255
    alpha = np.where(blob > 0, 255, 30).astype(np.uint8)
    pal = Image.fromarray(rgb).quantize(16)
    made = {
        "rgb.jpg": Image.fromarray(rgb),
        "gray.jpg": Image.fromarray(rgb[:, :, 0]),
        "cmyk.jpg": Image.fromarray(rgb).convert("CMYK"),
        "rgb.png": Image.fromarray(rgb),
        "rgba.png": Image.fromarray(np.dstack([rgb, alpha]), "RGBA"),
        "alpha_mask.png": Image.fromarray(np.dstack([blob * 0 + 200] * 3 + [blob]), "RGBA"),
        "la.png": Image.fromarray(np.dstack([rgb[:, :, 1], alpha]), "LA"),
        "pal.png": pal,
        "mask8.png": Image.fromarray(blob),
        "labels01.png": Image.fromarray(blob // 255),
        "one.png": Image.fromarray(blob > 0),
        "gray16.png": Image.fromarray(rng.integers(0, 65536, (h, w)).astype(np.uint16)),
        "mask16.png": Image.fromarray(blob.astype(np.uint16) * 257),
        "int32.tif": Image.fromarray(rng.integers(-9, 70000, (h, w)).astype(np.int32), "I"),
        "float.tif": Image.fromarray(rng.random((h, w)).astype(np.float32), "F"),
    }
    for name, img in made.items():
        img.save(folder / name)
    trns = pal.copy()
    trns.info["transparency"] = 0
    trns.save(folder / "pal_trns.png", transparency=0)
    return sorted(folder.iterdir())


def _read(reader, *args):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = reader(*args)
    return out, [str(w.message) for w in caught]


@pytest.mark.parametrize("band_bytes", [pil_arrays.BAND_BYTES, 1000])
def test_same_pixels_dtype_and_warnings_as_the_old_readers(tmp_path, monkeypatch, band_bytes):
    monkeypatch.setattr(pil_arrays, "BAND_BYTES", band_bytes)
    for path in _files(tmp_path):
        new, new_warned = _read(load_image, path)
        old, old_warned = _read(_old_load_image, path)
        assert new.dtype == old.dtype == np.uint8 and np.array_equal(new, old), path.name
        assert new.flags.c_contiguous and new_warned == old_warned, path.name
        for what, labels in (("mask", True), ("prediction", False)):
            new, new_warned = _read(load_mask, path, what, labels)
            old, old_warned = _read(_old_load_mask, path, what, labels)
            assert new.dtype == old.dtype == np.uint8 and np.array_equal(new, old), path.name
            assert new.flags.c_contiguous and new_warned == old_warned, (path.name, what)


@pytest.mark.parametrize("band_bytes", [pil_arrays.BAND_BYTES, 1000])
def test_band_copies_equal_numpy_asarray_of_the_converted_image(tmp_path, monkeypatch, band_bytes):
    monkeypatch.setattr(pil_arrays, "BAND_BYTES", band_bytes)
    for path in _files(tmp_path):
        img = io._open(path, "image")
        modes = [None, "RGB", "L"] + (["RGBA"] if img.mode in ("P", "PA", "RGB", "LA") else [])
        for mode in modes:
            old = np.asarray(img.convert(mode) if mode and mode != img.mode else img)
            new = pil_arrays.pil_pixels(img, mode)
            assert new.dtype == old.dtype and np.array_equal(new, old), (path.name, mode)
        old, old_mode = _old_mask_pixels(path, "mask")
        assert np.array_equal(pil_arrays.pil_pixels(img, old_mode), old), path.name


def test_to_uint8_table_equals_the_int64_formula_for_every_integer_type():
    every = np.arange(65536, dtype=np.uint16)
    assert np.array_equal(to_uint8(every), _old_to_uint8(every))
    # Values beyond 0-65535 are clipped, as the int64 formula clipped them.
    wide = np.array([-(2**31), -70000, -1, 0, 1, 32767, 32768, 65534, 65535, 65536, 2**31 - 1])
    for dtype in (np.int32, np.int64, np.uint32, np.uint64, np.int16, np.int8):
        values = wide[(wide >= np.iinfo(dtype).min) & (wide <= np.iinfo(dtype).max)]
        arr = values.astype(dtype)
        got = to_uint8(arr)
        assert got.dtype == np.uint8 and np.array_equal(got, _old_to_uint8(arr)), dtype
    # Hand-derived: 128 * 255 / 65535 = 0.498 -> 0, 129 -> 0.502 -> 1, 65535 -> 255.
    assert to_uint8(np.array([128, 129, 65535], np.uint16)).tolist() == [0, 1, 255]


def _traced_peak(reader, *args):
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = reader(*args)
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_readers_hold_no_full_size_copy_beside_the_result(tmp_path, monkeypatch):
    # np.asarray(img) joined tobytes' chunks (two copies as large as the result); the 16-bit
    # formula made int64 copies. tracemalloc sees NumPy's and Python's buffers, not PIL's;
    # 64 KiB of them are the decoder's file reads.
    monkeypatch.setattr(pil_arrays, "BAND_BYTES", 4000)
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.png", compress_level=0)
    Image.fromarray(rgb[:, :, 0]).save(tmp_path / "m.png", compress_level=0)
    sixteen = rng.integers(0, 65536, (480, 640)).astype(np.uint16)
    Image.fromarray(sixteen).save(tmp_path / "m16.png", compress_level=0)
    pixels = 480 * 640
    # What must coexist: the result, plus for 16 bits the 16-bit array and its 8-bit gray.
    cases = (
        (load_image, _old_load_image, "a.png", 3 * pixels),
        (load_mask, _old_load_mask, "m.png", pixels),
        (load_mask, _old_load_mask, "m16.png", 2 * pixels + pixels),
        (load_image, _old_load_image, "m16.png", 2 * pixels + pixels + 3 * pixels),
    )
    for reader, old_reader, name, needed in cases:
        out, peak = _traced_peak(reader, tmp_path / name)
        bound = 1.2 * needed + 80_000
        assert peak < bound, (name, peak, out.nbytes)
        assert _traced_peak(old_reader, tmp_path / name)[1] > bound, name  # the test can fail


def test_sixteen_bit_levels_hold_no_wide_copy():
    # The int64 formula held three 8-byte copies of the array (+460 MiB at 24 MP).
    sixteen = np.random.default_rng(1).integers(0, 65536, (480, 640)).astype(np.uint16)
    for arr in (sixteen, sixteen.astype(np.int32)):  # PNG's 16 bits, a TIFF's 32
        out, peak = _traced_peak(to_uint8, arr)
        # The result, the 64 KiB table and, for int32, the clipped copy.
        assert peak < 1.1 * (out.nbytes + arr.nbytes * (arr.dtype == np.int32)) + 65536, peak


def test_callers_may_write_into_what_the_readers_return(tmp_path):
    # np.asarray of a PIL image is read-only; the band copies are the caller's own arrays.
    for path in _files(tmp_path):
        for read in (load_image, lambda p: load_mask(p, "prediction", labels_01=False)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                array, again = read(path), read(path)
            assert array.flags.writeable, path.name
            kept = array.copy()
            array[...] = 255 - array  # in place, as a caller that normalises or draws would
            assert np.array_equal(again, kept), path.name  # nothing shared between reads


@pytest.mark.parametrize("train", [False, True])
def test_dataset_samples_equal_those_of_the_old_reader(tmp_path, monkeypatch, train):
    files = {p.name: p for p in _files(tmp_path)}
    images = [files[n] for n in ("rgb.jpg", "rgba.png", "gray16.png", "pal.png")]
    masks = [files["mask8.png"], files["mask16.png"], files["mask8.png"], files["mask16.png"]]
    new_ds = SegmentationDataset(images, masks, 32, train=train)

    def samples():
        torch.manual_seed(0)
        return [new_ds[i] for i in range(len(images))]

    new = samples()
    import pmgsam.data.datasets as datasets

    monkeypatch.setattr(datasets, "load_image", _old_load_image)
    monkeypatch.setattr(datasets, "load_mask", _old_load_mask)
    old = samples()
    for a, b in zip(new, old):
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["mask"], b["mask"])
