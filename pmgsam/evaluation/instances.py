"""COS instance evaluation: CCA instances, Hungarian matching, COCO results, COCO mask AP.

A predicted probability map is thresholded (``prob > threshold``, 0.5 by default) and split into
instances by 8-connected component analysis (components smaller than ``min_area`` pixels are
dropped); an instance's score is the mean probability inside it, and an image's instances are
submitted largest first (the order COCOeval keeps between a binary map's tied scores). Maps of a
few low levels and no pixel above the threshold (instance label maps, 1, 2, 3 per instance) are
named in a :class:`LabelMapWarning`, images the COCO GT lists without any annotation (every
instance predicted there a false positive) in a :class:`NoInstanceImageWarning`. Predicted and
GT instances are paired one-to-one by the Hungarian algorithm on mask IoU. Results are written
in the COCO results format (RLE of the Fortran-order uint8 mask, ``counts`` as str, no ``bbox``)
and scored with pycocotools' ``COCOeval(iouType='segm')``, class-agnostic (``useCats = 0``;
every instance counts, whatever its ``category_id`` and the file's ``categories`` list): AP,
AP50, AP75.

The threshold is a probability: a saved 8-bit map's level L reads as L/255
(:func:`to_probability`), so 0.5 takes levels 128 and up. Level 128 holds the model's
probabilities [0.5, 0.504], so ``> 0.5`` on the saved map equals ``> 0.5`` on the model's output
but for exactly 0.5. HCE (:mod:`.hce`) binarises at ``> 128`` instead, as the official DIS tool
does: a pixel at exactly 128 is COS foreground and HCE background. DESIGN.md fixes no COS
threshold; ``> 128`` here would drop the probabilities in (0.5, 0.504] from every instance and
change the AP of runs already scored (their threshold is recorded and checked on rescoring).

Protocols:

* ``all`` (default): every predicted instance is submitted, the standard COCO protocol.
* ``matched``: only predictions paired with a GT instance (IoU > 0) by the Hungarian assignment
  are submitted, as the paper describes. Unmatched false positives then cost nothing, so these
  numbers are higher than standard COCO AP and must be labelled as such.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from scipy.optimize import linear_sum_assignment

from pmgsam.data.io import load_mask
from pmgsam.data.orientation import turned_by_90
from pmgsam.utils.finite import describe_non_finite, has_non_finite
from pmgsam.utils.io import write_text_atomic
from pmgsam.utils.messages import preview
from pmgsam.utils.rle import encode_rle

from .coco_gt import instance_rles, load_coco, rle_for_pycocotools
from .map_checks import refuse_colour_images
from .map_pairs import (
    LIST_LIMIT,
    EvaluationInputError,
    list_images,
    pairing_hint,
    refuse_size_mismatches,
)
from .scoring import reissue_warnings

PathLike = Union[str, os.PathLike]
PROTOCOLS = {
    "all": "all predicted instances (standard COCO)",
    "matched": "only predictions matched one-to-one to a GT instance by the Hungarian algorithm",
}


class UnscoredPredictionWarning(UserWarning):
    """Prediction maps whose image the COCO GT does not list were left out of the score."""


class NoInstanceImageWarning(UserWarning):
    """Images the COCO GT lists without an annotation (neither an instance nor a crowd
    region): every instance predicted on them is a false positive. Legal (an image without an
    object), but in a camouflaged or salient set usually an image whose instances were never
    annotated."""


class LabelMapWarning(UserWarning):
    """Maps holding a few low levels and no pixel above the threshold: instance label maps
    (1, 2, 3 per instance), which read as probabilities 1/255, 2/255... give no instance."""


# Levels up to which a map of few distinct values, none above the threshold, is taken for an
# instance label map (one value per instance) rather than a faint probability map.
LABEL_LEVELS = 64


def looks_like_labels(level_map: np.ndarray, threshold: float) -> bool:
    """Whether an 8-bit map (0-255) holds between 2 and :data:`LABEL_LEVELS` distinct nonzero
    levels, all of them small (:data:`LABEL_LEVELS` at most) and none above ``threshold``. A
    0/1 map is left to the reader's own warning."""
    if level_map.dtype != np.uint8:
        return False
    top = int(level_map.max(initial=0))
    if not 2 <= top <= LABEL_LEVELS or top / 255.0 > threshold:
        return False
    return len(np.unique(level_map)) - 1 <= LABEL_LEVELS // 4


def _warn_of_label_maps(names: Sequence[str], total: int, threshold: float) -> None:
    if names:
        warnings.warn(
            f"{len(names)} of {total} map(s) hold only a few low levels (at most "
            f"{LABEL_LEVELS} of 255) and no pixel above the threshold ({threshold:g}), so they "
            f"give no instance: {preview(list(names), LIST_LIMIT)}. COS scoring reads a map "
            "as probabilities (level L as L/255); if they are instance label maps (1, 2, 3... "
            "per instance), save each as a probability or 0/255 map instead",
            LabelMapWarning,
            stacklevel=3,
        )


@dataclass
class Instance:
    """One predicted instance.

    Arguments:
        mask: boolean (H, W) mask.
        score: confidence, the mean foreground probability inside the mask.
    """

    mask: np.ndarray
    score: float


def to_probability(pred: np.ndarray) -> np.ndarray:
    """uint8 0-255 maps -> [0, 1]; float (and boolean) maps are taken as probabilities already."""
    if pred.dtype == np.uint8:
        return pred.astype(np.float64) / 255.0
    if has_non_finite(pred):
        # NaN would drop out of every instance and an inf make an instance's score inf.
        found = describe_non_finite(pred, "pixels")
        raise ValueError(f"a float probability map must be finite; it holds {found}")
    return pred.astype(np.float64)


def split_instances(prob: np.ndarray, threshold: float = 0.5, min_area: int = 0) -> List[Instance]:
    """8-connected components of ``prob > threshold`` as scored instances (largest first).

    Arguments:
        prob: probability map (H, W), uint8 0-255 or float in [0, 1].
        threshold: foreground where the probability is strictly above it.
        min_area: components with fewer pixels are dropped (speckle suppression).
    """
    p = to_probability(prob)
    binary = (p > threshold).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    out = []
    for k in range(1, n):
        if stats[k, cv2.CC_STAT_AREA] < max(min_area, 1):
            continue
        m = labels == k
        out.append(Instance(mask=m, score=float(p[m].mean())))
    out.sort(key=lambda inst: -int(inst.mask.sum()))
    return out


def hungarian_match(
    pred_rles: Sequence[Dict[str, object]], gt_rles: Sequence[Dict[str, object]]
) -> List[Tuple[int, int, float]]:
    """One-to-one (pred index, GT index, IoU) pairs maximising total IoU; IoU-0 pairs dropped."""
    if not pred_rles or not gt_rles:
        return []
    iou = np.asarray(
        mask_utils.iou(
            [rle_for_pycocotools(r) for r in pred_rles],
            [rle_for_pycocotools(r) for r in gt_rles],
            [0] * len(gt_rles),
        ),
        dtype=np.float64,
    ).reshape(len(pred_rles), len(gt_rles))
    rows, cols = linear_sum_assignment(iou, maximize=True)
    return [(int(r), int(c), float(iou[r, c])) for r, c in zip(rows, cols) if iou[r, c] > 0]


def coco_map(coco_gt: COCO, results: List[Dict[str, object]]) -> Dict[str, object]:
    """Class-agnostic COCO mask AP of ``results`` (a COCO results list) against ``coco_gt``."""
    with contextlib.redirect_stdout(io.StringIO()):
        if results:
            coco_dt = coco_gt.loadRes(results)
        else:
            # loadRes cannot read an empty list; an empty detection set scores as pycocotools
            # does: 0, and -1 for the area ranges without a GT instance.
            coco_dt = COCO()
            coco_dt.dataset = dict(coco_gt.dataset, annotations=[])
            coco_dt.createIndex()
        ev = COCOeval(coco_gt, coco_dt, iouType="segm")
        ev.params.useCats = 0
        # Even with useCats = 0, COCOeval gathers an image's GT and detections over
        # params.catIds, which it takes from the file's 'categories': an instance whose
        # category_id that list lacks (or every one, for an empty list) would be left out of the
        # score without a word. Class-agnostic AP counts every instance, so every id used counts.
        used = {a["category_id"] for a in [*coco_gt.anns.values(), *coco_dt.anns.values()]}
        ev.params.catIds = sorted(used | set(coco_gt.getCatIds()))
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = [float(s) for s in ev.stats]
    return {"AP": stats[0], "AP50": stats[1], "AP75": stats[2], "stats": stats}


def image_results(
    image_id: int,
    instances: Sequence[Instance],
    gt_rles: Sequence[Dict[str, object]],
    category_id: int,
    protocol: str = "all",
) -> List[Dict[str, object]]:
    """COCO result entries (segm, no bbox) for one image under the chosen protocol."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {sorted(PROTOCOLS)}, got {protocol!r}")
    rles = [encode_rle(inst.mask) for inst in instances]
    keep = range(len(instances))
    if protocol == "matched":
        keep = sorted(p for p, _, _ in hungarian_match(rles, gt_rles))
    return [
        {
            "image_id": int(image_id),
            "category_id": int(category_id),
            "segmentation": rles[i],
            "score": float(instances[i].score),
        }
        for i in keep
    ]


def _paired_maps(
    coco_gt: COCO, pred_dir: PathLike, warn_unscored: bool, gt_where: PathLike = "the COCO GT"
) -> Tuple[List[Dict[str, object]], Dict[str, Path]]:
    """The GT's images in id order and the maps of ``pred_dir`` by stem; every image needs
    one, and maps the GT does not list are named in a warning. ``gt_where``: the GT file, as
    the error's hint names it."""
    preds = list_images(pred_dir)
    refuse_colour_images(preds.values(), pred_dir)  # the image folder, given as the maps
    images = [coco_gt.imgs[i] for i in sorted(coco_gt.getImgIds())]
    stems = {Path(im["file_name"]).stem: im["file_name"] for im in images}
    missing = [name for stem, name in stems.items() if stem not in preds]
    unscored = [preds[s].name for s in sorted(preds) if s not in stems]
    # A COCO file may list part of an image folder (COD10K's its CAM images, the overlap subset a
    # few), so unlike DIS this is no error; never silent, as it may be another split's folder.
    extra = f"{len(unscored)} prediction(s) in {pred_dir} have no image in the COCO GT: "
    extra += preview(unscored, LIST_LIMIT)
    if missing:
        hint = pairing_hint(
            [s for s in stems if s not in preds],
            [s for s in sorted(preds) if s not in stems],
            preds,
            pred_dir,
            gt_where,
        )
        raise EvaluationInputError(
            f"{len(missing)} GT image(s) have no prediction in {pred_dir}: "
            + preview(missing, LIST_LIMIT)
            + (f"; {extra}" if unscored else "")
            + hint
        )
    if unscored and warn_unscored:
        warnings.warn(f"{extra} (not scored)", UnscoredPredictionWarning, stacklevel=3)
    return images, preds


def evaluate_cos_folder(
    pred_dir: PathLike,
    gt_json: Union[PathLike, COCO, Mapping[str, object]],
    threshold: float = 0.5,
    min_area: int = 0,
    protocol: str = "all",
    resize_pred: bool = False,
    results_out: PathLike | None = None,
    progress: bool = True,
    warn_unscored: bool = True,
    before_writing: Optional[Callable[[], None]] = None,
) -> Dict[str, object]:
    """Instance AP of the probability maps in ``pred_dir`` against a COCO instance GT file.

    Arguments:
        pred_dir: folder of probability maps; a map's stem equals its COCO image's file_name stem.
        gt_json: COCO instance annotation file (or a COCO dict / loaded ``COCO``).
        threshold: binarisation threshold on the probability.
        min_area: smallest connected component kept as an instance, in pixels.
        protocol: ``all`` (standard COCO) or ``matched`` (paper: Hungarian-matched only).
        resize_pred: resize maps to the GT image size instead of raising on a mismatch.
        results_out: optional path for the COCO results JSON (written whole, under a
            temporary name first).
        progress: show a tqdm progress bar.
        warn_unscored: warn about maps the GT does not list (they are never scored).
        before_writing: called once every map has been read and checked, right before
            ``results_out`` is written (a command records its output names there: a scoring
            that fails earlier must not claim the file).
    The scores record the settings they were scored with (``protocol``, ``threshold``,
    ``min_area``, ``resize_pred``): ``python -m pmgsam.analysis overlap --run`` scores a
    subset as the run's full set was.
    A ``pred_dir`` of colour pictures (the dataset's image folder) is refused
    (:func:`~pmgsam.evaluation.map_checks.refuse_colour_images`).
    """
    from tqdm import tqdm

    coco_gt = load_coco(gt_json, require_instances=True)
    where = gt_json if isinstance(gt_json, (str, os.PathLike)) else "the COCO GT"
    images, preds = _paired_maps(coco_gt, pred_dir, warn_unscored, where)
    cat_ids = sorted(coco_gt.getCatIds()) or [1]
    results: List[Dict[str, object]] = []
    bad_size: List[str] = []
    turned: List[str] = []
    n_inst = n_gt = 0
    notes: List[Tuple[type, str]] = []  # the maps' warnings, one line per kind (as DIS scoring)
    label_maps: List[str] = []
    no_instance: List[str] = []  # listed images without a GT instance
    for im in tqdm(images, desc=f"COS instances ({protocol})", unit="img", disable=not progress):
        path = preds[Path(im["file_name"]).stem]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            prob = load_mask(path, "prediction", labels_01=False)
        notes.extend((w.category, str(w.message)) for w in caught)
        if looks_like_labels(prob, threshold):
            label_maps.append(path.name)
        h, w = int(im["height"]), int(im["width"])
        if prob.shape != (h, w):
            turn = turned_by_90(prob.shape, (h, w))
            if not resize_pred or turn:
                bad = turned if turn else bad_size
                bad.append(f"{path.name} {prob.shape[1]}x{prob.shape[0]} vs GT {w}x{h}")
                continue
            prob = cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR)
        insts = split_instances(prob, threshold=threshold, min_area=min_area)
        n_inst += len(insts)
        gt_rles = instance_rles(coco_gt, im["id"])
        # Crowd regions are no instances: COCOeval ignores them, and so does this count.
        n_gt += len(gt_rles)
        # A crowd region is an annotation: COCOeval ignores the instances predicted on it,
        # so an image holding one alone was annotated and its predictions there are no FPs.
        if not coco_gt.getAnnIds(imgIds=[im["id"]]):
            no_instance.append(str(im["file_name"]))
        results.extend(image_results(im["id"], insts, gt_rles, cat_ids[0], protocol))
    reissue_warnings(notes)
    _warn_of_label_maps(label_maps, len(images), threshold)
    if no_instance:
        # Instance masks drawn for some images only, all listed: the others' objects would
        # lower the AP as false positives without a word.
        warnings.warn(
            f"{len(no_instance)} of the {len(images)} image(s) listed in {where} have no "
            f"annotation: {preview(no_instance, LIST_LIMIT)}; every instance "
            "predicted on them counts as a false positive. If their instances were not "
            "annotated, leave them out of the file's 'images' (an image it does not list is "
            "not scored)",
            NoInstanceImageWarning,
            stacklevel=2,
        )
    refuse_size_mismatches(turned, bad_size)
    if before_writing is not None:
        before_writing()
    if results_out is not None:
        write_text_atomic(results_out, json.dumps(results))
    scores = coco_map(coco_gt, results)
    scores.update(
        protocol=protocol,
        protocol_description=PROTOCOLS[protocol],
        threshold=threshold,
        min_area=min_area,
        resize_pred=resize_pred,
        num_images=len(images),
        num_gt_instances=n_gt,
        num_pred_instances=n_inst,
        num_results=len(results),
    )
    return scores
