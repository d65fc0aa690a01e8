"""Annotations read from a dataset's COCO file (:mod:`pmgsam.data.coco_annotations`): cases a
plausible slip lets through.

Each test is built so that a near-miss implementation gives another answer: an image id the file
repeats, an id written as 3.0 or as true, a file that gives another image size, a 3-pixel-thick
object taken for a resize artefact.
"""

from __future__ import annotations

import json
import warnings

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO

from pmgsam.data.coco_annotations import (
    _warn_thin_instances,
    annotations_from_json,
    annotations_from_pngs,
)
from pmgsam.data.io import DataError, DataNotFoundError, MaskValueWarning
from pmgsam.evaluation.coco_gt import load_coco
from pmgsam.evaluation.scoring import EvaluationInputError

# --- annotations_from_json -----------------------------------------------------------------


def _images(*names, h=20, w=20):
    return [
        {"id": i + 1, "file_name": f"{n}.jpg", "height": h, "width": w} for i, n in enumerate(names)
    ]


def _polygon_ann(ann_id, image_id, x0=2, y0=2, side=6, **extra):
    x1, y1 = x0 + side, y0 + side
    seg = [[x0, y0, x1, y0, x1, y1, x0, y1]]
    return {"id": ann_id, "image_id": image_id, "category_id": 1, "segmentation": seg, **extra}


def _write(tmp_path, images, annotations):
    path = tmp_path / "gt.json"
    coco = {"images": images, "annotations": annotations, "categories": [{"id": 1}]}
    path.write_text(json.dumps(coco))
    return path


def test_an_image_id_the_file_repeats_is_refused(tmp_path) -> None:
    # Both images would take id 5, so image a's one object would be GT of image b too: two GT
    # instances where the file has one (pycocotools, reading the file itself, keeps one image).
    path = _write(
        tmp_path,
        [
            {"id": 5, "file_name": "a.jpg", "height": 20, "width": 20},
            {"id": 5, "file_name": "b.jpg", "height": 20, "width": 20},
        ],
        [_polygon_ann(1, 5)],
    )
    assert len(COCO(str(path)).getImgIds()) == 1
    with pytest.raises(DataError, match="repeats image id 5"):
        annotations_from_json(path, ["a", "b"], _images("a", "b"), "t")


def test_integral_float_ids_are_read_as_pycocotools_reads_them(tmp_path) -> None:
    # JSON written by some tools holds 3.0: pycocotools indexes it as 3.0 == 3, so the file
    # is valid; its id stays 3 (an int, as COCO results name it).
    images = [{"id": 3.0, "file_name": "a.jpg", "height": 20, "width": 20}]
    path = _write(tmp_path, images, [_polygon_ann(1, 3.0)])
    coco = COCO(str(path))
    assert coco.getAnnIds(imgIds=[3]) == [1]
    out_images, anns = annotations_from_json(path, ["a"], _images("a"), "t")
    assert [im["id"] for im in out_images] == [3]
    assert type(out_images[0]["id"]) is int
    assert [a["image_id"] for a in anns] == [3]


@pytest.mark.parametrize("image_id", [True, 3.5], ids=["boolean", "fraction"])
def test_a_boolean_or_fractional_image_id_is_refused(tmp_path, image_id) -> None:
    # json reads `true` as True, which Python also takes for the int 1; 3.5 is no id that
    # results can name (as an int it would become image 3, which scoring the file never sees).
    images = [{"id": image_id, "file_name": "a.jpg", "height": 20, "width": 20}]
    path = _write(tmp_path, images, [_polygon_ann(1, image_id)])
    with pytest.raises(DataError, match=f"image 'a' has id {image_id}$"):
        annotations_from_json(path, ["a"], _images("a"), "t")


def test_a_file_giving_another_image_size_is_refused(tmp_path) -> None:
    # Annotations drawn on a 40x40 version of the image would be rasterised into the 20x20
    # one: objects cut off or misplaced. The file says so; it must not be overlooked.
    images = [{"id": 1, "file_name": "a.jpg", "height": 40, "width": 40}]
    path = _write(tmp_path, images, [_polygon_ann(1, 1, x0=24, y0=24)])
    with pytest.raises(DataError, match=r"size \(40, 40\) \(HxW\) but the image is \(20, 20\)"):
        annotations_from_json(path, ["a"], _images("a"), "t")


@pytest.mark.parametrize(
    "content, words",
    [
        ('{"images": [\n  {"id": 1,}]}',
         r"^COCO instance file '.*gt.json' is not valid JSON: Expecting property name enclosed "
         r"in double quotes: line 2 column 12 \(char 24\)$"),
        ("[]", r"^COCO instance file '.*gt.json' holds a JSON list, not a COCO object$"),
        ({"annotations": []}, r"^COCO instance file '.*gt.json' has no 'images' list$"),
        ({"images": {"a": 1}}, r"^COCO instance file '.*gt.json' has no 'images' list$"),
        ({"images": _images("a"), "annotations": {}},
         r"^COCO instance file '.*gt.json': 'annotations' is a JSON object, not a list$"),
        ({"images": [*_images("a"), {"id": 2}]},
         r"^COCO instance file '.*gt.json': images\[1\] has no 'file_name' naming a file$"),
        ({"images": [*_images("a"), {"id": 2, "file_name": ""}]},
         r"^COCO instance file '.*gt.json': images\[1\] has no 'file_name' naming a file$"),
        ({"images": [{"file_name": "a.jpg", "id": [1]}]},
         r"^COCO instance file '.*gt.json': images\[0\] \('a.jpg'\) has no 'id' \(a number\)$"),
        ({"images": _images("a"), "annotations": [{"id": 4, "segmentation": []}]},
         r"^COCO instance file '.*gt.json': annotations\[0\] has no 'image_id' \(a number\)$"),
        ({"images": [{"id": 1, "file_name": "z.jpg"}]},
         r"^COCO instance file .*gt.json. lists none of the 1 images of split T \(wrong file\?\)$"),
        ({"images": _images("a"), "annotations": [{"id": 4, "image_id": 1}]},
         r"^'.*gt.json' annotation 4 of a.jpg has no 'segmentation'$"),
    ],
    ids=["not-json", "a-list", "no-images", "images-not-list", "annotations-not-list",
         "no-file-name", "empty-file-name", "list-id", "no-image-id", "other-images",
         "no-segmentation"],
)  # fmt: skip
def test_an_unusable_coco_file_is_named(tmp_path, content, words) -> None:
    path = tmp_path / "gt.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(DataError, match=words):
        annotations_from_json(path, ["a"], _images("a"), "split T")


def test_a_coco_file_that_cannot_be_read_is_named_with_the_reason(tmp_path) -> None:
    path = tmp_path / "gt.json"
    path.write_bytes(b'{"images": ["\xff"]}')  # not UTF-8
    with pytest.raises(DataError, match=r"^cannot read COCO instance file '.*gt.json': 'utf-8'"):
        annotations_from_json(path, ["a"], _images("a"), "split T")


@pytest.mark.parametrize("content, words", [(None, "does not exist"), (" \n", "is empty")])
def test_instance_and_gt_files_share_one_reader(tmp_path, content, words) -> None:
    # One reader for both layers: a missing or blank file is said in the same words whether
    # it is a dataset's instance file or the GT file being scored.
    path = tmp_path / "gt.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataError, match=f"^COCO instance file '.*gt.json' {words}$"):
        annotations_from_json(path, ["a"], _images("a"), "split T")
    with pytest.raises(EvaluationInputError, match=f"^COCO GT file '.*gt.json' {words}$"):
        load_coco(path)


# --- annotations_from_pngs -----------------------------------------------------------------


def test_a_missing_or_mis_sized_instance_map_is_named(tmp_path) -> None:
    label = np.zeros((20, 20), np.uint8)
    label[2:8, 2:8], label[10:16, 10:16] = 1, 2
    cv2.imwrite(str(tmp_path / "a.png"), label)
    anns = annotations_from_pngs(tmp_path, ["a"], _images("a"))
    assert [(a["image_id"], a["area"]) for a in anns] == [(1, 36), (1, 36)]  # two 6x6 squares
    with pytest.raises(
        DataNotFoundError, match=rf"^no instance map for image 'b.jpg' in '{tmp_path}'$"
    ):
        annotations_from_pngs(tmp_path, ["a", "b"], _images("a", "b"))
    with pytest.raises(
        DataError, match=r"'.*a.png' is 20x20 \(WxH\) but its image 'a.jpg' is 20x30$"
    ):
        annotations_from_pngs(tmp_path, ["a"], _images("a", h=30))


# --- _warn_thin_instances ------------------------------------------------------------------


def _bar(thickness: int) -> np.ndarray:
    m = np.zeros((20, 20), bool)
    m[5 : 5 + thickness, 2:18] = True
    return m


def test_a_three_pixel_thick_object_is_not_taken_for_a_resize_artefact(tmp_path) -> None:
    # By hand: a 3x3 erosion keeps a pixel whose 8 neighbours are all inside; a bar 3 rows
    # thick keeps its middle row, one 2 rows thick keeps nothing ("at most 2 pixels thick").
    with warnings.catch_warnings():
        warnings.simplefilter("error", MaskValueWarning)
        _warn_thin_instances(tmp_path / "x.png", [_bar(3), _bar(5)])
    with pytest.warns(MaskValueWarning, match="1 of its 2 instances are at most 2 pixels"):
        _warn_thin_instances(tmp_path / "x.png", [_bar(2), _bar(3)])
