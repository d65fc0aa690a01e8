"""Float maps (PIL mode "F", float32 TIFF): logits are named in a warning, probabilities
and 0-255 floats are not, resampled ones included (pmgsam.data.io)."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from pmgsam.data.io import MaskValueWarning, load_image, load_mask


def _save_float(path: Path, arr: np.ndarray) -> Path:
    Image.fromarray(arr.astype(np.float32), "F").save(path)
    return path


def _edge_map(top: float) -> np.ndarray:
    """A 0/``top`` square upscaled 4x with Lanczos (OpenCV's 8-tap kernel): it undershoots 0
    next to the square's edges, as a map resampled to its GT size does."""
    small = np.zeros((12, 12), np.float32)
    small[4:8, 3:9] = top
    small[6, 1] = top  # a lone dot, which rings deepest
    return cv2.resize(small, (48, 48), interpolation=cv2.INTER_LANCZOS4)


def test_a_logit_map_is_read_as_before_but_named_in_a_warning(tmp_path: Path) -> None:
    # -8..6: the maximum (> 1.5) makes it 0-255 values, so 6 reads 6 of 255 and every
    # negative logit 0; the reading stays, the warning says why it is nearly black.
    path = _save_float(tmp_path / "logits.tif", np.array([[-8.0, -0.5, 0.0, 3.0, 6.0]]))
    with pytest.warns(MaskValueWarning, match=r"prediction file '.*logits\.tif'.*-8 to 6.*sigmoid"):
        mask = load_mask(path, "prediction", labels_01=False)
    assert mask.tolist() == [[0, 0, 0, 3, 6]]


def test_logits_of_an_empty_prediction_warn_too(tmp_path: Path) -> None:
    # All below 0 (max <= 1.5: read as probabilities): an all-black map, and a warning.
    path = _save_float(tmp_path / "empty.tif", np.array([[-12.0, -3.0, -0.7]]))
    with pytest.warns(MaskValueWarning, match=r"empty\.tif'.*read as probabilities.*logits"):
        mask = load_mask(path, "prediction", labels_01=False)
    assert mask.tolist() == [[0, 0, 0]]


@pytest.mark.parametrize("top", [1.0, 255.0])
def test_resampled_probability_and_0_255_maps_do_not_warn(tmp_path: Path, top: float) -> None:
    resampled = _edge_map(top)
    # The undershoot is real (checked, so that the case tests something) but small.
    assert -0.3 * top < resampled.min() < -0.05 * top
    path = _save_float(tmp_path / "map.tif", resampled)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mask = load_mask(path, "prediction", labels_01=False)
    assert mask.max() == 255 and mask.min() == 0


def test_a_plain_0_255_float_map_does_not_warn(tmp_path: Path) -> None:
    path = _save_float(tmp_path / "map.tif", np.array([[0.0, 127.6, 255.0]]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_mask(path, "prediction", labels_01=False).tolist() == [[0, 128, 255]]


def test_a_normalised_float_image_is_named_in_a_warning(tmp_path: Path) -> None:
    # A mean/std normalised grey image: -2..2.5 reads as 0-255 values, so 0..2 of 255.
    path = _save_float(tmp_path / "norm.tif", np.array([[-2.0, 0.0, 2.5]]))
    with pytest.warns(MaskValueWarning, match=r"image file '.*norm\.tif'.*-2 to 2\.5"):
        image = load_image(path)
    assert image[:, :, 0].tolist() == [[0, 0, 3]]
