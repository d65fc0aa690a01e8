"""A camera's MPO JPEG (a photo plus previews, or a stereo pair's second view) is read as its
first frame, the photo itself, without the multi-page warning that a TIFF of several pages gets:
each of a phone folder's photos would otherwise be named as holding frames that are lost."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from pmgsam.data.io import MaskValueWarning, load_image


def test_an_mpo_photo_reads_its_first_frame_without_a_warning(tmp_path: Path) -> None:
    first = np.zeros((16, 24, 3), np.uint8)
    first[:, :12] = (200, 40, 40)  # left half red: the photo
    second = np.full((16, 24, 3), 90, np.uint8)  # a flat gray second view
    path = tmp_path / "DSC0001.JPG"
    Image.fromarray(first).save(
        path, format="MPO", save_all=True, append_images=[Image.fromarray(second)], quality=95
    )
    with Image.open(path) as img:
        assert img.format == "MPO" and img.n_frames == 2  # really a two-frame MPO
    with warnings.catch_warnings():
        warnings.simplefilter("error", MaskValueWarning)
        image = load_image(path)
    assert image.shape == (16, 24, 3)
    # JPEG loss aside, the red half and the black half of the first frame, not the gray view.
    assert np.abs(image[:, :10].astype(int) - (200, 40, 40)).max() < 20
    assert image[:, 14:].max() < 20
