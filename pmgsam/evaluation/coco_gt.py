"""COCO instance ground truth: read a GT file or dict, check it field by field, index it.

A bad GT file is one :class:`~pmgsam.evaluation.map_pairs.EvaluationInputError` naming the file
and the field (an image listed twice, a missing size, a segmentation that does not fit its
image...), never a pycocotools traceback from deep inside the evaluation.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Tuple, Union

from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from pmgsam.data.coco_annotations import (
    checked_area,
    crowd_flag,
    read_coco_json,
    segmentation_to_rle,
    whole_number,
)
from pmgsam.data.io import DataError, PathLike
from pmgsam.utils.rle import MAX_PIXELS

from .scoring import EvaluationInputError

IMAGE_FIELDS = ("id", "file_name", "height", "width")


def rle_for_pycocotools(rle: Dict[str, object]) -> Dict[str, object]:
    """An RLE with ``counts`` as bytes, as pycocotools' C functions take it (JSON holds str)."""
    counts = rle["counts"]
    return {"size": rle["size"], "counts": counts.encode() if isinstance(counts, str) else counts}


def instance_rles(coco: COCO, image_id: int) -> List[Dict[str, object]]:
    """RLEs of the GT instances of one image, crowd regions left out."""
    anns = coco.loadAnns(coco.getAnnIds(imgIds=[image_id]))
    return [coco.annToRLE(a) for a in anns if not a.get("iscrowd")]


def _checked_images(
    images: List[object], where: str
) -> Tuple[List[Dict[str, object]], Dict[int, Tuple[int, int]], Dict[int, str]]:
    """The images with integer id/height/width, and their sizes and file names by id."""
    sizes: Dict[int, Tuple[int, int]] = {}
    names: Dict[int, str] = {}
    stems: Dict[str, str] = {}
    clean_images = []
    for k, im in enumerate(images):
        need = f"{where}: images[{k}] needs {', '.join(IMAGE_FIELDS)} (integer id, height, width)"
        if not isinstance(im, Mapping) or any(f not in im for f in IMAGE_FIELDS):
            raise EvaluationInputError(need)
        numbers = []
        for field in ("id", "height", "width"):
            try:
                numbers.append(whole_number(im[field]))
            except ValueError as err:
                raise EvaluationInputError(f"{need}: {field} {err}") from err
        iid, h, w = numbers
        name = im["file_name"]
        stem = Path(name).stem if isinstance(name, str) else ""
        if not stem:
            raise EvaluationInputError(f"{need}: file_name {name!r} names no file")
        # pycocotools keeps one image per id, and a prediction map is found by the stem.
        if iid in names:
            raise EvaluationInputError(
                f"{where}: images[{k}] ({name!r}) repeats image id {iid} of {names[iid]!r}"
            )
        if stem in stems:
            raise EvaluationInputError(
                f"{where}: images[{k}] ({name!r}) and {stems[stem]!r} share the file-name stem "
                f"{stem!r}, which names their prediction map"
            )
        sizes[iid], names[iid], stems[stem] = (h, w), name, name
        # pycocotools holds sizes and pixel counts in 32 bits and would overflow.
        if h <= 0 or w <= 0 or h * w > MAX_PIXELS:
            raise EvaluationInputError(
                f"{where}: images[{k}] ({name!r}) has height {h} and width {w}: "
                f"both must be positive (and height*width at most {MAX_PIXELS})"
            )
        clean_images.append(dict(im, id=iid, height=h, width=w))
    return clean_images, sizes, names


def _checked_annotations(
    anns: List[object], sizes: Dict[int, Tuple[int, int]], names: Dict[int, str], where: str
) -> List[Dict[str, object]]:
    """The annotations with integer ids, compressed RLE, ``area`` and ``iscrowd``."""
    fixed = []
    ann_ids: Dict[int, int] = {}
    for k, ann in enumerate(anns):
        if not isinstance(ann, Mapping) or "segmentation" not in ann or "image_id" not in ann:
            raise EvaluationInputError(
                f"{where}: annotations[{k}] needs 'image_id' and 'segmentation'"
            )
        field = "image_id"
        try:
            image_id = whole_number(ann["image_id"])
            field = "id"
            ann_id = whole_number(ann["id"]) if "id" in ann else None
        except ValueError as err:
            raise EvaluationInputError(f"{where}: annotations[{k}]: {field} {err}") from err
        if image_id not in sizes:
            raise EvaluationInputError(
                f"{where}: annotations[{k}] refers to image_id {ann['image_id']!r}, which "
                "'images' does not list"
            )
        if ann_id in ann_ids:
            # pycocotools keeps one annotation per id: the other instance would vanish.
            raise EvaluationInputError(
                f"{where}: annotations[{k}] repeats annotation id {ann_id} of "
                f"annotations[{ann_ids[ann_id]}]"
            )
        if ann_id is not None:
            ann_ids[ann_id] = k
        h, w = sizes[image_id]
        named = f"{where}: annotations[{k}] (id {ann.get('id')!r}, of {names[image_id]!r})"
        # pycocotools indexes every annotation by it (a KeyError deep inside it otherwise); the
        # AP is class-agnostic, so any integer id will do.
        if "category_id" not in ann:
            raise EvaluationInputError(f"{named} has no 'category_id' (any integer id will do)")
        try:
            category_id = whole_number(ann["category_id"])
        except ValueError as err:
            raise EvaluationInputError(f"{named}: category_id {err}") from err
        try:
            rle = segmentation_to_rle(ann["segmentation"], h, w, named)
        except DataError as err:
            raise EvaluationInputError(str(err)) from err
        out = dict(ann, segmentation=rle, image_id=image_id, id=ann_id, category_id=category_id)
        try:
            out["iscrowd"] = crowd_flag(ann.get("iscrowd"), named)
            if "area" in out:
                out["area"] = checked_area(out["area"], named)
        except DataError as err:
            raise EvaluationInputError(str(err)) from err
        if "area" not in out:
            out["area"] = float(mask_utils.area(rle_for_pycocotools(rle)))
        fixed.append(out)
    # Annotations without an id get ones no other annotation holds.
    spare = iter(range(max(ann_ids, default=0) + 1, 2**62))
    for out in fixed:
        if out["id"] is None:
            out["id"] = next(spare)
    return fixed


def _checked_categories(cats: List[object], where: str) -> List[Dict[str, object]]:
    """The categories with integer ids. The AP ignores them, but pycocotools indexes each by
    its id (an entry without one: a KeyError deep inside it) and the scoring sorts the ids
    listed with those used (a string among them: a TypeError)."""
    clean = []
    for k, cat in enumerate(cats):
        if not isinstance(cat, Mapping) or "id" not in cat:
            raise EvaluationInputError(
                f"{where}: categories[{k}] needs an integer 'id' (any will do: the AP is "
                "class-agnostic)"
            )
        try:
            clean.append(dict(cat, id=whole_number(cat["id"])))
        except ValueError as err:
            raise EvaluationInputError(f"{where}: categories[{k}]: id {err}") from err
    return clean


def checked_coco_dict(
    data: object, where: str, require_instances: bool = False
) -> Dict[str, object]:
    """A copy of a COCO instance GT dict that pycocotools can evaluate, or one clear error.

    Requires a non-empty ``images`` list (integer id, height, width, file_name; positive
    sizes; ids and file-name stems unique), a ``categories`` list (objects with an integer
    ``id``) and well-formed
    ``annotations`` (unique integer ids, missing ones assigned; an integer ``category_id``, of any
    category: the AP is class-agnostic); every ``segmentation`` is checked
    (:func:`pmgsam.utils.rle.rle_from_segmentation`) and becomes a compressed RLE (bad values
    raise naming the annotation and its image), and a missing ``area`` / ``iscrowd`` gets the
    mask area / 0. A given ``iscrowd`` must be 0 or 1 (``true`` / ``false``) and a given
    ``area`` a number in COCOeval's 'all' range
    (:data:`~pmgsam.data.coco_annotations.AREA_RANGE_ALL`): pycocotools would otherwise leave
    the instance out of AP without a word ("0" reads as a crowd region).
    ``require_instances`` refuses a GT without a non-crowd annotation (scoring
    it gives AP -1).
    """
    if not isinstance(data, Mapping):
        raise EvaluationInputError(
            f"{where}: a COCO file is a JSON object with 'images', 'annotations' and "
            f"'categories', not a {type(data).__name__}"
        )
    images, anns, cats = data.get("images"), data.get("annotations", []), data.get("categories")
    if not isinstance(images, list) or not images:
        raise EvaluationInputError(f"{where}: no 'images' listed (an empty GT scores nothing)")
    if not isinstance(cats, list):
        raise EvaluationInputError(f"{where}: no 'categories' list")
    if not isinstance(anns, list):
        raise EvaluationInputError(f"{where}: 'annotations' must be a list")
    clean_images, sizes, names = _checked_images(images, where)
    fixed = _checked_annotations(anns, sizes, names, where)
    if require_instances:
        _refuse_no_instances(fixed, where)
    return dict(
        data, images=clean_images, annotations=fixed, categories=_checked_categories(cats, where)
    )


def _refuse_no_instances(anns: Iterable[Mapping[str, object]], where: str) -> None:
    # COCOeval reports AP = -1 when there is no GT instance: a number that is no score.
    if not any(not a.get("iscrowd") for a in anns):
        raise EvaluationInputError(
            f"{where}: no (non-crowd) annotations, so there is no instance to score (COCO "
            "AP would read -1)"
        )


def load_coco(
    gt: Union[PathLike, COCO, Mapping[str, object]], require_instances: bool = False
) -> COCO:
    """A ``COCO`` from a GT file, an in-memory COCO dict, or an existing ``COCO`` (quietly).

    Files and dicts are checked first (:func:`checked_coco_dict`): a bad GT file is one
    :class:`EvaluationInputError` naming the file, never a pycocotools traceback.
    A ``COCO`` is used as it is, but ``require_instances`` holds for it too.
    """
    if isinstance(gt, COCO):
        if require_instances:  # a loaded COCO is taken as it is, but this rule holds for it too
            _refuse_no_instances(gt.anns.values(), "COCO GT")
        return gt
    if isinstance(gt, Mapping):
        data = checked_coco_dict(gt, "COCO GT", require_instances)
    else:
        where = f"COCO GT file '{gt}'"
        if Path(gt).is_dir():  # NC4K's Instance/ or COD10K's GT_Instance/, given for the file
            raise EvaluationInputError(
                f"{where} is a folder: give a COCO JSON file (COD10K-v3: "
                "<split>/CAM_Instance_<Split>.json). Instance-map PNGs (NC4K's Instance/) have "
                "none: write the one benchmark mode builds from them with 'python -m "
                "pmgsam.evaluation.export_cos_gt --config CFG --split test --out gt.json' (a "
                "benchmark run writes it to <output-dir>/metrics/<split>.gt.json, or for a "
                "folder dataset's split to <split>.cos.gt.json)"
            )
        try:
            raw = read_coco_json(Path(gt), where)
        except DataError as err:  # the evaluation's own error type, as checked_coco_dict's
            raise EvaluationInputError(str(err)) from err
        data = checked_coco_dict(raw, where, require_instances)
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = data
        coco.createIndex()
    return coco
