"""The generated COD10K ``CAM_Instance_<Split>.json`` decodes, with pycocotools' own reader, to
exactly the GT_Instance masks (pixel for pixel) and its ``area`` is pycocotools' area."""

from __future__ import annotations

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from pmgsam.data import generate


def test_cod10k_json_decodes_to_the_instance_pngs(tmp_path):
    root = generate("cod10k", tmp_path, num=4, seed=7, size=(96, 72))
    n_instances = 0
    for split in ("Train", "Test"):
        coco = COCO(str(root / split / f"CAM_Instance_{split}.json"))
        for img in coco.dataset["images"]:
            stem = img["file_name"][:-4]
            label = np.array(Image.open(root / split / "GT_Instance" / f"{stem}.png"))
            assert label.shape == (img["height"], img["width"])
            anns = coco.loadAnns(coco.getAnnIds(imgIds=[img["id"]]))
            assert len(anns) == label.max() >= 1
            # Instances are disjoint: each is known by its first pixel (in row-major order).
            decoded = {np.argmax(m): m for m in (coco.annToMask(a).astype(bool) for a in anns)}
            expected = {np.argmax(m): m for m in (label == v for v in range(1, label.max() + 1))}
            assert sorted(decoded) == sorted(expected)
            for first, mask in expected.items():
                np.testing.assert_array_equal(decoded[first], mask)
            for ann in anns:
                rle = coco.annToRLE(ann)
                assert ann["area"] == mask_utils.area(rle) == mask_utils.decode(rle).sum()
                assert ann["bbox"] == list(mask_utils.toBbox(rle)) and ann["iscrowd"] == 0
            n_instances += len(anns)
    assert n_instances > 6  # several images, some with more than one instance
