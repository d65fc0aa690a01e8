"""Input warnings and helpers checked case by case: the EXIF quarter-turn explanation is given
for exactly the sizes and orientations it describes, every dataset's photos are named, any
orientation is warned about in inference."""

from __future__ import annotations

import logging

import pytest
from mask_cases import corner_mask, exif_photo

from pmgsam.data import build_dataset
from pmgsam.data.datasets import check_files
from pmgsam.data.orientation import quarter_turn_hint
from pmgsam.engine.inference import ImageFolder

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("orientation", [5, 6, 7, 8])
def test_every_quarter_turn_orientation_is_explained(tmp_path, orientation):
    # 5 and 7 (transpose, transverse) swap width and height on display as 6 and 8 do.
    photo = exif_photo(tmp_path / "p.jpg", 30, 20, orientation)
    hint = quarter_turn_hint(photo, (30, 20), (20, 30))
    assert f"EXIF orientation {orientation}" in hint and "p.jpg" in hint


def test_no_quarter_turn_explanation_for_other_sizes_or_orientations(tmp_path):
    photo = exif_photo(tmp_path / "p.jpg", 30, 20, 6)  # stored 30 wide, 20 high: HxW (20, 30)
    assert quarter_turn_hint(photo, (20, 30), (20, 30)) == ""  # fits
    assert quarter_turn_hint(photo, (10, 15), (20, 30)) == ""  # smaller, not turned
    assert quarter_turn_hint(photo, (15, 10), (20, 30)) == ""  # turned and smaller
    assert quarter_turn_hint(photo, (30, 30), (20, 30)) == ""
    for orientation in (1, 2, 3, 4):  # flips and a half turn keep width and height
        upright = exif_photo(tmp_path / f"o{orientation}.jpg", 30, 20, orientation)
        assert quarter_turn_hint(upright, (30, 20), (20, 30)) == ""


def test_photos_of_every_dataset_checked_are_named(tmp_path, data_config, caplog):
    # check_files gets the training and the validation sets; a photo in either is named.
    roots = []
    for name, orientation in (("first", 1), ("second", 3)):
        root = tmp_path / name
        exif_photo(root / "images" / f"{name}.jpg", 32, 32, orientation)
        corner_mask(root / "masks" / f"{name}.png", 32, 32)
        roots.append(root)
    datasets = [
        build_dataset(
            data_config("folder", root, split_dir=str(tmp_path / f"s{i}")), "all", 64, False
        )
        for i, root in enumerate(roots)
    ]
    with caplog.at_level(logging.WARNING, logger="pmgsam"):
        check_files(datasets, workers=1)
    warned = [r.getMessage() for r in caplog.records if "EXIF orientation" in r.getMessage()]
    assert len(warned) == 1 and "second.jpg (3)" in warned[0] and "first" not in warned[0]


def test_inference_names_photos_of_any_orientation_but_the_stored_one(tmp_path, caplog):
    # A half turn (3) or a mirror (2) also makes the maps differ from the displayed view.
    for name, orientation in (("half", 3), ("mirror", 2), ("upright", 1), ("left", 8)):
        exif_photo(tmp_path / "in" / f"{name}.jpg", 20, 20, orientation)
    with caplog.at_level(logging.WARNING, logger="pmgsam"):
        ImageFolder(tmp_path / "in", 64)
    (warned,) = [r.getMessage() for r in caplog.records if "EXIF" in r.getMessage()]
    assert warned.startswith("3 image(s)")
    assert all(n in warned for n in ("half.jpg", "mirror.jpg", "left.jpg"))
    assert "upright" not in warned


@pytest.mark.parametrize("tag", [0, 9, 300])
def test_an_orientation_tag_outside_1_to_8_reads_as_stored(tmp_path, tag):
    # Not a valid EXIF orientation: viewers show such a photo as stored, so nothing to warn.
    from pmgsam.data.orientation import exif_orientation

    assert exif_orientation(exif_photo(tmp_path / "p.jpg", 12, 8, tag)) == 1
