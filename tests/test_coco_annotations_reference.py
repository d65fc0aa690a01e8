"""The GT a dataset builds from its COCO file or instance maps, held against pycocotools.

pycocotools reading the file itself (``COCO(path)``, ``annToMask``, ``annToRLE``) is the
reference for every mask, area and box: polygons with fractional vertices and two parts,
uncompressed and compressed RLE, a crowd region, on a non-square image, with image ids out of
split order. Instance maps have no reference reader, so their values are derived by hand on
shapes where a near miss (a box as x1, y1, x2, y2, an area counted from the box, label 0 taken
for an object, values out of order) gives another answer.
"""

from __future__ import annotations

import json
import warnings

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from pmgsam.data.coco_annotations import _warn_thin_instances
from pmgsam.data.instance_labels import InstanceSource, coco_ground_truth
from pmgsam.data.io import DataError, MaskValueWarning
from pmgsam.evaluation.instances import evaluate_cos_folder

H, W = 30, 40  # non-square: a swapped height and width shows


def _column_major_counts(mask: np.ndarray) -> list:
    """Uncompressed COCO RLE counts of ``mask``, derived here (runs down the columns, 0 first)."""
    flat = mask.T.reshape(-1).astype(int)
    counts, value, run = [], 0, 0
    for v in flat:
        if v == value:
            run += 1
        else:
            counts.append(run)
            value, run = v, 1
    return counts + [run]


def _write_images(tmp_path, names, sizes):
    folder = tmp_path / "img"
    folder.mkdir()
    paths = []
    for name, (h, w) in zip(names, sizes):
        paths.append(folder / f"{name}.jpg")
        cv2.imwrite(str(paths[-1]), np.full((h, w, 3), 90, np.uint8))
    return paths


@pytest.fixture()
def built_and_reference(tmp_path):
    """(the GT built from a COCO file, pycocotools' COCO of the file itself)."""
    crowd = np.zeros((H, W), np.uint8)
    crowd[15:26, 2:11] = 1  # rows 15-25, columns 2-10: box [2, 15, 9, 11] as x, y, w, h
    ell = np.zeros((H, W), np.uint8)
    ell[3:12, 30:33], ell[9:12, 33:38] = 1, 1  # an L: 27 + 15 pixels, its box holds 72
    compressed = mask_utils.encode(np.asfortranarray(ell))
    annotations = [
        {"id": 10, "image_id": 11, "category_id": 3, "iscrowd": 0,
         "segmentation": [[3.5, 2.25, 17.5, 2.25, 17.5, 12.75, 3.5, 12.75],
                          [25, 20, 35, 20, 30, 28]]},
        {"id": 11, "image_id": 11, "category_id": 3, "iscrowd": 1,
         "segmentation": {"size": [H, W], "counts": _column_major_counts(crowd)}},
        {"id": 12, "image_id": 11, "category_id": 3, "iscrowd": 0,
         "segmentation": {"size": [H, W], "counts": compressed["counts"].decode("ascii")}},
        {"id": 13, "image_id": 4, "category_id": 3,
         "segmentation": [[2.4, 1.6, 15.2, 4.8, 6.7, 17.3]]},
    ]  # fmt: skip
    coco = {
        "images": [
            {"id": 11, "file_name": "a.jpg", "height": H, "width": W},
            {"id": 4, "file_name": "b.jpg", "height": 20, "width": 20},
        ],
        "annotations": annotations,
        "categories": [{"id": 3, "name": "animal"}],
    }
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(coco))
    images = _write_images(tmp_path, ["a", "b"], [(H, W), (20, 20)])
    built = coco_ground_truth(images, ["a", "b"], InstanceSource("json", path), "t")
    return built, COCO(str(path))


def test_every_instance_is_the_mask_pycocotools_reads_from_the_file(built_and_reference):
    built, reference = built_and_reference
    ours = COCO()
    ours.dataset = built
    ours.createIndex()
    ref_anns = reference.loadAnns(reference.getAnnIds())
    assert len(built["annotations"]) == len(ref_anns) == 4
    for mine, ref in zip(built["annotations"], ref_anns):
        ref_mask = reference.annToMask(ref)
        assert ref_mask.any()
        np.testing.assert_array_equal(ours.annToMask(mine), ref_mask)
        ref_rle = reference.annToRLE(ref)
        assert mine["area"] == float(mask_utils.area(ref_rle)) == ref_mask.sum()
        assert mine["bbox"] == pytest.approx(mask_utils.toBbox(ref_rle).tolist())
        assert mine["iscrowd"] == ref.get("iscrowd", 0)
        assert mine["image_id"] == ref["image_id"]


def test_boxes_are_x_y_width_height_and_areas_count_pixels(built_and_reference):
    built, _ = built_and_reference
    crowd, ell = built["annotations"][1], built["annotations"][2]
    # By hand (see the fixture): as x1, y1, x2, y2 the crowd box would read [2, 15, 10, 25]
    # or [2, 15, 11, 26]; counted from its box the L would have area 72.
    assert crowd["bbox"] == [2.0, 15.0, 9.0, 11.0] and crowd["area"] == 99.0
    assert ell["bbox"] == [30.0, 3.0, 8.0, 9.0] and ell["area"] == 42.0


def test_the_files_image_ids_and_one_class_agnostic_category_are_kept(built_and_reference):
    built, _ = built_and_reference
    assert [(im["file_name"], im["id"], im["height"], im["width"]) for im in built["images"]] == [
        ("a.jpg", 11, H, W),
        ("b.jpg", 4, 20, 20),
    ]
    assert [a["image_id"] for a in built["annotations"]] == [11, 11, 11, 4]
    assert built["categories"] == [{"id": 1, "name": "object", "supercategory": "object"}]
    assert {a["category_id"] for a in built["annotations"]} == {1}
    ids = [a["id"] for a in built["annotations"]]
    # COCOeval marks an unmatched detection with GT id 0: an annotation id 0 would never match.
    assert len(set(ids)) == len(ids) and min(ids) >= 1


def test_instance_map_values_become_instances_in_value_order(tmp_path):
    # Values 0 (background), 7 and 2 in a non-square map: two instances, 2 before 7.
    label = np.zeros((H, W), np.uint8)
    label[4:10, 5:25] = 7  # 6 x 20 bar: box [5, 4, 20, 6]
    label[12:28, 30:33], label[25:28, 33:39] = 2, 2  # an L: 48 + 18 pixels, box holds 144
    (tmp_path / "maps").mkdir()
    cv2.imwrite(str(tmp_path / "maps" / "a.png"), label)
    images = _write_images(tmp_path, ["a"], [(H, W)])
    built = coco_ground_truth(images, ["a"], InstanceSource("png", tmp_path / "maps"), "t")
    anns = built["annotations"]
    assert [(a["bbox"], a["area"]) for a in anns] == [
        ([30.0, 12.0, 9.0, 16.0], 66.0),
        ([5.0, 4.0, 20.0, 6.0], 120.0),
    ]
    assert [(a["id"], a["image_id"], a["iscrowd"], a["category_id"]) for a in anns] == [
        (1, 1, 0, 1),
        (2, 1, 0, 1),
    ]
    decoded = [mask_utils.decode(a["segmentation"]) for a in anns]
    np.testing.assert_array_equal(decoded[0], label == 2)
    np.testing.assert_array_equal(decoded[1], label == 7)


def test_a_two_pixel_object_along_the_image_border_is_thin(tmp_path):
    # Outside the image is background: a bar in the top two rows is no thicker than one
    # inside. Read with the erosion's default border (outside = foreground) it would keep
    # its top row and pass for a real object.
    bar = np.zeros((20, 20), bool)
    bar[0:2, :] = True
    with pytest.warns(MaskValueWarning, match="1 of its 1 instances are at most 2 pixels"):
        _warn_thin_instances(tmp_path / "x.png", [bar])
    bar[2, :] = True  # three rows: the middle one survives the erosion
    with warnings.catch_warnings():
        warnings.simplefilter("error", MaskValueWarning)
        _warn_thin_instances(tmp_path / "x.png", [bar])


def test_images_are_matched_by_their_whole_stem(tmp_path):
    # Stems with dots, file names with a folder: "Image/cam.v2.jpg" is image "cam.v2", and
    # "cam.v3" is another image (cut at the first dot, both would be "cam").
    square = [[2, 2, 8, 2, 8, 8, 2, 8]]
    coco = {
        "images": [
            {"id": 5, "file_name": "Image/cam.v2.jpg", "height": 20, "width": 20},
            {"id": 6, "file_name": "cam.v3.jpg", "height": 20, "width": 20},
        ],
        "annotations": [
            {"id": 1, "image_id": 5, "category_id": 1, "segmentation": square},
            {"id": 2, "image_id": 6, "category_id": 1, "segmentation": square},
            {"id": 3, "image_id": 6, "category_id": 1, "segmentation": square},
        ],
    }
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(coco))
    names = ["cam.v2", "cam.v3"]
    images = _write_images(tmp_path, names, [(20, 20), (20, 20)])
    built = coco_ground_truth(images, names, InstanceSource("json", path), "t")
    assert [im["id"] for im in built["images"]] == [5, 6]
    assert [a["image_id"] for a in built["annotations"]] == [5, 6, 6]


def test_the_files_own_area_ranks_instances_on_both_scoring_paths(tmp_path):
    # pycocotools ranks a GT instance small / medium / large by the file's 'area' (a polygon
    # tool's, not the pixel count). This 10x15 rectangle is stored with area 40 * 40 = 1600,
    # "medium" (32^2 <= area < 96^2): counted from the mask (150, "small") the built GT would
    # put the perfect prediction's AP in the small stat and -1 in the medium one.
    coco = {
        "images": [{"id": 1, "file_name": "c.jpg", "height": H, "width": W}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
                         "area": 1600, "segmentation": [[5, 5, 20, 5, 20, 15, 5, 15]]}],
        "categories": [{"id": 1}],
    }  # fmt: skip
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(coco))
    images = _write_images(tmp_path, ["c"], [(H, W)])
    built = coco_ground_truth(images, ["c"], InstanceSource("json", path), "t")
    assert built["annotations"][0]["area"] == 1600.0
    pred = tmp_path / "pred"
    pred.mkdir()
    cv2.imwrite(str(pred / "c.png"), (_reference_mask(coco, path) * 255).astype(np.uint8))
    on_file = evaluate_cos_folder(pred, str(path), progress=False)["stats"]
    on_built = evaluate_cos_folder(pred, built, progress=False)["stats"]
    assert on_built == pytest.approx(on_file, abs=1e-12)
    assert on_file[3:6] == pytest.approx([-1.0, 1.0, -1.0], abs=1e-12)  # small, medium, large


@pytest.mark.parametrize("area", [-1, "1600", None, True, 1e11])
def test_an_area_pycocotools_would_ignore_the_instance_for_is_refused(tmp_path, area):
    coco = {
        "images": [{"id": 1, "file_name": "c.jpg", "height": H, "width": W}],
        "annotations": [{"id": 9, "image_id": 1, "category_id": 1, "area": area,
                         "segmentation": [[5, 5, 20, 5, 20, 15, 5, 15]]}],
    }  # fmt: skip
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(coco))
    images = _write_images(tmp_path, ["c"], [(H, W)])
    with pytest.raises(DataError, match=rf"'.*gt\.json' annotation 9 of c\.jpg: area {area!r} "):
        coco_ground_truth(images, ["c"], InstanceSource("json", path), "t")


def _reference_mask(coco: dict, path) -> np.ndarray:
    """pycocotools' mask of the file's first annotation."""
    reference = COCO(str(path))
    return reference.annToMask(reference.loadAnns(coco["annotations"][0]["id"])[0])


def test_a_given_area_of_zero_is_kept_not_counted_from_the_mask(tmp_path):
    # 0 is in COCOeval's 'all' range and is what pycocotools reads from the file: the built GT
    # keeps it (a test of "no area given" by truthiness would put the 150-pixel count there).
    coco = {
        "images": [{"id": 1, "file_name": "c.jpg", "height": H, "width": W}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "area": 0,
                         "segmentation": [[5, 5, 20, 5, 20, 15, 5, 15]]}],
    }  # fmt: skip
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(coco))
    images = _write_images(tmp_path, ["c"], [(H, W)])
    built = coco_ground_truth(images, ["c"], InstanceSource("json", path), "t")
    assert built["annotations"][0]["area"] == 0.0
