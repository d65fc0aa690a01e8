"""What the generated datasets hold (pmgsam.data.synthetic): the folders DESIGN.md §3 names, GT
masks of the objects drawn in the images, edges of the GT, instance maps and COCO categories
that agree with the GT and the file names, image sizes around ``size``, and no image repeated
across splits."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import List

import cv2
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from pmgsam.data import DataError, generate
from pmgsam.data.synthetic import load_manifest
from pmgsam.data.synthetic_drawing import image_hw

SIZE = (64, 48)


def _folders(root: Path) -> List[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_dir())


def _pixel_digests(paths: List[Path]) -> List[str]:
    return [hashlib.sha256(cv2.imread(str(p)).tobytes()).hexdigest() for p in paths]


def _balanced_accuracy(image: np.ndarray, fg: np.ndarray) -> float:
    """How well the GT splits the image's colours: each pixel goes to the nearer of the mean
    colours inside and outside the GT; mean of the two classes' recalls (0.5: no relation)."""
    inside, outside = image[fg].mean(0), image[~fg].mean(0)
    nearer_inside = ((image - inside) ** 2).sum(-1) < ((image - outside) ** 2).sum(-1)
    return float((nearer_inside[fg].mean() + (~nearer_inside[~fg]).mean()) / 2)


def test_dis5k_layout_and_gt_of_the_drawn_objects(tmp_path: Path) -> None:
    root = generate("dis5k", tmp_path, num=4, seed=3, size=SIZE)
    splits = ["DIS-TE1", "DIS-TE2", "DIS-TE3", "DIS-TE4", "DIS-TR", "DIS-VD"]
    assert _folders(root) == sorted(splits + [f"{s}/{k}" for s in splits for k in ("gt", "im")])
    images = sorted(root.glob("*/im/*.jpg"))
    assert len(images) == 4 + 5 * 2  # num training images, max(2, num // 4) in the others
    for image_path in images:
        gt = cv2.imread(str(image_path.parent.parent / "gt" / f"{image_path.stem}.png"), 0)
        assert set(np.unique(gt)) == {0, 255}  # binary masks on the 0–255 scale
        image = cv2.imread(str(image_path)).astype(np.float64)
        assert gt.shape == image.shape[:2]
        # The object is drawn in a contrasting colour exactly where the GT is 255 (a GT of
        # another drawing scores about 0.5–0.7 here).
        assert _balanced_accuracy(image, gt > 128) > 0.85, image_path.name
    # Every image of every split is its own picture: no training image is also a test image.
    digests = _pixel_digests(images)
    assert len(set(digests)) == len(digests)


def test_cod10k_gt_instances_and_categories_agree(tmp_path: Path) -> None:
    root = generate("cod10k", tmp_path, num=4, seed=4, size=SIZE)
    kinds = ["GT_Edge", "GT_Instance", "GT_Object", "Image"]
    assert _folders(root) == sorted(["Test", "Train"] + [f"{s}/{k}" for s in ("Test", "Train")
                                                          for k in kinds])  # fmt: skip
    counts = load_manifest(root)["splits"]
    names = []
    for split in ("Train", "Test"):
        coco = json.loads((root / split / f"CAM_Instance_{split}.json").read_text())
        category = {c["id"]: c["name"] for c in coco["categories"]}
        file_of = {img["id"]: img["file_name"] for img in coco["images"]}
        for ann in coco["annotations"]:
            # COD10K-CAM-<super id>-<super>-<sub id>-<sub>-<n>.jpg: the sub-class is the category.
            sub_id, sub = file_of[ann["image_id"]].split("-")[4:6]
            assert (ann["category_id"], category.get(ann["category_id"])) == (int(sub_id), sub)
        for stem, n in counts[split].items():
            obj = cv2.imread(str(root / split / "GT_Object" / f"{stem}.png"), 0)
            label = np.array(Image.open(root / split / "GT_Instance" / f"{stem}.png"))
            assert set(np.unique(label)) == set(range(n + 1))  # instances 1..n
            np.testing.assert_array_equal(obj, (label > 0).astype(np.uint8) * 255)
            # GT_Edge (0/255, as COD10K's): the pixels whose 3×3 neighbourhood holds both
            # object and background.
            edge = cv2.imread(str(root / split / "GT_Edge" / f"{stem}.png"), 0)
            mixed = ndimage.maximum_filter(obj, 3) != ndimage.minimum_filter(obj, 3)
            np.testing.assert_array_equal(edge, mixed.astype(np.uint8) * 255)
        names += [p.stem for p in (root / split / "Image").iterdir()]
    numbers = [name.rsplit("-", 1)[1] for name in names]
    assert len(set(numbers)) == len(numbers)  # numbered over both splits, as COD10K's files
    digests = _pixel_digests(sorted(root.glob("*/Image/*.jpg")))
    assert len(set(digests)) == len(digests)


def test_nc4k_gt_is_the_union_of_its_instances(tmp_path: Path) -> None:
    root = generate("nc4k", tmp_path, num=3, seed=5, size=SIZE)
    assert _folders(root) == ["GT", "Imgs", "Instance"]
    for stem, n in load_manifest(root)["splits"]["all"].items():
        gt = cv2.imread(str(root / "GT" / f"{stem}.png"), 0)
        rgb = np.array(Image.open(root / "Instance" / f"{stem}.png").convert("RGB"))
        coloured = rgb.any(-1)
        assert len(np.unique(rgb[coloured], axis=0)) == n >= 1  # one colour an instance
        np.testing.assert_array_equal(gt, coloured.astype(np.uint8) * 255)


def test_image_sides_keep_the_area_and_orientation_of_size() -> None:
    # Docstring: same area as ``size`` (width, height), aspect ratio jittered by exp(±0.45).
    width, height = 320, 240
    for seed in range(50):
        h, w = image_hw(np.random.default_rng(seed), (width, height))
        assert abs(w * h - width * height) <= w + h  # rounding of each side
        ratio = (w / h) / (width / height)
        assert np.exp(-0.45) - 0.01 <= ratio <= np.exp(0.45) + 0.01, (seed, w, h)


def test_another_seed_or_size_is_never_served_from_an_earlier_tree(tmp_path: Path) -> None:
    generate("nc4k", tmp_path, num=2, seed=1, size=SIZE)
    for other in ({"seed": 2, "size": SIZE}, {"seed": 1, "size": (48, 64)}):
        with pytest.raises(DataError, match="already exists with other parameters"):
            generate("nc4k", tmp_path, num=2, **other)


def test_every_camouflaged_image_holds_an_object_at_the_smallest_size(tmp_path: Path) -> None:
    # At 24x24 every blob of image 8 of this seed fell under the 30-pixel floor: its GT and
    # instance map were empty, a "camouflaged" image without an object (manifest: 0).
    root = generate("nc4k", tmp_path, num=8, seed=2, size=(24, 24))
    for stem, n in load_manifest(root)["splits"]["all"].items():
        gt = cv2.imread(str(root / "GT" / f"{stem}.png"), 0)
        rgb = np.array(Image.open(root / "Instance" / f"{stem}.png").convert("RGB"))
        assert n >= 1 and gt.max() == 255, stem
        assert len(np.unique(rgb[rgb.any(-1)], axis=0)) == n, stem
