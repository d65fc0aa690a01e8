"""Maps whose values go beyond the scale they are read on (a float TIFF above 255, a 32-bit
integer TIFF above 65535) are clipped to its top, as before, but no longer silently: a
MaskValueWarning names the file, its maximum and the share of clipped pixels. The right scales
read as before without it: a 16-bit PNG is scaled by 255/65535 (what cv2, the official DIS
tools' reader, gives to within one level: it takes the high byte), a 0-255 float map is kept."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from pmgsam.data.io import MaskValueWarning, load_image, load_mask


def _save(path: Path, values: list, mode: str, dtype: type) -> Path:
    if mode == "I;16":  # a 16-bit PNG, as OpenCV writes one
        assert cv2.imwrite(str(path), np.array([values], dtype))
    else:
        Image.fromarray(np.array([values], dtype), mode).save(path)
    return path


def test_a_float_map_above_255_is_named_with_its_maximum(tmp_path: Path) -> None:
    path = _save(tmp_path / "raw.tif", [0, 100, 255, 300, 1000], "F", np.float32)
    words = r"prediction file '.*raw\.tif' holds values up to 1000: .*clipped to 255 \(40\.0%"
    with pytest.warns(MaskValueWarning, match=words):
        mask = load_mask(path, "prediction", labels_01=False)
    assert mask.tolist() == [[0, 100, 255, 255, 255]]
    with pytest.warns(MaskValueWarning, match=r"image file '.*raw\.tif' holds values up to 1000"):
        assert load_image(path)[0, :, 0].tolist() == [0, 100, 255, 255, 255]


def test_a_32_bit_map_above_65535_is_named_with_its_maximum(tmp_path: Path) -> None:
    path = _save(tmp_path / "counts.tif", [0, 65535, 131070, 70000], "I", np.int32)
    words = r"mask file '.*counts\.tif' holds values up to 131070: .*65535 \(50\.0%"
    with pytest.warns(MaskValueWarning, match=words):
        mask = load_mask(path)
    assert mask.tolist() == [[0, 255, 255, 255]]


@pytest.mark.parametrize(
    "values, mode, dtype, read",
    [
        # 257 * 255 / 65535 = 1 exactly; 32768 * 255 / 65535 = 127.5019..., rounded to 128.
        ([0, 257, 32768, 65535], "I;16", np.uint16, [0, 1, 128, 255]),
        ([0.0, 2.0, 254.6, 255.0], "F", np.float32, [0, 2, 255, 255]),
        # A resampled 0-255 map overshoots 255 (Lanczos: by up to ~0.3 of the step).
        ([0.0, 128.0, 330.0], "F", np.float32, [0, 128, 255]),
    ],
)
def test_maps_on_their_scale_do_not_warn(
    tmp_path: Path, values: list, mode: str, dtype: type, read: list
) -> None:
    path = _save(
        tmp_path / "map.png" if mode == "I;16" else tmp_path / "map.tif", values, mode, dtype
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", MaskValueWarning)
        mask = load_mask(path, "prediction", labels_01=False)
    assert mask.tolist() == [read]
    if mode == "I;16":  # cv2 keeps the high byte: 0, 1, 128, 255, one level off at most
        cv2_read = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        assert np.abs(cv2_read.astype(int) - mask).max() <= 1
