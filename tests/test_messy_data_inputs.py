"""Files from the web and phones that read without an error but not as meant: each is named in a
warning (a 0/1 mask saved as JPEG or class ids read as empty, a 16-bit image of 8-bit values
read as black, a square phone photo whose mask was drawn on the turned view), and a run stopped
by a bad file says how to go on once the file is fixed (a resume refuses changed data)."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mask_cases import corner_mask, exif_photo
from PIL import Image

from pmgsam.data.errors import DataError
from pmgsam.data.io import MaskValueWarning, load_image, load_mask
from pmgsam.data.layouts import list_split
from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.distributed import DistInfo
from pmgsam.engine.train_data import build_training_data
from pmgsam.engine.training_log import interruption_message


def _disc(value: int) -> np.ndarray:
    mask = np.zeros((40, 50), np.uint8)
    cv2.circle(mask, (25, 20), 12, value, -1)
    return mask


def _reading(path: Path, **options) -> tuple:
    """(mask, messages of the MaskValueWarnings) of load_mask."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mask = load_mask(path, **options)
    return mask, [str(w.message) for w in caught if w.category is MaskValueWarning]


def test_a_0_1_mask_saved_as_jpeg_is_named_as_reading_empty(tmp_path):
    path = tmp_path / "phone.jpg"
    cv2.imwrite(str(path), _disc(1), [cv2.IMWRITE_JPEG_QUALITY, 75])
    stored = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    assert len(np.unique(stored)) > 2 and stored.max() <= 128  # the loss broke the two levels
    mask, warned = _reading(path)
    assert mask.max() <= 128  # foreground is > 128: the mask is empty, as the warning says
    assert len(warned) == 1 and "phone.jpg" in warned[0] and "empty mask" in warned[0]


def test_class_ids_are_named_as_reading_empty(tmp_path):
    ids = _disc(1)
    ids[:, :25] *= 2  # classes 1 and 2
    cv2.imwrite(str(tmp_path / "ids.png"), ids)
    mask, warned = _reading(tmp_path / "ids.png")
    assert not (mask > 128).any()
    assert len(warned) == 1 and "ids.png" in warned[0] and "from 0 to 2" in warned[0]


@pytest.mark.parametrize(
    "name, mask, options",
    [
        ("soft.png", cv2.GaussianBlur(_disc(255), (5, 5), 0), {}),  # antialiased 0/255
        ("empty.png", np.zeros((40, 50), np.uint8), {}),  # no object
        ("faint.png", _disc(3), {"labels_01": False}),  # a prediction may be faint
    ],
)
def test_masks_with_a_bright_object_or_none_are_not_named(tmp_path, name, mask, options):
    cv2.imwrite(str(tmp_path / name), mask)
    assert _reading(tmp_path / name, **options)[1] == []


def test_a_16_bit_image_of_8_bit_values_is_named_as_reading_black(tmp_path):
    dim = _disc(200).astype(np.uint16)  # 8-bit values saved as 16 bits
    cv2.imwrite(str(tmp_path / "dim.png"), dim)
    cv2.imwrite(str(tmp_path / "full.png"), dim * 257)  # the same picture at 16-bit scale
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        full = load_image(tmp_path / "full.png")
        image = load_image(tmp_path / "dim.png")
    # 200 * 255 / 65535 = 0.78, read as 1: the scaling stays, the warning says what it did.
    assert image.max() == 1 and full.max() == 200
    warned = [str(w.message) for w in caught if w.category is MaskValueWarning]
    assert len(warned) == 1 and "dim.png" in warned[0] and "at most 1/255" in warned[0]


def test_training_names_a_square_photo_that_carries_an_exif_orientation(
    tmp_path, data_config, caplog
):
    # Its mask, drawn on the displayed (turned) view, fits its size: nothing else tells.
    for split in ("train", "val"):
        exif_photo(tmp_path / split / "images" / "upright.jpg", 48, 48, 1)
        corner_mask(tmp_path / split / "masks" / "upright.png", 48, 48)
    exif_photo(tmp_path / "train" / "images" / "phone.jpg", 48, 48, 6)
    corner_mask(tmp_path / "train" / "masks" / "phone.png", 48, 48)
    cfg = data_config("folder", tmp_path, train_split="train", val_split="val")
    config = ExperimentConfig(data=cfg)
    config.model.image_size = 32
    with caplog.at_level(logging.WARNING, logger="pmgsam"):
        build_training_data(config, DistInfo(rank=0, world_size=1), torch.device("cpu"))
    warned = [r.getMessage() for r in caplog.records if "EXIF orientation" in r.getMessage()]
    assert len(warned) == 1 and "phone.jpg (6)" in warned[0] and "upright" not in warned[0]
    assert ": pmgsam reads pixels as stored" in warned[0]  # the package's name, not "Pmgsam"


def test_a_run_stopped_by_a_bad_file_says_a_fixed_file_needs_a_new_run(tmp_path):
    how = f"python train.py --resume {tmp_path}"
    bad = DataError("mask 'm.png' is 20x15 (WxH) but its image 'm.jpg' is 40x30")
    first = interruption_message(bad, 0, tmp_path, how)
    assert "start the run again with the command that started it" in first
    later = interruption_message(bad, 3, tmp_path, how)
    # The weights the line names ('last', the epoch held), not the run's best, which a run
    # folder given to init_from would load.
    last = tmp_path / "checkpoints" / "last"
    assert f"'{last}' holds epoch 3" in later
    assert f"train.init_from={last})" in later and "start the run again" not in later
    # Other causes (a NaN loss, Ctrl-C) leave the data as it was: a resume is the way on.
    other = interruption_message(ValueError("non-finite loss"), 3, tmp_path, how)
    assert "init_from" not in other and other.endswith(how)


def _folder_dataset(root: Path, stems: list) -> None:
    for stem in stems:
        exif_photo(root / "images" / f"{stem}.jpg", 20, 16, 1)
        corner_mask(root / "masks" / f"{stem}.png", 20, 16)


def test_a_partner_in_a_format_not_read_is_named_where_the_pair_is_missing(tmp_path, data_config):
    _folder_dataset(tmp_path, ["a"])
    (tmp_path / "images" / "IMG_1.heic").write_bytes(b"a phone photo")
    corner_mask(tmp_path / "masks" / "IMG_1.png", 20, 16)
    cfg = data_config("folder", tmp_path, train_split="all")
    with pytest.warns(UserWarning, match=r"not read: IMG_1\.heic"):
        with pytest.raises(DataError, match=r"no image .*IMG_1\.png; IMG_1\.heic is there, but"):
            list_split(cfg, "all")
    (tmp_path / "masks" / "IMG_1.png").unlink()
    (tmp_path / "images" / "IMG_1.heic").unlink()
    corner_mask(tmp_path / "masks" / "b.webp", 20, 16)
    exif_photo(tmp_path / "images" / "b.jpg", 20, 16, 1)
    with pytest.raises(DataError, match=r"no mask .*b\.jpg; b\.webp is there, but masks are"):
        list_split(cfg, "all")


def test_images_in_formats_not_read_are_named_not_dropped_unseen(tmp_path, data_config):
    _folder_dataset(tmp_path, ["a", "b"])
    (tmp_path / "images" / "IMG_2.heic").write_bytes(b"a phone photo, no mask either")
    cfg = data_config("folder", tmp_path, train_split="all")
    with pytest.warns(UserWarning, match=r"'.*images' holds 1 file\(s\) .*: IMG_2\.heic"):
        assert list_split(cfg, "all").names == ["a", "b"]
    (tmp_path / "images" / "IMG_2.heic").unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert list_split(cfg, "all").names == ["a", "b"]


def _rgba(path: Path, rgb: np.ndarray, alpha: np.ndarray) -> Path:
    Image.fromarray(np.dstack([rgb, alpha]).astype(np.uint8), "RGBA").save(path)
    return path


@pytest.mark.parametrize("background", [0, 255])
def test_a_cut_out_saved_as_a_mask_is_named(tmp_path, background):
    # A photo's object kept (opaque) and the rest transparent: the object is the alpha, while
    # the colour (dark fur on transparent black, or on transparent white) reads as nothing or
    # as the background.
    alpha = _disc(255)
    rgb = np.random.default_rng(0).integers(0, 120, (*alpha.shape, 3))
    rgb[alpha == 0] = background
    mask, warned = _reading(_rgba(tmp_path / "cutout.png", rgb, alpha))
    np.testing.assert_array_equal(mask, rgb.max(axis=2))  # read as before: by its colour
    assert len(warned) == 1 and "cutout.png' has transparency" in warned[0]


def test_coloured_labels_on_transparency_are_not_named(tmp_path):
    shape = _disc(255)
    red = np.zeros((*shape.shape, 3), np.uint8)
    red[shape > 0] = (255, 0, 0)
    for name, alpha in (("labels.png", shape), ("overlay.png", (shape > 0) * 100)):
        mask, warned = _reading(_rgba(tmp_path / name, red, alpha))
        assert warned == [] and np.array_equal(mask > 128, shape > 0)
