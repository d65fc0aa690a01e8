"""A camera's MPO JPEG (a photo plus previews, or a stereo pair's second view) is read as its
first frame, the photo itself, without the multi-page warning that a TIFF of several pages gets:
each of a phone folder's photos would otherwise be named as holding frames that are lost."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from pmgsam.data.io import MaskValueWarning, load_image, read_header
from pmgsam.data.reduced_decode import load_image_reduced, reduced_decode_applies


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


def test_an_mpo_photo_takes_the_reduced_decode_of_its_first_frame(tmp_path: Path) -> None:
    # Training decodes camera JPEGs at 1/2..1/8 size; an MPO is one too (its photo comes first),
    # so it should not fall back to the full-size decode. The second view is flat gray, the
    # photo has a red half: a reduced decode of the wrong frame would be far from the photo's.
    rng = np.random.default_rng(0)
    first = cv2.GaussianBlur(rng.integers(0, 255, (128, 192, 3), dtype=np.uint8), (0, 0), 3)
    first[:, :96] = (200, 40, 40)
    path = tmp_path / "DSC0002.JPG"
    Image.fromarray(first).save(
        path,
        format="MPO",
        save_all=True,
        append_images=[Image.fromarray(np.full((128, 192, 3), 90, np.uint8))],
        quality=95,
    )
    assert reduced_decode_applies(*read_header(path)[2:])
    reduced = load_image_reduced(path, 4)
    assert reduced.shape == (32, 48, 3)
    ref = cv2.resize(load_image(path), (48, 32), interpolation=cv2.INTER_AREA)
    diff = np.abs(reduced.astype(np.float32) - ref.astype(np.float32))
    assert diff.mean() < 2.0, diff.mean()
