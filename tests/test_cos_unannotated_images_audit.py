"""NoInstanceImageWarning audit: which listed images are said to have no annotation. An image
annotated with a crowd region alone (a shoal of fish drawn as one region) was annotated:
COCOeval ignores the instances predicted on a crowd region, so telling the user they all
count as false positives, and to drop the image from the file, would be wrong on both counts."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from mask_cases import box_masks, coco_annotation, coco_dict

from pmgsam.evaluation.instances import NoInstanceImageWarning, evaluate_cos_folder


def _scored(tmp_path: Path, anns: list, protocol: str = "all") -> tuple:
    """(AP, NoInstanceImageWarning messages) of perfect 20x24 box maps on images b.jpg (id 1),
    a.jpg (id 2) and c.jpg (id 3), against ``anns``."""
    pred = box_masks(
        tmp_path / "pred", ["a.png", "b.png", "c.png"], shape=(20, 24), box=(4, 12, 5, 15)
    )
    gt = tmp_path / "gt.json"
    gt.write_text(
        json.dumps(coco_dict((20, 24), anns, images={"b.jpg": 1, "a.jpg": 2, "c.jpg": 3}))
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scores = evaluate_cos_folder(pred, gt, progress=False, protocol=protocol)
    return scores["AP"], [str(w.message) for w in caught if w.category is NoInstanceImageWarning]


def _box() -> np.ndarray:
    mask = np.zeros((20, 24), bool)
    mask[4:12, 5:15] = True
    return mask


@pytest.mark.parametrize("protocol", ["all", "matched"])
def test_an_image_annotated_with_a_crowd_region_alone_is_not_named(tmp_path, protocol) -> None:
    anns = [
        coco_annotation(1, 2, _box()),
        coco_annotation(2, 1, _box(), iscrowd=1),
        coco_annotation(3, 3, _box()),
    ]
    ap, named = _scored(tmp_path, anns, protocol)
    # b's box lies on its crowd region, which COCOeval ignores: a and c found, AP 1 (a false
    # positive ranked first, as for an unannotated image, would give 1/2 at the first recall
    # level and 2/3 at the second).
    assert abs(ap - 1.0) < 1e-6
    assert named == []


def test_only_the_image_without_any_annotation_is_named(tmp_path) -> None:
    anns = [coco_annotation(1, 2, _box()), coco_annotation(2, 1, _box(), iscrowd=1)]
    ap, named = _scored(tmp_path, anns)  # c.jpg (id 3) has no annotation
    assert len(named) == 1 and "1 of the 3 image(s)" in named[0], named
    assert "c.jpg" in named[0] and "b.jpg" not in named[0] and "a.jpg" not in named[0]
    assert "have no annotation" in named[0]
    # c's box is a false positive: a found (score ties broken by image id: a (2) before
    # c (3)), so precision 1 at recall 1: AP 1. The warning, not the AP, tells of c.
    assert abs(ap - 1.0) < 1e-6


def test_the_count_is_of_the_images_listed_not_of_the_instances_kept(tmp_path) -> None:
    # Under the matched protocol only a's box is kept (b's lies on a crowd region, c has no
    # GT to match): still 1 of the 3 listed images is named.
    anns = [coco_annotation(1, 2, _box()), coco_annotation(2, 1, _box(), iscrowd=1)]
    _, named = _scored(tmp_path, anns, protocol="matched")
    assert len(named) == 1 and named[0].startswith("1 of the 3 image(s) listed in "), named
