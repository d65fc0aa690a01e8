"""COCO annotations for a dataset's images, from instance maps or a COCO JSON file.

Every instance becomes category 1 (the COS protocol is class-agnostic) with a compressed RLE;
errors name the file and the annotation.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from pmgsam.utils.io import read_user_text
from pmgsam.utils.messages import preview
from pmgsam.utils.rle import SegmentationError, encode_rle, rle_from_segmentation

from .io import (
    MASK_EXTENSIONS,
    DataError,
    DataNotFoundError,
    MaskValueWarning,
    list_files,
    load_instance_map,
)

# COD10K's images without a camouflaged object: its instance files list none of them.
NO_INSTANCES_MARK = "-NonCAM-"
# COCOeval's 'all' area range: a GT instance whose ``area`` lies outside it is ignored (neither
# found nor missed), so AP, AP50 and AP75 would leave it out.
AREA_RANGE_ALL = (0.0, 1e5**2)


class UnlistedImageWarning(UserWarning):
    """Images of a split that its COCO instance file does not list: they get no GT instance."""


def instance_masks(label_map: np.ndarray) -> List[np.ndarray]:
    """One boolean mask per distinct non-zero value, in increasing value order."""
    return [label_map == v for v in np.unique(label_map) if v != 0]


def coco_annotation(
    rle: Dict[str, Any],
    ann_id: int,
    image_id: int,
    iscrowd: int = 0,
    area: Optional[float] = None,
) -> Dict[str, Any]:
    """Class-agnostic COCO annotation (category 1) for an RLE with str counts; ``area`` is
    its pixel count unless given."""
    as_bytes = dict(rle, counts=rle["counts"].encode("ascii"))
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": 1,
        "segmentation": rle,
        "area": float(mask_utils.area(as_bytes)) if area is None else area,
        "bbox": [float(v) for v in mask_utils.toBbox(as_bytes)],
        "iscrowd": iscrowd,
    }


def segmentation_to_rle(seg: Any, height: int, width: int, where: str) -> Dict[str, Any]:
    """Polygon list / uncompressed / compressed RLE -> one compressed RLE with str counts,
    checked first (:func:`pmgsam.utils.rle.rle_from_segmentation`); errors name ``where``."""
    try:
        return rle_from_segmentation(seg, height, width)
    except SegmentationError as err:
        raise DataError(f"{where}: {err}") from err


def annotations_from_pngs(
    folder: Path,
    names: Sequence[str],
    images: List[Dict[str, Any]],
    unreadable: Optional[Dict[str, Tuple[str, str]]] = None,
    found: Optional[Dict[str, Path]] = None,
) -> List[Dict[str, Any]]:
    """COCO annotations from instance maps ``<folder>/<name>.png`` (one per distinct value);
    ``found``: the folder's maps by stem, where the caller has listed it already.

    An instance map that cannot be decoded (truncated, not an image) or whose size is not its
    image's raises a :class:`DataError` naming it; with ``unreadable`` given it is recorded
    there instead as ``{name: (file, reason)}`` and its image gets no annotation (the caller
    leaves that image out), so every such file can be named at once. A missing one always
    raises (a wrong folder, not a damaged file).
    """
    if found is None:
        found = list_files(folder, MASK_EXTENSIONS, "instance map")
    annotations: List[Dict[str, Any]] = []
    for name, img in zip(names, images):
        if name not in found:
            raise DataNotFoundError(f"no instance map for image '{img['file_name']}' in '{folder}'")
        try:
            label = load_instance_map(found[name])
            if label.shape != (img["height"], img["width"]):
                raise DataError(
                    f"instance map '{found[name]}' is {label.shape[1]}x{label.shape[0]} (WxH) "
                    f"but its image '{img['file_name']}' is {img['width']}x{img['height']}"
                )
        except DataError as err:
            if unreadable is None:
                raise
            unreadable[name] = (str(found[name]), str(err))
            continue
        masks = instance_masks(label)
        _warn_thin_instances(found[name], masks)
        for m in masks:
            ann = coco_annotation(encode_rle(m), len(annotations) + 1, img["id"])
            annotations.append(ann)
    return annotations


def _warn_thin_instances(path: Path, masks: List[np.ndarray]) -> None:
    """Warn when instances are nowhere more than 2 pixels thick: the in-between values that an
    interpolating resize leaves along the edges of a label map, each of which would count as
    a GT object the model can only miss."""
    kernel = np.ones((3, 3), np.uint8)

    def survives_erosion(mask: np.ndarray) -> bool:
        # Outside the image counts as background: an object at the border is no thicker for it.
        border = {"borderType": cv2.BORDER_CONSTANT, "borderValue": 0}
        core = cv2.erode(mask.astype(np.uint8), kernel, **border)
        return bool(core.any())

    thin = sum(not survives_erosion(m) for m in masks)
    if thin:
        warnings.warn(
            f"instance map '{path}': {thin} of its {len(masks)} instances are at most 2 pixels "
            "thick, as the values an interpolating resize leaves along label edges are; each "
            "counts as a GT instance (resize instance maps with nearest-neighbour only)",
            MaskValueWarning,
            stacklevel=2,
        )


def read_coco_json(path: Path, what: str) -> object:
    """The JSON value of the COCO file ``path`` (the one reader of COCO files: instance files
    here, GT files in :mod:`pmgsam.evaluation.coco_gt` and the overlap analysis). A file that
    is missing, unreadable, empty or not JSON is a :class:`DataError` beginning with ``what``
    (or ``cannot read <what>``) and saying which (not valid JSON at line N, ...); its content
    is not checked. A byte-order mark before the JSON (Windows Notepad's) is dropped."""
    try:
        text = read_user_text(path)
    except FileNotFoundError as err:
        raise DataError(f"{what} does not exist") from err
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read {what}: {err}") from err
    if not text.strip():
        raise DataError(f"{what} is empty")
    try:
        return json.loads(text)
    except ValueError as err:  # JSONDecodeError says where: "line 3 column 5 (char 20)"
        raise DataError(f"{what} is not valid JSON: {err}") from err


def read_coco_instances(path: Path) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    """``(images, annotations)`` of the COCO instance file ``path``: every image an object with
    a ``file_name`` string and an ``id``, every annotation one with an ``image_id`` (no
    ``annotations`` list: none). A file that is none of this is a :class:`DataError` naming it
    and saying in words what is wrong (:func:`read_coco_json`; no ``images`` list, ...)."""
    what = f"COCO instance file '{path}'"
    coco = read_coco_json(path, what)
    if not isinstance(coco, dict):
        raise DataError(f"{what} holds a JSON {_json_kind(coco)}, not a COCO object")
    images, annotations = coco.get("images"), coco.get("annotations", [])
    if not isinstance(images, list):
        raise DataError(f"{what} has no 'images' list")
    if not isinstance(annotations, list):
        raise DataError(f"{what}: 'annotations' is a JSON {_json_kind(annotations)}, not a list")
    for k, im in enumerate(images):
        name = im.get("file_name") if isinstance(im, dict) else None
        if not isinstance(name, str) or not Path(name).stem:
            raise DataError(f"{what}: images[{k}] has no 'file_name' naming a file")
        if not _scalar(im.get("id")):
            raise DataError(f"{what}: images[{k}] ('{name}') has no 'id' (a number)")
    for k, ann in enumerate(annotations):
        if not isinstance(ann, dict) or not _scalar(ann.get("image_id")):
            raise DataError(f"{what}: annotations[{k}] has no 'image_id' (a number)")
    return images, annotations


def _scalar(value: object) -> bool:
    """Whether ``value`` can be an id (a JSON number or string: a list would not even index)."""
    return isinstance(value, (int, float, str))


def _json_kind(value: object) -> str:
    """The JSON name of ``value``'s type, for messages."""
    kinds = {list: "list", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else kinds.get(type(value), "object")


def annotations_from_json(
    path: Path, names: Sequence[str], images: List[Dict[str, Any]], what: str
) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    """``(images, annotations)`` of ``images`` (matched by file stem) from a COCO JSON file.

    The images the file lists keep its image ids, the others (e.g. COD10K NonCAM ones, which get
    no annotations) take ids above them: COCOeval orders detections of equal score by image id,
    so scoring the file itself must see the same order. Unlisted images other than COD10K's
    NonCAM ones are named in an :class:`UnlistedImageWarning`. Polygons and RLE become compressed
    RLE, every instance category 1, and ``iscrowd`` is kept (a crowd region is ignored, not
    missed); so is an instance that covers no pixel (a degenerate polygon), which pycocotools
    counts as a GT instance scoring the file itself, and a given ``area``
    (:func:`checked_area`), by which it ranks instances small, medium or large.
    """
    listed, anns = read_coco_instances(path)
    by_stem = {Path(im["file_name"]).stem: im for im in listed}
    anns_by_image: Dict[Any, List[Dict[str, Any]]] = {}
    for ann in anns:
        anns_by_image.setdefault(ann["image_id"], []).append(ann)
    if images and not any(n in by_stem for n in names):
        raise DataError(
            f"COCO instance file '{path}' lists none of the {len(images)} images of "
            f"{what} (wrong file?)"
        )
    images = _with_file_ids(path, names, images, by_stem)
    unlisted = [im["file_name"] for n, im in zip(names, images)
                if n not in by_stem and NO_INSTANCES_MARK not in n]  # fmt: skip
    if unlisted:  # e.g. a file of another release: silent, it would lower AP for no reason
        warnings.warn(
            f"COCO instance file '{path}' does not list {len(unlisted)} image(s) of {what}: "
            f"{preview(unlisted, 5)}; they get no GT instance (scored, every instance predicted "
            "there counts as a false positive)",
            UnlistedImageWarning,
            stacklevel=2,
        )
    annotations: List[Dict[str, Any]] = []
    for name, img in zip(names, images):
        entry = by_stem.get(name)
        if entry is None:
            continue
        size = (entry.get("height", img["height"]), entry.get("width", img["width"]))
        if size != (img["height"], img["width"]):
            raise DataError(
                f"COCO instance file '{path}' gives {entry['file_name']} size {size} (HxW) "
                f"but the image is {(img['height'], img['width'])}"
            )
        for ann in anns_by_image.get(entry["id"], []):
            where = f"'{path}' annotation {ann.get('id')} of {entry['file_name']}"
            if "segmentation" not in ann:
                raise DataError(f"{where} has no 'segmentation'")
            rle = segmentation_to_rle(ann["segmentation"], img["height"], img["width"], where)
            crowd = crowd_flag(ann.get("iscrowd"), where)
            # pycocotools puts an instance in the small / medium / large range by the file's
            # own area (a polygon's is not its pixel count), scoring the file itself too.
            area = checked_area(ann["area"], where) if "area" in ann else None
            # A degenerate polygon rasterises to nothing: kept, a GT instance that can only be
            # missed, as pycocotools counts it scoring the file itself (--gt-json): one AP.
            ann_id = len(annotations) + 1
            annotations.append(coco_annotation(rle, ann_id, img["id"], crowd, area))
    return images, annotations


def _with_file_ids(
    path: Path, names: Sequence[str], images: List[Dict[str, Any]], by_stem: Dict[str, Any]
) -> List[Dict[str, Any]]:
    """``images`` with the JSON's integer ids where it lists them, new ids above for the rest."""
    ids: Dict[str, int] = {}
    taken: set = set()
    for name in names:
        if name in by_stem:
            value = by_stem[name].get("id")
            try:
                value = whole_number(value)  # 3.0 as pycocotools reads it
            except ValueError:
                raise DataError(
                    f"COCO instance file '{path}': image '{name}' has id {value!r}"
                ) from None
            if value in taken:
                raise DataError(f"COCO instance file '{path}' repeats image id {value}")
            ids[name] = value
            taken.add(value)
    spare = iter(range(max(ids.values(), default=0) + 1, 2**62))
    return [dict(img, id=ids[n] if n in ids else next(spare)) for n, img in zip(names, images)]


def crowd_flag(value: object, where: str) -> int:
    """An annotation's ``iscrowd`` as 0 or 1: ``0``, ``1``, ``true``, ``false`` or absent
    (``None``: not a crowd); anything else is a :class:`DataError` naming ``where``.

    pycocotools takes every truthy value for a crowd region and leaves it out of AP, so a
    string ``"0"`` (or a ``2``) would drop an instance from the score without a word.
    """
    if value is None:
        return 0
    if isinstance(value, (bool, int, float)) and value in (0, 1):
        return int(value)
    raise DataError(f"{where}: iscrowd {value!r} is not 0 or 1")


def checked_area(area: object, where: str) -> float:
    """An annotation's given ``area``: a number within COCOeval's 'all' range
    (:data:`AREA_RANGE_ALL`), else a :class:`DataError` naming ``where`` (pycocotools would
    leave the instance out of AP there, or fail comparing a string)."""
    low, high = AREA_RANGE_ALL
    number = isinstance(area, (int, float)) and not isinstance(area, bool)
    if not number or not low <= area <= high:  # NaN fails the comparison too
        raise DataError(
            f"{where}: area {area!r} is not a number from {low:g} to {high:g}, so pycocotools "
            "would leave this instance out of AP; give its mask's pixel count, or drop the "
            "field to have it counted from the mask"
        )
    return float(area)


def whole_number(value: object) -> int:
    """``value`` as an int if it is a whole JSON number (``480`` or ``480.0``), else ValueError
    (booleans too: JSON's ``true`` is no id)."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(f"{value!r} is not an integer")
    return int(value)
