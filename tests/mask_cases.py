"""Plain helpers that several test files import (pytest's default import mode puts tests/ on
the path): ``iou`` of two boolean masks; the DIS metric cases ``make_pair`` and ``blob_scene``;
``pysod_scores``, what PySODMetrics makes of such pairs; ``coco_annotation``, a COCO
instance annotation of a binary mask (RLE, area and bbox by pycocotools); ``coco_dict``, a COCO
ground-truth dict of same-sized images and given annotations; and ``exif_photo`` /
``corner_mask``, a JPEG with an EXIF orientation tag and a mask file of a given size; and
``BoxPredictor``, a stand-in SAM predictor answering each box with the box itself; and
``folder_split``, a split of the folder layout whose images and masks are named ``names``;
``square_pair``, folders of one map and its GT (a square, and a false one on request);
``png_size``, the pixel size a saved figure has.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Mapping, Sequence, Tuple, Union

import cv2
import numpy as np
from PIL import Image


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks (0 when both are empty)."""
    return (a & b).sum() / max((a | b).sum(), 1)


def make_pair(h: int, w: int, seed: int) -> tuple:
    """DIS-like GT (polygons, thin lines, holes) and a soft, shifted, noisy prediction."""
    rng = np.random.default_rng(seed)
    gt = np.zeros((h, w), np.uint8)
    for _ in range(3):
        pts = rng.integers(0, [w, h], size=(6, 2)).astype(np.int32)
        cv2.fillPoly(gt, [cv2.convexHull(pts)], 255)
    for _ in range(8):
        a, b = rng.integers(0, [w, h], size=(2, 2)).tolist()
        cv2.line(gt, tuple(a), tuple(b), 255, int(rng.integers(1, 4)))
    for _ in range(4):
        c = rng.integers(0, [w, h]).tolist()
        cv2.circle(gt, tuple(c), int(rng.integers(3, max(4, h // 8))), 0, -1)
    f = cv2.warpAffine(gt.astype(np.float32), np.float32([[1, 0, 1.5], [0, 1, -1]]), (w, h))
    f = cv2.GaussianBlur(f, (0, 0), 2) + cv2.GaussianBlur(
        rng.normal(0, 200, (h, w)).astype(np.float32), (0, 0), 3
    )
    for _ in range(3):
        c = rng.integers(0, [w, h]).tolist()
        cv2.circle(f, tuple(c), int(rng.integers(2, 12)), float(rng.uniform(90, 255)), -1)
    return np.clip(f, 0, 255).astype(np.uint8), gt


def pysod_scores(pairs: list) -> dict:
    """PySODMetrics' own scores of (prediction, GT) pairs, under our metric names."""
    import py_sod_metrics as psm  # a dev extra: only the metric tests need it

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Fmeasure's deprecation notice
        fm, wfm, mae, sm, em = (
            psm.Fmeasure(),
            psm.WeightedFmeasure(),
            psm.MAE(),
            psm.Smeasure(),
            psm.Emeasure(),
        )
    for p, g in pairs:
        for m in (fm, wfm, mae, sm, em):
            m.step(p, g)
    return {
        "maxFm": fm.get_results()["fm"]["curve"].max(),
        "wFmeasure": wfm.get_results()["wfm"],
        "MAE": mae.get_results()["mae"],
        "Smeasure": sm.get_results()["sm"],
        "meanEm": em.get_results()["em"]["curve"].mean(),
    }


def blob_scene() -> np.ndarray:
    """A 120x160 GT holding one filled rectangle."""
    gt = np.zeros((120, 160), np.uint8)
    cv2.rectangle(gt, (20, 20), (70, 90), 255, -1)
    return gt


def coco_annotation(ann_id: int, image_id: int, mask: np.ndarray, **extra) -> dict:
    """A COCO instance annotation (class 1) of a binary mask: RLE, area and bbox by pycocotools."""
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": 1,
        "iscrowd": 0,
        "area": float(mask_utils.area(rle)),
        "bbox": [float(v) for v in mask_utils.toBbox(rle)],
        "segmentation": dict(rle, counts=rle["counts"].decode()),
        **extra,
    }


def coco_dict(
    size: Tuple[int, int],
    annotations: Sequence[dict] = (),
    images: Union[Sequence[str], Mapping[str, int]] = ("a.jpg",),
    categories: Sequence[dict] = ({"id": 1, "name": "object"},),
) -> dict:
    """A COCO ground-truth dict: an image of ``size`` (height, width) per file name of
    ``images`` (ids 1, 2, ... in order, or as a {file name: id} mapping gives them), the
    ``annotations`` as given, and ``categories`` (by default class 1, "object")."""
    ids = images if isinstance(images, Mapping) else {n: i for i, n in enumerate(images, 1)}
    height, width = size
    return {
        "images": [
            {"id": i, "file_name": n, "height": height, "width": width} for n, i in ids.items()
        ],
        "annotations": list(annotations),
        "categories": [dict(c) for c in categories],
    }


def exif_photo(path: Path, width: int, height: int, orientation: int) -> Path:
    """A JPEG stored ``width``×``height`` with the EXIF orientation tag ``orientation``."""
    pixels = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, exif=exif)
    return path


def corner_mask(path: Path, width: int, height: int) -> Path:
    """A ``width``×``height`` mask file whose top-left quarter is foreground."""
    mask = np.zeros((height, width), np.uint8)
    mask[: height // 2, : width // 2] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask).save(path)
    return path


class BoxPredictor:
    """A stand-in ``SamPredictor``: every box prompt's mask is the whole box (logits +10
    inside it, -10 outside), so a box baseline needs no SAM weights."""

    def set_image(self, image: np.ndarray) -> None:
        self.shape = image.shape[:2]

    def predict(self, box, multimask_output, return_logits):
        logits = np.full((1, *self.shape), -10.0, np.float32)
        x0, y0, x1, y1 = np.asarray(box, int)
        logits[0, y0 : y1 + 1, x0 : x1 + 1] = 10.0
        return logits, np.array([0.9]), None


def folder_split(root: Path, split: str, names: Sequence[str]) -> None:
    """``root/split/{images,masks}/<name>.png`` for each of ``names`` (8×8, all zero): a split
    of the folder layout, for checks that read only which names a split lists."""
    for sub in ("images", "masks"):
        (root / split / sub).mkdir(parents=True)
    for name in names:
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / split / "images" / f"{name}.png")
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / split / "masks" / f"{name}.png")


def box_masks(
    folder: Path,
    names: Sequence[str],
    shape: tuple = (40, 50),
    box: tuple = (5, 25, 10, 30),
    value: int = 255,
) -> Path:
    """``folder`` holding a grey map per name: ``value`` inside ``box`` (rows, then columns,
    as slice bounds), 0 elsewhere."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        m = np.zeros(shape, np.uint8)
        m[box[0] : box[1], box[2] : box[3]] = value
        Image.fromarray(m).save(folder / name)
    return folder


def square_pair(root: Path, name: str = "pred", wrong: bool = False) -> Tuple[Path, Path]:
    """(maps, GT) folders ``root/<name>`` and ``root/gt``, one 20×20 pair ``a.png``: the GT a
    5×5 square, the map the same square, plus a false 4×4 one when ``wrong``."""
    gt, pred = root / "gt", root / name
    for folder in (gt, pred):
        folder.mkdir(parents=True, exist_ok=True)
        m = np.zeros((20, 20), np.uint8)
        m[5:10, 5:10] = 255
        if wrong and folder == pred:
            m[12:16, 12:16] = 255
        Image.fromarray(m).save(folder / "a.png")
    return pred, gt


def dis_refusal(pred: Path, gt: Path) -> str:
    """The error DIS scoring of ``pred`` against ``gt`` refuses with (warnings silenced)."""
    from pmgsam.evaluation.scoring import EvaluationInputError, evaluate_dis_folder

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            evaluate_dis_folder(pred, gt, workers=1, progress=False)
        except EvaluationInputError as err:
            return str(err)
    raise AssertionError(f"scoring '{pred}' against '{gt}' was not refused")


def png_size(path: Union[str, Path]) -> Tuple[int, int]:
    """(width, height) in pixels, read from the image's header."""
    with Image.open(path) as im:
        return im.size
