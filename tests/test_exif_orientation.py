"""Photos with an EXIF orientation: pmgsam reads pixels as stored (as the official DIS and COD
loaders do), so a mask or map made on the displayed (turned) view does not fit. Where that
shows (width and height swapped) the error says why; where nothing shows (a square photo, or
inference) a warning names the files; and scoring never stretches a turned map over its GT."""

from __future__ import annotations

import logging

import pytest
from mask_cases import coco_dict, corner_mask, exif_photo
from PIL import Image

from pmgsam.data import build_dataset
from pmgsam.data.datasets import check_files
from pmgsam.data.io import DataError
from pmgsam.data.orientation import exif_orientation, quarter_turn_hint, turned_by_90
from pmgsam.engine.inference import ImageFolder
from pmgsam.evaluation.instances import evaluate_cos_folder
from pmgsam.evaluation.scoring import EvaluationInputError, check_sizes


def test_orientation_is_read_from_the_header(tmp_path):
    assert exif_orientation(exif_photo(tmp_path / "a.jpg", 30, 20, 6)) == 6
    Image.new("RGB", (4, 4)).save(tmp_path / "plain.png")
    assert exif_orientation(tmp_path / "plain.png") == 1
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    assert exif_orientation(tmp_path / "broken.jpg") == 1  # reading it fails elsewhere, named


def test_a_mask_drawn_on_the_turned_view_is_explained(tmp_path, data_config, caplog):
    root = tmp_path / "mine"
    exif_photo(root / "images" / "phone.jpg", 300, 200, 6)  # shown 200 wide, 300 high
    corner_mask(root / "masks" / "phone.png", 200, 300)  # drawn on what the viewer showed
    exif_photo(root / "images" / "square.jpg", 64, 64, 8)
    corner_mask(root / "masks" / "square.png", 64, 64)
    ds = build_dataset(data_config("folder", root), "all", 64, False)
    with pytest.raises(DataError, match=r"phone.png' is 200x300 .* EXIF orientation 6 .*exif_t"):
        ds.load(ds.names.index("phone"))
    # A square photo's mask fits either way: check_files can only warn, naming both photos.
    with caplog.at_level(logging.WARNING, logger="pmgsam"):
        with pytest.raises(DataError, match="phone.png"):
            check_files([ds], workers=1)
    warned = [r.getMessage() for r in caplog.records if "EXIF orientation" in r.getMessage()]
    assert len(warned) == 1 and "phone.jpg (6)" in warned[0] and "square.jpg (8)" in warned[0]


def test_inference_names_photos_whose_maps_follow_the_stored_pixels(tmp_path, caplog):
    exif_photo(tmp_path / "in" / "turned.jpg", 40, 30, 6)
    exif_photo(tmp_path / "in" / "upright.jpg", 40, 30, 1)
    with caplog.at_level(logging.WARNING, logger="pmgsam"):
        ImageFolder(tmp_path / "in", 64)
    warned = [r.getMessage() for r in caplog.records if "EXIF" in r.getMessage()]
    assert len(warned) == 1 and "turned.jpg" in warned[0] and "upright" not in warned[0]


def test_scoring_refuses_turned_maps_even_with_resize_pred(tmp_path):
    gt = corner_mask(tmp_path / "gt" / "x.png", 30, 20)
    turned = corner_mask(tmp_path / "pred" / "x.png", 20, 30)
    other = corner_mask(tmp_path / "pred" / "y.png", 15, 10)
    assert check_sizes([("y", other, gt)], resize_pred=True) == [600]  # resized: allowed
    for resize in (False, True):
        with pytest.raises(EvaluationInputError, match=r"turned by 90° .*x.png 20x30 vs GT"):
            check_sizes([("x", turned, gt)], resize_pred=resize)

    ann = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100,
           "iscrowd": 0, "segmentation": [[0, 0, 10, 0, 10, 10, 0, 10]]}  # fmt: skip
    coco = coco_dict((20, 30), [ann], ["x.jpg"])
    other.unlink()
    with pytest.raises(EvaluationInputError, match=r"1 prediction\(s\) are their GT's size turned"):
        evaluate_cos_folder(tmp_path / "pred", coco, resize_pred=True, progress=False)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_only_the_transposing_orientations_explain_a_swapped_mask(tmp_path, orientation):
    # EXIF (TIFF 6.0) orientations 5-8 transpose the stored pixels for display (W and H
    # swap); 1-4 keep them (3 is a half turn, 2 and 4 are mirrors).
    photo = exif_photo(tmp_path / "p.jpg", 30, 20, orientation)
    hint = quarter_turn_hint(photo, (30, 20), (20, 30))
    assert (f"EXIF orientation {orientation}" in hint) == (orientation >= 5)


def test_equal_sizes_are_not_turned_even_when_square():
    assert turned_by_90((20, 30), (30, 20)) and not turned_by_90((20, 30), (20, 30))
    assert not turned_by_90((64, 64), (64, 64))
