"""The two COS scoring paths give one AP: benchmark mode (the GT a dataset builds from a COCO
file) and ``evaluate.py --task cos --gt-json`` (the file itself).

Binary maps make every instance score 1.0, and COCOeval orders equal scores by image id, so a
GT that renumbered the file's images in split order could rank a miss before a hit. A crowd
region the dataset dropped the flag of would turn an ignored detection into a false positive.
"""

from __future__ import annotations

import json
import warnings

import cv2
import numpy as np
import pytest
from mask_cases import coco_dict
from pycocotools import mask as mask_utils

from pmgsam.data.instance_labels import InstanceSource, coco_ground_truth
from pmgsam.evaluation.instances import evaluate_cos_folder

H, W = 20, 20


def _rle(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return dict(rle, counts=rle["counts"].decode("ascii"))


def _square(y: int, x: int, side: int = 6) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[y : y + side, x : x + side] = True
    return m


def _setup(tmp_path, crowd: bool):
    """Images a, b in split order with file ids 7, 3; maps: a hit nothing, b hit its object."""
    names = ["a", "b"]
    (tmp_path / "img").mkdir()
    (tmp_path / "pred").mkdir()
    paths = []
    for n in names:
        paths.append(tmp_path / "img" / f"{n}.jpg")
        cv2.imwrite(str(paths[-1]), np.full((H, W, 3), 90, np.uint8))
    obj_a, obj_b, elsewhere = _square(1, 1), _square(1, 1), _square(12, 12)
    annotations = [
        {"id": 1, "image_id": 7, "segmentation": _rle(obj_a), "iscrowd": 0, "category_id": 1},
        {"id": 2, "image_id": 3, "segmentation": _rle(obj_b), "iscrowd": 0, "category_id": 1},
    ]
    if crowd:  # a crowd region where image a's map fires: that detection is ignored
        annotations.append(
            {
                "id": 3,
                "image_id": 7,
                "segmentation": _rle(elsewhere),
                "iscrowd": 1,
                "category_id": 1,
            }
        )
    coco = coco_dict((H, W), annotations, {"a.jpg": 7, "b.jpg": 3})
    gt_json = tmp_path / "gt.json"
    gt_json.write_text(json.dumps(coco))
    cv2.imwrite(str(tmp_path / "pred" / "a.png"), elsewhere.astype(np.uint8) * 255)
    cv2.imwrite(str(tmp_path / "pred" / "b.png"), obj_b.astype(np.uint8) * 255)
    built = coco_ground_truth(paths, names, InstanceSource("json", gt_json), "t")
    return gt_json, built


def _ap(pred, gt) -> float:
    return evaluate_cos_folder(pred, gt, progress=False)["AP"]


def test_binary_maps_score_alike_on_both_paths(tmp_path) -> None:
    gt_json, built = _setup(tmp_path, crowd=False)
    # By hand: two GT objects, detections (all score 1.0) in image-id order b (3), then a (7):
    # a hit then a miss. Precision is 1 up to recall 0.5 and no detection reaches recall 1, so
    # COCO's 101-point AP is 51/101 at every IoU threshold. In split order (a first) the miss
    # would come first: precision 0.5 up to recall 0.5, AP 0.5 * 51/101.
    expected = 51 / 101
    assert _ap(tmp_path / "pred", str(gt_json)) == pytest.approx(expected)
    assert _ap(tmp_path / "pred", built) == pytest.approx(expected)


def test_crowd_regions_stay_crowd_in_the_built_gt(tmp_path) -> None:
    gt_json, built = _setup(tmp_path, crowd=True)
    # In split order: image a's object and crowd region, then b's object.
    assert [a["iscrowd"] for a in built["annotations"]] == [0, 1, 0]
    # Image a's detection lies on the crowd region: ignored, so the only scored detection is
    # b's hit, precision 1 up to recall 0.5: 51/101 whatever the order.
    assert _ap(tmp_path / "pred", str(gt_json)) == pytest.approx(51 / 101)
    assert _ap(tmp_path / "pred", built) == pytest.approx(51 / 101)


def test_images_the_file_omits_take_ids_above_its_own(tmp_path) -> None:
    gt_json, _ = _setup(tmp_path, crowd=False)
    extra = tmp_path / "img" / "c.jpg"
    cv2.imwrite(str(extra), np.full((H, W, 3), 90, np.uint8))
    paths = [tmp_path / "img" / f"{n}.jpg" for n in ("c", "a", "b")]
    with pytest.warns(UserWarning, match="does not list 1 image"):
        built = coco_ground_truth(paths, ["c", "a", "b"], InstanceSource("json", gt_json), "t")
    assert [im["id"] for im in built["images"]] == [8, 7, 3]


def test_images_the_file_omits_are_named_unless_cod10k_noncam(tmp_path) -> None:
    # An image the file does not list gets no GT instance, so its detections all become false
    # positives: a file of another release scored without a word. COD10K's NonCAM images are
    # never listed (they hold no camouflaged object), so naming them would be noise.
    from pmgsam.data.coco_annotations import UnlistedImageWarning

    gt_json, _ = _setup(tmp_path, crowd=False)
    names = ["a", "b", "COD10K-CAM-1-Aquatic-1-Fish-9", "COD10K-NonCAM-1-Aquatic-1-Fish-8"]
    for n in names[2:]:
        cv2.imwrite(str(tmp_path / "img" / f"{n}.jpg"), np.full((H, W, 3), 90, np.uint8))
    paths = [tmp_path / "img" / f"{n}.jpg" for n in names]
    with pytest.warns(UnlistedImageWarning) as caught:
        built = coco_ground_truth(paths, names, InstanceSource("json", gt_json), "cod10k Test")
    assert [str(w.message) for w in caught] == [
        f"COCO instance file '{gt_json}' does not list 1 image(s) of cod10k Test: "
        "COD10K-CAM-1-Aquatic-1-Fish-9.jpg; they get no GT instance (scored, every instance "
        "predicted there counts as a false positive)"
    ]
    assert len(built["images"]) == 4 and len(built["annotations"]) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every image listed, or NonCAM: no warning
        coco_ground_truth(paths[:2] + paths[3:], names[:2] + names[3:],
                          InstanceSource("json", gt_json), "t")  # fmt: skip


def test_a_bilinearly_resized_instance_map_is_named(tmp_path) -> None:
    # Three coloured objects; a bilinear resize leaves mixed colours along their edges, each
    # a new "instance" one or two pixels thick. A nearest-neighbour resize keeps three.
    from pmgsam.data.io import MaskValueWarning

    label = np.zeros((40, 40, 3), np.uint8)
    label[4:16, 4:16] = (0, 0, 255)
    label[4:16, 22:36] = (0, 255, 0)
    label[22:36, 8:30] = (255, 0, 0)
    image = tmp_path / "img" / "x.jpg"
    image.parent.mkdir()
    cv2.imwrite(str(image), np.full((60, 60, 3), 90, np.uint8))
    for kind, interpolation in (("nearest", cv2.INTER_NEAREST), ("bilinear", cv2.INTER_LINEAR)):
        (tmp_path / kind).mkdir()
        resized = cv2.resize(label, (60, 60), interpolation=interpolation)
        cv2.imwrite(str(tmp_path / kind / "x.png"), resized)
    with warnings.catch_warnings():
        warnings.simplefilter("error", MaskValueWarning)
        kept = coco_ground_truth([image], ["x"], InstanceSource("png", tmp_path / "nearest"), "t")
    assert len(kept["annotations"]) == 3
    with pytest.warns(MaskValueWarning, match=r"'.*bilinear/x\.png': \d+ of its \d+ instances"):
        coco_ground_truth([image], ["x"], InstanceSource("png", tmp_path / "bilinear"), "t")
