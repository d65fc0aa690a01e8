"""Run a baseline over a dataset split: maps, COCO instances, scores and the image to time
(the efficiency block: :mod:`pmgsam.baselines.efficiency`).

* Box prompts: DIS prompts ONE tight box around the whole GT mask (an empty GT has no box: its map
  is all zero and it is counted). COD10K/NC4K prompt one box per GT instance (from the COCO
  instance masks; crowd regions get none); each predicted mask (> 0.5) is a COCO instance
  scored by the model's predicted IoU, and the PNG map is their pixel-wise maximum. A map
  holding NaN is saved as 0 there, and the run ends with one warning listing those maps.
* Automatic modes (SAM/SAM2 generator, E-SAM): every mask is a COCO instance (COS, and a folder
  dataset's splits with instance labels) and ``--reduce`` turns them into one DIS map (union,
  largest, or the GT-reading oracle).

Maps go to ``<out>/pred/<split>/<name>.png`` (8-bit, original size); COS instances to
``<out>/metrics/<split>.results.json`` with the GT of the predicted images in ``<split>.gt.json``
(a folder dataset's: ``<split>.cos.results.json`` and ``<split>.cos.gt.json``).

With ``skip_existing`` a stopped run resumes: an image whose map and record the same producer
made from the same files is not read again (:mod:`pmgsam.baselines.resume`). An image that cannot
be read stops the run, naming it, or with ``keep_going`` gets no map while the others are
predicted (:mod:`pmgsam.engine.unreadable`).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
from tqdm import tqdm

from pmgsam.baselines.base import Baseline, Prediction, gt_box, instance_boxes, reduce_masks
from pmgsam.baselines.efficiency import measure_efficiency, model_side, prediction_flops
from pmgsam.baselines.resume import (
    RECORDS,
    append_record,
    baseline_sources,
    image_record,
    read_records,
    write_records,
)
from pmgsam.baselines.row_scores import (
    score_dis_maps,
    score_instances,
    score_predicted_instances,
    subset_mark,
)
from pmgsam.data.io import DataError
from pmgsam.engine.inference import write_probability_png
from pmgsam.engine.predictor import NAN_CAUSE, NaNPredictionWarning
from pmgsam.engine.unreadable import FailedInputs
from pmgsam.utils.messages import counted, preview
from pmgsam.utils.outputs import (
    check_output_dir,
    dataset_folders,
    finished_maps,
    prepare_output_dir,
    settle_output_dir,
)
from pmgsam.utils.rle import encode_rle

INSTANCE_THRESHOLD = 0.5  # a box-prompted probability map becomes an instance above this
COUNTS = ("empty_gt", "empty_gt_instances", "no_masks", "masks")

# The scores live in pmgsam.baselines.row_scores and the timing in pmgsam.baselines.efficiency;
# importable from here as before.
__all__ = ["coco_instances", "measure_efficiency", "model_side", "prediction_flops"]
__all__ += ["run_baseline", "score_dis_maps", "score_instances", "subset_mark"]

logger = logging.getLogger(__name__)


def coco_instances(image_id: int, pred: Prediction) -> List[Dict[str, Any]]:
    """COCO results entries (segm RLE, class 1, score = predicted IoU) of one image's masks."""
    return [
        {
            "image_id": int(image_id),
            "category_id": 1,
            "segmentation": encode_rle(mask > INSTANCE_THRESHOLD),
            "score": float(score),
        }
        for mask, score in zip(pred.masks, pred.scores)
        if (mask > INSTANCE_THRESHOLD).any()
    ]


def predicted_count(dataset: Any, limit: Optional[int]) -> int:
    """How many images of ``dataset`` :func:`run_baseline` predicts: the first ``limit``, or
    all; a check made before it runs must look at the same images' maps."""
    return len(dataset) if limit is None else min(limit, len(dataset))


def run_baseline(
    baseline: Baseline,
    dataset: Any,
    out_dir: str | Path,
    split: str,
    reduce: str = "union",
    cos: bool = False,
    limit: Optional[int] = None,
    progress: bool = True,
    overwrite: bool = False,
    producer: Optional[Dict[str, Any]] = None,
    skip_existing: bool = False,
    keep_going: bool = False,
    timing: bool = True,
    gt: Optional[Dict[str, Any]] = None,
    gt_unreadable: Optional[Dict[str, str]] = None,
    cos_stem: Optional[str] = None,
) -> Dict[str, Any]:
    """Predict ``dataset`` with ``baseline`` into ``<out_dir>/pred/<split>/<name>.png``.

    Arguments:
        baseline: a loaded baseline (box or automatic).
        dataset: a :func:`pmgsam.data.build_dataset` dataset (``names``, ``load``, ``coco_gt``).
        out_dir: run folder.
        split: split name, used for the output paths.
        reduce: automatic modes: how the masks become one DIS map (see ``reduce_masks``).
        cos: COCO instances written and scored (a COS dataset, or a folder dataset's split
            with instance labels); box prompts: one per GT instance.
        limit: predict only the first ``limit`` images.
        progress: show a tqdm bar.
        overwrite: allow a prediction folder holding files this tool did not write, or maps it
            wrote that were changed since (never one of the dataset's folders; see
            :func:`pmgsam.utils.outputs.prepare_output_dir`).
        producer: what makes the maps (:func:`pmgsam.baselines.resume.baseline_producer`),
            recorded in the folder's manifest; needed by ``skip_existing``.
        skip_existing: keep the maps (and records) that ``producer`` made from the same files
            and predict only the other images; a folder of another producer's maps is refused,
            and so is one holding maps changed since written unless ``overwrite`` (then they
            are predicted again, one warning naming them).
        keep_going: an image that cannot be read gets no map and the others are predicted;
            the summary then lists them under ``failed`` and COS instances are not scored.
            Otherwise the first one raises :class:`~pmgsam.data.errors.DataError` naming it.
        timing: return the first prompted image for timing even when it was kept (it is
            read again); otherwise only when this call predicted it.
        gt: COS: the dataset's COCO ground truth when already built (else it is built here).
        gt_unreadable: with ``gt``: ``{name: reason}`` of the images left out of it because
            their header cannot be read (``keep_going``); each is a failed image of the split.
        cos_stem: COS: the scores' file name in ``metrics/`` without ``.json`` (the split's
            by default; a folder dataset's ``<split>.cos``, beside its DIS metrics).
    Returns a summary: paths, counts, the first prompted image (for timing) and COS scores.
    """
    out_dir = Path(out_dir)
    pred_dir = out_dir / "pred" / split
    n = predicted_count(dataset, limit)
    reads_gt = getattr(baseline, "prompt", None) == "box" or reduce == "oracle"
    sources = baseline_sources(dataset, n, reads_gt)
    kept: Dict[str, Dict[str, Any]] = {}
    if skip_existing:
        if producer is None:
            raise ValueError("skip_existing needs the producer of the maps")
        # Refused (a file of the user's, a map edited since) before it is planned as redone.
        check_output_dir(pred_dir, [*sources, RECORDS], dataset_folders(dataset), overwrite,
                         "--output-dir")  # fmt: skip
        done = finished_maps(pred_dir, producer, "--output-dir", sources, warn=True)
        kept = read_records(pred_dir, done, sources)
    failures = FailedInputs(keep_going, f"split {split}", [pred_dir])  # before names are recorded
    prepare_output_dir(
        pred_dir, [*sources, RECORDS], dataset_folders(dataset), overwrite, "--output-dir",
        "baselines", producer, sources, kept=list(kept),
    )  # fmt: skip
    write_records(pred_dir, kept)  # the records of other maps go: those are predicted again
    gt_images = _CocoImages(dataset, split, keep_going, gt, gt_unreadable) if cos else None
    results: List[Dict[str, Any]] = []
    image_ids: List[int] = []
    counts = dict.fromkeys(COUNTS, 0)
    timing_input, timing_index, timing_id = None, None, None
    nan_maps: List[str] = []  # one warning for the run, as inference gives, not one per map
    desc = f"{baseline.label} {baseline.mode} → {pred_dir}"
    # As benchmark mode logs it: with --quiet (no bar), the one line naming the maps' folder.
    if n > len(kept):
        logger.info(
            "predicting %s of split %s → %s", counted(n - len(kept), "image"), split, pred_dir
        )
    try:
        for i in tqdm(range(n), desc=desc, unit="img", disable=not progress):
            name = f"{dataset.names[i]}.png"
            image_id = None
            if gt_images is not None and dataset.names[i] in gt_images.unreadable:
                failures(dataset.names[i], gt_images.unreadable[dataset.names[i]])
                continue
            if gt_images is not None:
                image_id = gt_images.image_id(Path(dataset.image_paths[i]).stem)
                image_ids.append(image_id)
            record = kept.get(name)
            if record is None:
                try:
                    image, gt = _load(dataset, i)
                except DataError as err:
                    failures(dataset.names[i], str(err))
                    continue
                image_counts = dict.fromkeys(COUNTS, 0)
                boxes = _box_prompts(baseline, gt, gt_images, image_id, image_counts)
                prompted, instances = _predict_image(
                    baseline, image, gt, boxes, image_id, reduce, pred_dir / name, image_counts,
                    nan_maps,
                )  # fmt: skip
                record = image_record(name, sources[name], image_counts, prompted, instances)
                append_record(pred_dir, record)
                if record["prompted"] and timing_index is None:
                    timing_input = (image, boxes)
            if record["prompted"] and timing_index is None:
                # its id, not its place: an unreadable image before it has no id in image_ids
                timing_index, timing_id = i, image_id
            for key in COUNTS:
                counts[key] += record["counts"][key]
            results.extend({**entry, "image_id": image_id} for entry in record["instances"])
    finally:
        failures.record([pred_dir])
        _warn_nan_maps(nan_maps, baseline.label)
    done = [name for name in sources if name[: -len(".png")] not in failures.failed]
    settle_output_dir(pred_dir, [*done, RECORDS], kept=list(kept))
    if timing and timing_input is None and timing_index is not None:  # a kept image: read again
        image, gt = _load(dataset, timing_index)
        timing_input = (
            image,
            _box_prompts(baseline, gt, gt_images, timing_id, dict.fromkeys(COUNTS, 0)),
        )
    if counts["no_masks"]:
        _warn_no_masks(counts["no_masks"], n, split, baseline.label)
    summary: Dict[str, Any] = {
        "split": split,
        "pred_dir": str(pred_dir),
        "num_images": n,
        "num_dataset_images": len(dataset),
        **counts,
        "timing_input": timing_input,
    }
    if failures.failed:
        return {**summary, "failed": failures.failed}  # not scored: images have no map
    if gt_images is not None:
        summary.update(
            score_predicted_instances(
                baseline, gt_images, image_ids, results, out_dir, summary, cos_stem
            )
        )
    return summary


def _load(dataset: Any, i: int) -> Tuple[np.ndarray, np.ndarray]:
    """``dataset.load(i)`` with a writable image: PIL's arrays are read-only, which SAM2's
    ``to_tensor`` warns of, at prediction and when the image is timed."""
    image, gt = dataset.load(i)
    return (image if image.flags.writeable else image.copy()), gt


def _predict_image(
    baseline: Baseline,
    image: np.ndarray,
    gt: np.ndarray,
    boxes: Optional[np.ndarray],
    image_id: Optional[int],
    reduce: str,
    out_png: Path,
    counts: Dict[str, int],
    nan_maps: List[str],
) -> Tuple[bool, List[Dict[str, Any]]]:
    """Predict one image, write its map to ``out_png`` and add to its ``counts``: (whether the
    model was prompted, its COCO instances when it has an ``image_id``); a map holding NaN is
    noted in ``nan_maps``."""
    if boxes is not None and len(boxes) == 0:
        counts["empty_gt"] += 1
        write_probability_png(torch.zeros(gt.shape), out_png)
        return False, []
    counts["empty_gt"] += int(boxes is None and not gt.any())  # scored all the same
    pred = baseline.predict(image, boxes)
    counts["masks"] += len(pred.masks)
    counts["no_masks"] += int(not pred.masks)
    instances = coco_instances(image_id, pred) if image_id is not None else []
    one_map = torch.from_numpy(_one_map(baseline, pred, reduce, gt))
    write_probability_png(one_map, out_png, nan_maps)
    return True, instances


def _warn_nan_maps(nan_maps: List[str], label: str) -> None:
    """One :class:`~pmgsam.engine.prediction_maps.NaNPredictionWarning` listing the maps that held
    NaN (also when the run stopped early: those maps stay written)."""
    if nan_maps:
        warnings.warn(
            f"{len(nan_maps)} map(s) of {label} held NaN probabilities, saved as 0 "
            f"(background): {preview(nan_maps, 5)}; {NAN_CAUSE}",
            NaNPredictionWarning,
            stacklevel=3,
        )


def _warn_no_masks(no_masks: int, n: int, split: str, label: str) -> None:
    logger.warning(
        "%d of %d images of %s got no mask from %s: their maps are empty (a strict "
        "threshold, or untrained weights)",
        no_masks,
        n,
        split,
        label,
    )


class _CocoImages:
    """The COCO GT of a COS split: image ids by file stem, and subsets of it.

    Arguments:
      dataset: a COS dataset (``coco_gt``).
      split (str): its name, for errors.
      keep_going: building the GT here, leave out the images whose header cannot be read
        (recorded in ``unreadable``) instead of refusing them.
      gt: the dataset's COCO ground truth, when already built.
      unreadable: with ``gt``, ``{name: reason}`` of the images left out of it.
    """

    def __init__(
        self,
        dataset: Any,
        split: str,
        keep_going: bool = False,
        gt: Optional[Dict[str, Any]] = None,
        unreadable: Optional[Dict[str, str]] = None,
    ) -> None:
        from pmgsam.data.instance_labels import coco_gt_with_unreadable
        from pmgsam.evaluation.coco_gt import load_coco

        self.split = split
        self.unreadable: Dict[str, str] = dict(unreadable or {})
        if gt is None:
            gt, left_out = coco_gt_with_unreadable(dataset, keep_going)
            self.unreadable.update(left_out)
        self.gt = gt
        # Every image unreadable: nothing to prompt or score (and pycocotools refuses an
        # empty GT), as each one is a failed image of the split.
        self.coco = load_coco(self.gt) if self.gt["images"] else None
        self.ids = {Path(im["file_name"]).stem: im["id"] for im in self.gt["images"]}

    def image_id(self, stem: str) -> int:
        if stem not in self.ids:
            raise DataError(f"image '{stem}' is not in the COCO ground truth of {self.split}")
        return self.ids[stem]

    def subset(self, image_ids: List[int]) -> Dict[str, Any]:
        """The GT restricted to ``image_ids`` (images and their annotations)."""
        keep = set(image_ids)
        subset = dict(self.gt, images=[im for im in self.gt["images"] if im["id"] in keep])
        subset["annotations"] = [a for a in self.gt["annotations"] if a["image_id"] in keep]
        return subset


def _box_prompts(
    baseline: Baseline,
    gt: np.ndarray,
    gt_images: Optional[_CocoImages],
    image_id: Optional[int],
    counts: Dict[str, int],
) -> Optional[np.ndarray]:
    """An image's box prompts, (N, 4): one per GT instance (COS, image ``image_id`` of
    ``gt_images``) or one around the GT mask (DIS); none for an empty GT. None in automatic
    modes."""
    if baseline.prompt != "box":
        return None
    if gt_images is not None:
        boxes, empty = instance_boxes(gt_images.coco, image_id)
        counts["empty_gt_instances"] += empty
        return boxes
    box = gt_box(gt)
    return np.zeros((0, 4), np.float32) if box is None else box[None]


def _one_map(baseline: Baseline, pred: Prediction, reduce: str, gt: np.ndarray) -> np.ndarray:
    """The probability map of one image: box masks' maximum, or automatic masks reduced."""
    if baseline.prompt == "box":
        return np.maximum.reduce(pred.masks)
    return reduce_masks(pred.masks, reduce, gt.shape, gt).astype(np.float32)
