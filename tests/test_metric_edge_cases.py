"""Edge cases found by the metrics mutation audit: a two-pixel GT in the S-measure, the
largest-first order of COS instances, COCO GT fields at their limits, and the colour limit of
a prediction folder."""

from __future__ import annotations

import numpy as np
import pytest
from mask_cases import pysod_scores
from PIL import Image

from pmgsam.evaluation.coco_gt import checked_coco_dict
from pmgsam.evaluation.dis_metrics import s_measure_and_mae
from pmgsam.evaluation.instances import split_instances
from pmgsam.evaluation.map_checks import refuse_colour_images
from pmgsam.evaluation.scoring import EvaluationInputError


def test_s_measure_of_a_two_pixel_gt_equals_pysodmetrics():
    # The object score's standard deviation (ddof=1) over exactly two foreground pixels.
    gt = np.zeros((12, 14), np.uint8)
    gt[5, 6:8] = 255
    pred = np.zeros_like(gt)
    pred[5, 6], pred[5, 7], pred[0, 0] = 250, 90, 40
    sm, mae = s_measure_and_mae(pred, gt)
    ref = pysod_scores([(pred, gt)])
    assert abs(sm - ref["Smeasure"]) <= 1e-12 and abs(mae - ref["MAE"]) <= 1e-12


def test_instances_come_largest_first_whatever_their_place_in_the_map():
    prob = np.zeros((30, 40), np.uint8)
    prob[1:3, 1:3] = 200  # small, first in raster order
    prob[10:20, 10:30] = 200
    prob[25:29, 2:7] = 200
    assert [int(i.mask.sum()) for i in split_instances(prob)] == [200, 20, 4]


@pytest.mark.parametrize("categories", ["missing", None, {"id": 1}])
def test_gt_without_a_categories_list_is_refused(categories):
    data = {
        "images": [{"id": 1, "file_name": "a.png", "height": 4, "width": 4}],
        "annotations": [],
        "categories": categories,
    }
    if categories == "missing":
        del data["categories"]
    with pytest.raises(EvaluationInputError, match="gt.json: no 'categories' list"):
        checked_coco_dict(data, "gt.json")


def test_annotation_id_0_given_twice_is_refused():
    # pycocotools keeps one annotation per id, so the second id-0 instance would vanish.
    ann = {"image_id": 1, "category_id": 1, "segmentation": {"size": [4, 4], "counts": [16]}}
    data = {
        "images": [{"id": 1, "file_name": "a.png", "height": 4, "width": 4}],
        "annotations": [dict(ann, id=0), dict(ann, id=0)],
        "categories": [],
    }
    with pytest.raises(EvaluationInputError, match="repeats annotation id 0 of annotations"):
        checked_coco_dict(data, "gt.json")


def test_image_ids_and_sizes_given_as_whole_floats_are_indexed_as_integers():
    data = {
        "images": [{"id": 1.0, "file_name": "a.png", "height": 4.0, "width": 5.0}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[0, 0, 3, 0, 3, 2]]}
        ],
        "categories": [],
    }
    (image,) = checked_coco_dict(data, "gt.json")["images"]
    assert [(k, type(image[k])) for k in ("id", "height", "width")] == [
        ("id", int),
        ("height", int),
        ("width", int),
    ]
    assert (image["height"], image["width"]) == (4, 5)


def test_image_size_limit_is_inclusive():
    # 65537 * 65535 = 2**32 - 1 pixels: the most pycocotools' 32-bit counts hold; one more fails.
    def data(h: int, w: int) -> dict:
        return {
            "images": [{"id": 1, "file_name": "a.png", "height": h, "width": w}],
            "categories": [],
        }

    checked_coco_dict(data(65537, 65535), "gt.json")
    with pytest.raises(EvaluationInputError, match="height 65536 and width 65536"):
        checked_coco_dict(data(65536, 65536), "gt.json")


@pytest.mark.parametrize("spread, refused", [(6, False), (11, True)])
def test_a_faintly_coloured_map_folder_is_refused_above_the_spread_limit(tmp_path, spread, refused):
    # COLOUR_SPREAD is 8 levels: JPEG chroma noise on a grey map stays below, a photo is above.
    rgb = np.full((16, 16, 3), 100, np.uint8)
    rgb[..., 0] += spread
    Image.fromarray(rgb).save(tmp_path / "a.png")
    if refused:
        with pytest.raises(EvaluationInputError, match=f"of a.png differ \\(by {spread} of 255"):
            refuse_colour_images([tmp_path / "a.png"], tmp_path)
    else:
        refuse_colour_images([tmp_path / "a.png"], tmp_path)


def test_colour_check_looks_past_a_grey_first_map_and_leaves_broken_files_to_scoring(tmp_path):
    grey = np.full((16, 16), 100, np.uint8)
    Image.fromarray(grey).save(tmp_path / "a.png")
    Image.fromarray(np.stack([grey, grey // 2, grey // 4], axis=-1)).save(tmp_path / "b.png")
    with pytest.raises(EvaluationInputError, match="of b.png differ"):
        refuse_colour_images([tmp_path / "a.png", tmp_path / "b.png"], tmp_path)
    cut = tmp_path / "c.png"
    cut.write_bytes((tmp_path / "b.png").read_bytes()[:60])  # a truncated file: scoring names it
    refuse_colour_images([cut], tmp_path)
