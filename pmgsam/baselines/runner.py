"""Run a baseline over a dataset split: maps, COCO instances, scores and the efficiency block.

* Box prompts: DIS prompts ONE tight box around the whole GT mask (an empty GT has no box: its map
  is all zero and it is counted). COD10K/NC4K prompt one box per GT instance (from the COCO
  instance masks); each predicted mask (> 0.5) is a COCO instance scored by the model's predicted
  IoU, and the PNG map is their pixel-wise maximum.
* Automatic modes (SAM/SAM2 generator, E-SAM): every mask is a COCO instance (COS) and
  ``--reduce`` turns them into one DIS map (union, largest, or the GT-reading oracle).

Maps go to ``<out>/pred/<split>/<name>.png`` (8-bit, original size); COS instances to
``<out>/metrics/<split>.results.json`` with the GT of the predicted images in ``<split>.gt.json``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from tqdm import tqdm

from pmgsam.baselines.base import Baseline, Prediction, gt_box, instance_boxes, reduce_masks
from pmgsam.data.io import DataError
from pmgsam.efficiency import count_parameters, measure_speed
from pmgsam.efficiency.flops import count_call_flops
from pmgsam.engine.inference import write_probability_png
from pmgsam.utils.outputs import dataset_folders, prepare_output_dir
from pmgsam.utils.rle import encode_rle

INSTANCE_THRESHOLD = 0.5  # a box-prompted probability map becomes an instance above this

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
    gt: Optional[Dict[str, Any]] = None,
) -> Dict[str, Any]:
    """Predict ``dataset`` with ``baseline`` into ``<out_dir>/pred/<split>/<name>.png``.

    Arguments:
        baseline: a loaded baseline (box or automatic).
        dataset: a :func:`pmgsam.data.build_dataset` dataset (``names``, ``load``, ``coco_gt``).
        out_dir: run folder.
        split: split name, used for the output paths.
        reduce: automatic modes: how the masks become one DIS map (see ``reduce_masks``).
        cos: COS dataset: per-instance boxes, COCO instances written and scored.
        limit: predict only the first ``limit`` images.
        progress: show a tqdm bar.
        overwrite: allow a prediction folder holding files this tool did not write (never one
            of the dataset's folders; see :func:`pmgsam.utils.outputs.prepare_output_dir`).
        gt: COS: the dataset's COCO ground truth when already built (else it is built here).
    Returns a summary: paths, counts, the first prompted image (for timing) and COS scores.
    """
    out_dir = Path(out_dir)
    pred_dir = out_dir / "pred" / split
    n = len(dataset) if limit is None else min(limit, len(dataset))
    names = [f"{name}.png" for name in dataset.names[:n]]
    prepare_output_dir(
        pred_dir, names, dataset_folders(dataset), overwrite, "--output-dir", "baselines"
    )
    gt_images = _CocoImages(dataset, split, gt) if cos else None
    results: List[Dict[str, Any]] = []
    image_ids: List[int] = []
    counts = {"empty_gt": 0, "empty_gt_instances": 0, "no_masks": 0, "masks": 0}
    timing_input = None
    desc = f"{baseline.label} {baseline.mode} → {pred_dir}"
    for i in tqdm(range(n), desc=desc, unit="img", disable=not progress):
        image, gt = dataset.load(i)
        out_png = pred_dir / f"{dataset.names[i]}.png"
        image_id = None
        if gt_images is not None:
            image_id = gt_images.image_id(Path(dataset.image_paths[i]).stem)
            image_ids.append(image_id)
        boxes = _box_prompts(baseline, gt, gt_images, image_id, counts)
        if boxes is not None and len(boxes) == 0:
            counts["empty_gt"] += 1
            write_probability_png(torch.zeros(gt.shape), out_png)
            continue
        counts["empty_gt"] += int(boxes is None and not gt.any())  # scored all the same
        pred = baseline.predict(image, boxes)
        timing_input = timing_input or (image, boxes)
        counts["masks"] += len(pred.masks)
        counts["no_masks"] += int(not pred.masks)
        if image_id is not None:
            results.extend(coco_instances(image_id, pred))
        write_probability_png(torch.from_numpy(_one_map(baseline, pred, reduce, gt)), out_png)
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
    if gt_images is not None:
        summary.update(
            _score_predicted_instances(baseline, gt_images, image_ids, results, out_dir, summary)
        )
    return summary


def _warn_no_masks(no_masks: int, n: int, split: str, label: str) -> None:
    logger.warning(
        "%d of %d images of %s got no mask from %s: their maps are empty (a strict "
        "threshold, or untrained weights)",
        no_masks,
        n,
        split,
        label,
    )


def _score_predicted_instances(
    baseline: Baseline,
    gt_images: _CocoImages,
    image_ids: List[int],
    results: List[Dict[str, Any]],
    out_dir: Path,
    summary: Dict[str, Any],
) -> Dict[str, Any]:
    """Write the GT of the predicted images to ``<split>.gt.json`` and score ``results``
    against it: ``{"gt_json": its path, "cos": the scores}`` for ``summary``."""
    split = summary["split"]
    # With --limit, AP is over the predicted images only: the GT keeps just those.
    gt_subset = gt_images.subset(image_ids)
    gt_json = out_dir / "metrics" / f"{split}.gt.json"
    gt_json.parent.mkdir(parents=True, exist_ok=True)
    gt_json.write_text(json.dumps(gt_subset))
    source = (
        "one GT-instance box per instance, mask > 0.5, score = predicted IoU"
        if baseline.prompt == "box"
        else f"{baseline.mode} masks as instances, score = predicted IoU"
    )
    cos = score_instances(out_dir, split, gt_subset, results, source, subset_mark(summary))
    return {"gt_json": str(gt_json), "cos": cos}


class _CocoImages:
    """The COCO GT of a COS split: image ids by file stem, and subsets of it.

    Arguments:
      dataset: a COS dataset (``coco_gt``).
      split (str): its name, for errors.
      gt: the dataset's COCO ground truth, when already built.
    """

    def __init__(self, dataset: Any, split: str, gt: Optional[Dict[str, Any]] = None) -> None:
        from pmgsam.evaluation.coco_gt import load_coco

        self.split = split
        self.gt = dataset.coco_gt() if gt is None else gt
        self.coco = load_coco(self.gt)
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


def score_instances(
    out_dir: Path,
    split: str,
    gt: Dict[str, Any],
    results: List[Dict[str, Any]],
    source: str,
    extra: Optional[Dict[str, Any]] = None,
) -> Dict[str, Any]:
    """Write the COCO results JSON and return their COCO mask AP against ``gt`` (with
    ``extra`` entries, also in the written scores)."""
    from pmgsam.evaluation.coco_gt import load_coco
    from pmgsam.evaluation.instances import coco_map

    metrics = out_dir / "metrics"
    (metrics / f"{split}.results.json").write_text(json.dumps(results))
    scores = coco_map(load_coco(gt), results)
    scores.update(
        protocol="all",
        source=source,
        num_images=len(gt["images"]),
        num_gt_instances=len(gt["annotations"]),
        num_results=len(results),
        results_file=f"{split}.results.json",
        **(extra or {}),
    )
    (metrics / f"{split}.json").write_text(json.dumps(scores, indent=2) + "\n")
    return scores


def score_dis_maps(
    dataset: Any, summary: Dict[str, Any], out_dir: Path, workers: int = 1
) -> Dict[str, Any]:
    """DIS metrics of the predicted maps (the first ``num_images`` of the split)."""
    from pmgsam.evaluation.scoring import evaluate_dis_pairs, write_dis_results

    split, pred_dir = summary["split"], Path(summary["pred_dir"])
    out = out_dir / "metrics" / f"{split}.json"
    skes = dataset.skeleton_paths or [None] * len(dataset)
    names = dataset.names[: summary["num_images"]]
    pairs = [(s, pred_dir / f"{s}.png", g, k) for s, g, k in zip(names, dataset.mask_paths, skes)]
    metrics, per_image = evaluate_dis_pairs(pairs, workers=workers, progress=False)
    write_dis_results(out, metrics, per_image, {"split": split, **subset_mark(summary)})
    return json.loads(out.read_text())


def subset_mark(summary: Dict[str, Any]) -> Dict[str, str]:
    """``{"subset": ...}`` for scores of only part of a split (``--limit``), which the tables
    note beside the row, else nothing."""
    n, total = summary["num_images"], summary["num_dataset_images"]
    return {"subset": f"first {n} of {total} images (--limit)"} if n < total else {}


class _WholePrediction(torch.nn.Module):
    """What ``measure_speed`` times: the baseline's whole ``predict`` on one image (its
    preprocessing, every forward pass and all post-processing), the image held on the host as
    the packages take it."""

    def __init__(self, baseline: Baseline, image: np.ndarray, boxes: Optional[np.ndarray]):
        super().__init__()
        self.baseline, self.image, self.boxes = baseline, image, boxes

    def forward(self, token: torch.Tensor) -> Prediction:
        return self.baseline.predict(self.image, self.boxes)


def prediction_flops(
    baseline: Baseline, image: np.ndarray, boxes: Optional[np.ndarray]
) -> Dict[str, float]:
    """FLOPs of one whole ``predict`` of ``image``: ``total`` and the ``image_encoder`` part.

    Counted by ``torch.utils.flop_counter.FlopCounterMode`` like PMG-SAM's (matrix products and
    convolutions, a multiply-add = 2 FLOPs), over everything the prediction runs: the image
    encoder once and the mask decoder for every prompt batch (an automatic mode's 32x32 grid
    included), so the number compares with PMG-SAM's one pass per image.
    """
    encoder = getattr(baseline.model, "image_encoder", None)
    return count_call_flops(lambda: baseline.predict(image, boxes), encoder)


def model_side(model: torch.nn.Module) -> Optional[int]:
    """The input side a SAM (``image_encoder.img_size``) or SAM2.1 (``image_size``) model
    resizes every image to; None for a model that records neither."""
    side = getattr(model, "image_size", None)
    return side or getattr(getattr(model, "image_encoder", None), "img_size", None)


def measure_efficiency(
    baseline: Baseline,
    image: np.ndarray,
    boxes: Optional[np.ndarray],
    iters: int,
    warmup: int,
) -> Dict[str, Any]:
    """A ``pmgsam.efficiency``-style report (params, FLOPs, speed) of the baseline on one image,
    with the same timing harness (``measure_speed``, fp32, CUDA-synchronised)."""
    device = next(baseline.model.parameters()).device
    token = torch.zeros(1, device=device)  # batch of one; sets the device to synchronise
    # On a CPU one automatic-mode prediction takes tens of seconds: say why the run pauses.
    logger.info(
        "timing the whole prediction of one image on %s: %d passes after %d warm-up, plus one "
        "counting FLOPs (--speed-iters 0 skips it)", device, iters, warmup,
    )  # fmt: skip
    flops = prediction_flops(baseline, image, boxes)
    speed = measure_speed(_WholePrediction(baseline, image, boxes), token, "fp32", iters, warmup)
    return {
        "params": count_parameters(baseline.model),
        "flops_per_image": flops,
        "speed": speed,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "dtype": "fp32",
        "batch": 1,
        "image_size": model_side(baseline.model),
        "timed_image_size": list(image.shape[:2]),
        "timed_prompts": None if boxes is None else len(boxes),
        "iters": iters,
        "warmup": warmup,
    }
