"""Edges of the newer image and mask warnings (dim 16-bit images, GT masks of values up to 128,
cut-outs, VOC-style palette masks), each at a value where a plausible wrong threshold, a
dropped check or a narrower condition would warn wrongly or stay silent."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import List

import numpy as np
import pytest
from PIL import Image

from pmgsam.data import io


def _warnings(read, path: Path, **options) -> List[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read(path, **options)
    return [str(w.message) for w in caught if issubclass(w.category, io.MaskValueWarning)]


@pytest.mark.parametrize("top, named", [(4095, True), (4096, False), (0, False)])
def test_a_16_bit_image_is_named_up_to_12_bit_data_only(tmp_path, top, named) -> None:
    # 4095 is the top of 12-bit data, which reads at most 16/255; an all-black image holds no
    # 8- or 12-bit values to rescale.
    path = tmp_path / "im.png"
    values = np.zeros((8, 8), np.uint16)
    values[:4] = top
    Image.fromarray(values).save(path)
    found = [m for m in _warnings(io.load_image, path) if "nearly black" in m]
    assert bool(found) is named
    if named:
        assert f"'{path}' is 16-bit but never exceeds 4095 (of 65535)" in found[0]


def test_a_gt_mask_of_several_values_up_to_128_is_named_as_empty(tmp_path) -> None:
    # 128 is not foreground (> 128), so 0/1/128 reads empty like 0/1/2.
    path = tmp_path / "m.png"
    values = np.zeros((8, 8), np.uint8)
    values[:2], values[2:4] = 1, 128
    Image.fromarray(values).save(path)
    (message,) = _warnings(io.load_mask, path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert not (io.load_mask(path) > 128).any()
    assert f"'{path}' holds several values from 0 to 128" in message


def _rgba(path: Path, grey: np.ndarray, alpha: np.ndarray) -> Path:
    Image.fromarray(np.dstack([grey, grey, grey, alpha]).astype(np.uint8), "RGBA").save(path)
    return path


def _cut_out(path: Path) -> Path:
    """An object (dark) kept opaque, its bright surroundings transparent."""
    grey = np.full((16, 16), 200, np.uint8)
    alpha = np.zeros((16, 16), np.uint8)
    grey[4:12, 4:12], alpha[4:12, 4:12] = 60, 255
    return _rgba(path, grey, alpha)


def test_a_cut_out_prediction_is_named_too(tmp_path) -> None:
    path = _cut_out(tmp_path / "p.png")
    found = [m for m in _warnings(io.load_mask, path, labels_01=False) if "transparency" in m]
    assert len(found) == 1
    assert f"'{path}' has transparency whose shape is not its colour's (IoU 0.00)" in found[0]


def test_an_opaque_rgba_mask_with_a_small_object_is_silent(tmp_path) -> None:
    # Opaque alpha is no shape: taken for one, it covers the whole image (IoU 0.1 here).
    grey = np.zeros((10, 10), np.uint8)
    grey[:1] = 255
    path = _rgba(tmp_path / "m.png", grey, np.full((10, 10), 255, np.uint8))
    assert _warnings(io.load_mask, path) == []
    assert (io.load_mask(path) > 128).sum() == 10


def test_a_nearly_transparent_background_is_no_shape_of_its_own(tmp_path) -> None:
    # Alpha 10 outside the object is transparent as far as a shape goes (below half of 255).
    grey = np.zeros((10, 10), np.uint8)
    alpha = np.full((10, 10), 10, np.uint8)
    grey[:2], alpha[:2] = 255, 255
    path = _rgba(tmp_path / "m.png", grey, alpha)
    assert _warnings(io.load_mask, path) == []


@pytest.mark.parametrize("alpha_columns, named", [(4, True), (5, False), (6, False)])
def test_a_cut_out_is_named_below_half_overlap_only(tmp_path, alpha_columns, named) -> None:
    # Colour foreground: 10 columns of 10 rows; alpha's: the first alpha_columns of them, so
    # the IoU is alpha_columns / 10 (0.5 is not below the 0.5 the doc names).
    grey = np.zeros((10, 20), np.uint8)
    alpha = np.zeros((10, 20), np.uint8)
    grey[:, :10] = 255
    alpha[:, :alpha_columns] = 255
    path = _rgba(tmp_path / "m.png", grey, alpha)
    found = [m for m in _warnings(io.load_mask, path) if "transparency" in m]
    assert bool(found) is named
    if named:
        assert f"(IoU 0.{alpha_columns}0)" in found[0]


def _grey_palette_png(path: Path, grey: np.ndarray) -> Path:
    img = Image.fromarray(grey.astype(np.uint8), mode="P")
    img.putpalette([v for v in range(256) for _ in range(3)])
    img.save(path)
    return path


def test_a_small_dark_patch_inside_an_object_is_no_class_mask(tmp_path) -> None:
    # Its dark core (3x3) is far smaller than the object around it: no larger region of
    # dark labels for the foreground to outline.
    grey = np.zeros((32, 32), np.uint8)
    grey[4:28, 4:28] = 255
    grey[10:15, 10:15] = 100
    path = _grey_palette_png(tmp_path / "m.png", grey)
    assert not [m for m in _warnings(io.load_mask, path) if "palette mask" in m]


def test_a_voc_boundary_with_a_gap_still_names_the_class_mask(tmp_path) -> None:
    # A dark-red-like label (100) of 20x20 outlined by a 1-pixel bright boundary (224) except
    # for 6 pixels: 95% of its edge touches the boundary (diagonally, too), above the 80%
    # asked for.
    grey = np.zeros((32, 32), np.uint8)
    grey[5:27, 5:27] = 224
    grey[6:26, 6:26] = 100
    grey[5, 14:20] = 0
    path = _grey_palette_png(tmp_path / "m.png", grey)
    found = [m for m in _warnings(io.load_mask, path) if "palette mask" in m]
    assert len(found) == 1 and "dark labels (values 100-100" in found[0]


def test_a_label_mask_on_transparency_is_no_cut_out(tmp_path) -> None:
    # A palette mask of VOC's dark red (128) whose background index is transparent reads as
    # 0/255 by the label rule, the shape of its alpha: no "cut-out" read as empty to name.
    indices = np.zeros((16, 16), np.uint8)
    indices[4:12, 4:12] = 1
    img = Image.fromarray(indices, mode="P")
    img.putpalette([0, 0, 0, 128, 0, 0] + [0] * 762)
    path = tmp_path / "label.png"
    img.save(path, transparency=0)
    found = _warnings(io.load_mask, path)
    assert len(found) == 1 and "holds 0/128 labels; read as 0/255" in found[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert (io.load_mask(path) > 128).sum() == 64
