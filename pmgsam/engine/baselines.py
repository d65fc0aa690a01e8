"""SAM baselines (ViT-B/L/H) predicted and scored through the PMG-SAM evaluation pipeline.

    python -m pmgsam.engine.baselines --config configs/pmgsam_dis5k.yaml --split DIS-TE1 \\
        --sam-checkpoint weights/sam_vit_h_4b8939.pth --model-type vit_h --mode auto \\
        --out-dir results/sam_vit_h_auto [--reduce union|largest|oracle] [--points-per-side 32] \\
        [--device auto|cpu|cuda] [--limit N] [--score] [key=value config overrides]

* ``box``: SAM prompted with the tight box of the GT mask (XYXY, inclusive pixel indices of the
  original image, as segment-anything's ``batched_mask_to_box``), ``multimask_output=False``; the
  map is the sigmoid of SAM's logits at the original size. An empty GT has no box: its map is all
  zero and it is counted (``empty_gt`` in run.json meta).
* ``auto``: ``SamAutomaticMaskGenerator`` ("segment everything"), :class:`AutoSettings`.

"Everything" is many masks; DIS scores ONE map per image and the paper does not say how it was
formed, so ``--reduce`` chooses (maps are binary, 0 or 255):

* ``union`` (default): the union of all generated masks;
* ``largest``: the generated mask with the most pixels;
* ``oracle``: the generated mask with the highest IoU against the GT (empty when none overlaps).
  It reads the GT, so it is an ORACLE UPPER BOUND of SAM's masks, not a comparable baseline.

COS datasets (``cod10k``, ``nc4k``) in auto mode: every generated mask is a COCO instance scored
by SAM's ``predicted_iou``, written to ``<out>/metrics/<split>.results.json`` and scored with
:func:`pmgsam.evaluation.instances.coco_map` (class-agnostic, all instances, COCO's 100
detections per image). The GT restricted to the predicted images goes to
``<out>/metrics/<split>.gt.json`` so the PNG maps can also be scored with ``evaluate.py``.

Speed (run.json ``efficiency.fps``): wall time of SAM's preprocessing, forward passes and
postprocessing (auto mode: SAM's filtering and NMS) per image, synchronised on CUDA; reading
images, the reduction and PNG writing are EXCLUDED, as is the first image (warm-up) when more
than one image ran. fp32 throughout.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
from segment_anything import SamAutomaticMaskGenerator, SamPredictor, sam_model_registry
from segment_anything.modeling import Sam
from tqdm import tqdm

from pmgsam.engine.distributed import resolve_device, synchronize
from pmgsam.engine.inference import write_probability_png
from pmgsam.evaluation.tables import COS_NAMES
from pmgsam.modeling.weights import check_state_dict, read_torch_checkpoint
from pmgsam.utils.cli import run_cli
from pmgsam.utils.outputs import dataset_folders, prepare_output_dir
from pmgsam.utils.rle import encode_rle

SAM_MODEL_TYPES = ("vit_b", "vit_l", "vit_h")
REDUCTIONS = ("union", "largest", "oracle")
MODES = ("auto", "box")
ORACLE_NOTE = "oracle upper bound: the mask chosen by IoU with the GT (not a fair baseline)"


def load_sam(model_type: str, checkpoint: str | Path, device: str | torch.device = "cpu") -> Sam:
    """A segment-anything model from a plain state-dict file, strictly, in eval mode.

    Raises :class:`~pmgsam.modeling.weights.CheckpointError` naming the file and its missing,
    unexpected or mis-shaped keys.
    """
    if model_type not in SAM_MODEL_TYPES:
        raise ValueError(f"model_type must be one of {SAM_MODEL_TYPES}, got {model_type!r}")
    state = read_torch_checkpoint(checkpoint)
    sam = sam_model_registry[model_type](checkpoint=None)
    check_state_dict(sam.state_dict(), state, str(checkpoint))
    sam.load_state_dict(state, strict=True)
    return sam.to(device).eval()


def gt_box(mask: np.ndarray) -> Optional[np.ndarray]:
    """Tight XYXY box (inclusive pixel indices) of a binary mask; ``None`` when it is empty."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return np.array([xs.min(), ys.min(), xs.max(), ys.max()], dtype=np.float32)


def predict_box(predictor: SamPredictor, image: np.ndarray, box: np.ndarray) -> torch.Tensor:
    """Foreground probability (H, W) at the original size for one XYXY box prompt."""
    predictor.set_image(image)
    logits, _, _ = predictor.predict(box=box, multimask_output=False, return_logits=True)
    return torch.sigmoid(torch.from_numpy(logits[0]).float())


def reduce_masks(
    masks: Sequence[np.ndarray], how: str, shape: Sequence[int], gt: Optional[np.ndarray] = None
) -> np.ndarray:
    """One boolean (H, W) map from generated masks (see the module doc); no mask → all False.

    Ties (equal area or IoU) go to the earliest mask.
    """
    if how not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {REDUCTIONS}, got {how!r}")
    out = np.zeros(tuple(shape), dtype=bool)
    if not masks:
        return out
    if how == "union":
        for m in masks:
            out |= m.astype(bool)
        return out
    if how == "largest":
        return masks[int(np.argmax([int(m.sum()) for m in masks]))].astype(bool)
    if gt is None:
        raise ValueError("reduce='oracle' needs the GT mask")
    gt = gt.astype(bool)
    ious = [(m & gt).sum() / max((m | gt).sum(), 1) for m in (x.astype(bool) for x in masks)]
    best = int(np.argmax(ious))
    return masks[best].astype(bool) if ious[best] > 0 else out


@dataclass
class AutoSettings:
    """``SamAutomaticMaskGenerator`` settings (defaults = segment-anything's, tuned for ViT-H).

    Arguments:
        points_per_side: point grid is points_per_side² prompts.
        points_per_batch: prompts per decoder batch (memory only, not results).
        pred_iou_thresh: drop masks whose predicted IoU is not above this (0 keeps all).
        stability_score_thresh: drop masks less stable than this (0 keeps all).
        box_nms_thresh: box IoU of the non-maximum suppression of duplicates.
        crop_n_layers: extra crop layers (0 = whole image only).
        min_mask_region_area: remove holes/islands smaller than this many pixels (0 = off).
    """

    points_per_side: int = 32
    points_per_batch: int = 64
    pred_iou_thresh: float = 0.88
    stability_score_thresh: float = 0.95
    box_nms_thresh: float = 0.7
    crop_n_layers: int = 0
    min_mask_region_area: int = 0

    def generator(self, sam: Sam) -> SamAutomaticMaskGenerator:
        return SamAutomaticMaskGenerator(sam, output_mode="binary_mask", **asdict(self))


def coco_instances(image_id: int, records: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """COCO results entries (segm RLE, class 1, score = SAM's predicted IoU) of generated masks."""
    return [
        {
            "image_id": int(image_id),
            "category_id": 1,
            "segmentation": encode_rle(r["segmentation"]),
            "score": float(r["predicted_iou"]),
        }
        for r in records
    ]


def run_baseline(
    sam: Sam,
    dataset: Any,
    mode: str,
    out_dir: str | Path,
    split: str,
    reduce: str = "union",
    settings: Optional[AutoSettings] = None,
    cos: bool = False,
    limit: Optional[int] = None,
    progress: bool = True,
    overwrite: bool = False,
) -> Dict[str, Any]:
    """Predict ``dataset`` into ``<out_dir>/pred/<split>/<name>.png`` (original size).

    Arguments:
        sam: a loaded SAM (see :func:`load_sam`).
        dataset: a :func:`pmgsam.data.build_dataset` dataset (``names``, ``load``, ``coco_gt``).
        mode: ``box`` or ``auto``.
        out_dir: run folder.
        split: split name, used for the output paths.
        reduce: auto mode: how the masks become one map (``union``, ``largest``, ``oracle``).
        settings: auto mode generator settings (defaults when ``None``).
        cos: COS dataset: write its COCO GT (predicted images only) and, in auto mode, write
            and score the generated masks as COCO instances.
        limit: predict only the first ``limit`` images.
        progress: show a tqdm bar.
        overwrite: allow a prediction folder holding files this tool did not write.
    Returns a summary: paths, counts, timing and (COS auto mode) the COCO scores.
    """
    if mode not in MODES or reduce not in REDUCTIONS:
        raise ValueError(f"mode/reduce must be in {MODES}/{REDUCTIONS}, got {mode!r}/{reduce!r}")
    out_dir = Path(out_dir)
    pred_dir = out_dir / "pred" / split
    n = len(dataset) if limit is None else min(limit, len(dataset))
    folders = dataset_folders(dataset)
    names = [f"{name}.png" for name in dataset.names[:n]]
    prepare_output_dir(pred_dir, names, folders, overwrite, "--out-dir", "baselines")
    device = sam.device
    predictor = SamPredictor(sam) if mode == "box" else None
    generator = (settings or AutoSettings()).generator(sam) if mode == "auto" else None
    coco_gt = dataset.coco_gt() if cos else None
    ids = {Path(im["file_name"]).stem: im["id"] for im in (coco_gt or {}).get("images", [])}
    results: List[Dict[str, Any]] = []
    image_ids: List[int] = []
    times: List[float] = []
    counts = {"empty_gt": 0, "no_masks": 0, "masks": 0}
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for i in tqdm(range(n), desc=f"SAM {mode} → {pred_dir}", unit="img", disable=not progress):
        image, gt = dataset.load(i)
        if coco_gt is not None:
            stem = Path(dataset.image_paths[i]).stem
            if stem not in ids:
                raise KeyError(f"image '{stem}' is not in the COCO ground truth of {split}")
            image_ids.append(ids[stem])
        box = gt_box(gt)
        counts["empty_gt"] += int(box is None)
        prob = torch.zeros(gt.shape, dtype=torch.float32)
        if mode == "box" and box is None:
            write_probability_png(prob, pred_dir / f"{dataset.names[i]}.png")
            continue
        synchronize(device)
        start = time.perf_counter()
        out = predict_box(predictor, image, box) if mode == "box" else generator.generate(image)
        synchronize(device)
        times.append(time.perf_counter() - start)
        if mode == "box":
            prob = out
        else:
            counts["masks"] += len(out)
            counts["no_masks"] += int(not out)
            masks = [r["segmentation"] for r in out]
            prob = torch.from_numpy(reduce_masks(masks, reduce, gt.shape, gt).astype(np.float32))
            if coco_gt is not None:
                results.extend(coco_instances(image_ids[-1], out))
        write_probability_png(prob, pred_dir / f"{dataset.names[i]}.png")
    # The first pass pays for allocator warm-up and kernel selection; leave it out when we can.
    timed = times[1:] if len(times) > 1 else times
    summary: Dict[str, Any] = {
        "split": split,
        "pred_dir": str(pred_dir),
        "num_images": n,
        "num_dataset_images": len(dataset),
        **counts,
        "images_per_s": len(timed) / sum(timed) if timed else None,
        "timed_images": len(timed),
        "peak_memory_MB": (
            torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
        ),
    }
    if coco_gt is not None:
        gt_json = out_dir / "metrics" / f"{split}.gt.json"
        gt_json.parent.mkdir(parents=True, exist_ok=True)
        # With --limit, AP is over the predicted images only: the GT keeps just those.
        keep = set(image_ids)
        gt_subset = dict(coco_gt, images=[im for im in coco_gt["images"] if im["id"] in keep])
        gt_subset["annotations"] = [a for a in coco_gt["annotations"] if a["image_id"] in keep]
        gt_json.write_text(json.dumps(gt_subset))
        summary["gt_json"] = str(gt_json)
        if mode == "auto":
            summary["cos"] = score_instances(out_dir, split, gt_subset, results)
    return summary


def score_instances(
    out_dir: Path, split: str, gt: Dict[str, Any], results: List[Dict[str, Any]]
) -> Dict[str, Any]:
    """Write the COCO results JSON and return their COCO mask AP against ``gt``."""
    from pmgsam.evaluation.instances import coco_map, load_coco

    metrics = out_dir / "metrics"
    (metrics / f"{split}.results.json").write_text(json.dumps(results))
    scores = coco_map(load_coco(gt), results)
    scores.update(
        protocol="all",
        source="SAM automatic masks as instances, score = predicted_iou",
        num_images=len(gt["images"]),
        num_gt_instances=len(gt["annotations"]),
        num_results=len(results),
        results_file=f"{split}.results.json",
    )
    (metrics / f"{split}.json").write_text(json.dumps(scores, indent=2) + "\n")
    return scores


def score_maps(dataset: Any, summary: Dict[str, Any], out_dir: Path) -> Dict[str, Any]:
    """``--score``: DIS metrics, or COS instances from the maps (CCA), of the predicted images."""
    from pmgsam.evaluation.instances import evaluate_cos_folder
    from pmgsam.evaluation.scoring import evaluate_dis_pairs, write_dis_results

    split, pred_dir = summary["split"], Path(summary["pred_dir"])
    out = out_dir / "metrics" / f"{split}.json"
    if "gt_json" in summary:
        scores = evaluate_cos_folder(pred_dir, summary["gt_json"], progress=False)
        out.write_text(json.dumps(scores, indent=2) + "\n")
        return scores
    skes = dataset.skeleton_paths or [None] * len(dataset)
    names = dataset.names[: summary["num_images"]]
    pairs = [(s, pred_dir / f"{s}.png", g, k) for s, g, k in zip(names, dataset.mask_paths, skes)]
    metrics, per_image = evaluate_dis_pairs(pairs, workers=1, progress=False)
    write_dis_results(out, metrics, per_image, {"split": split})
    return json.loads(out.read_text())


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m pmgsam.engine.baselines",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    dflt = "auto mode (default: %(default)s)"
    p.add_argument("--config", required=True, help="experiment YAML (its data section is used)")
    p.add_argument("--split", required=True, help="dataset split, e.g. DIS-TE1 or Test")
    p.add_argument("--sam-checkpoint", required=True, help="segment-anything state dict file")
    p.add_argument("--model-type", default="vit_b", choices=SAM_MODEL_TYPES)
    p.add_argument("--mode", required=True, choices=MODES, help="auto = segment everything")
    p.add_argument("--out-dir", required=True, help="run folder, e.g. results/sam_vit_b_auto")
    p.add_argument(
        "--reduce",
        default="union",
        choices=REDUCTIONS,
        help="auto mode, masks -> one map: union (default), largest, or oracle (ORACLE UPPER "
        "BOUND: the mask with the best IoU against the GT; not a fair baseline)",
    )
    for field, value in asdict(AutoSettings()).items():
        p.add_argument("--" + field.replace("_", "-"), type=type(value), default=value, help=dflt)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--limit", type=int, default=None, help="only the first N images")
    p.add_argument("--method", help="row name in the tables (default from model/mode/reduce)")
    p.add_argument("--score", action="store_true", help="score the maps in-process into run.json")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--overwrite", action="store_true", help="allow a pred folder with other files")
    p.add_argument("overrides", nargs="*", help="config overrides key=value")
    return p


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    from pmgsam.data import build_dataset
    from pmgsam.engine.config import ExperimentConfig
    from pmgsam.evaluation.tables import write_run_json
    from pmgsam.utils.config import load_config

    args = build_parser().parse_args(argv)
    cfg = load_config(ExperimentConfig, args.config, args.overrides)
    dataset = build_dataset(cfg.data, args.split, cfg.model.image_size, train=False)
    sam = load_sam(
        args.model_type, args.sam_checkpoint, resolve_device(args.device, option="--device")
    )
    settings = AutoSettings(**{k: getattr(args, k, v) for k, v in asdict(AutoSettings()).items()})
    is_cos, auto, out_dir = cfg.data.dataset in COS_NAMES, args.mode == "auto", Path(args.out_dir)
    summary = run_baseline(
        sam, dataset, args.mode, out_dir, args.split, args.reduce, settings, is_cos, args.limit,
        not args.quiet, args.overwrite,
    )  # fmt: skip
    label = f"SAM ViT-{args.model_type[-1].upper()}"
    oracle = args.reduce == "oracle"
    tag = f" auto ({'ORACLE upper bound' if oracle else args.reduce})" if auto else " GT box"
    meta: Dict[str, Any] = {
        "baseline": "segment-anything",
        "model_type": args.model_type,
        "sam_checkpoint": str(args.sam_checkpoint),
        "mode": args.mode,
        "config": str(args.config),
        "overrides": list(args.overrides),
        f"split {args.split}": {k: v for k, v in summary.items() if k != "cos"},
        "fps_timing": "fp32; SAM pre/post-processing + forward per image, CUDA-synchronised; "
        "image reading, reduction and PNG writing excluded; first image excluded as warm-up",
    }
    if auto:
        meta.update(reduce=args.reduce, reduce_is_oracle=oracle, auto_settings=asdict(settings))
        meta["reduce_note"] = ORACLE_NOTE if oracle else "no GT used"
    else:
        meta["box_prompt"] = "tight XYXY box of the GT mask (inclusive pixel indices)"
    n_params = sum(p.numel() for p in sam.parameters()) / 1e6
    eff = {"params_total_M": n_params, "params_trainable_M": n_params}
    eff.update(fps=summary["images_per_s"], peak_memory_MB=summary["peak_memory_MB"])
    scores = summary.get("cos") or (score_maps(dataset, summary, out_dir) if args.score else None)
    suffix = "" if args.split.lower() == "test" else f" {args.split}"
    name = COS_NAMES[cfg.data.dataset] + suffix if is_cos else args.split
    run_json = write_run_json(
        out_dir,
        args.method or label + tag,
        dis={name: scores} if scores and not is_cos else None,
        cos={name: scores} if scores and is_cos else None,
        efficiency={k: v for k, v in eff.items() if v is not None},
        meta=meta,
    )
    pred_dir, n = summary["pred_dir"], summary["num_images"]
    print(f"wrote {n} maps to {pred_dir} ({summary['empty_gt']} with an empty GT)")
    if summary["images_per_s"] is not None:
        print(f"speed: {summary['images_per_s']:.3f} images/s ({summary['timed_images']} timed)")
    keys = ("AP", "AP50", "AP75") if is_cos else ("maxFm", "MAE", "Smeasure", "HCE")
    if scores:
        print(f"{name}: " + " ".join(f"{k}={scores[k]:.4f}" for k in keys))
    print(f"wrote {run_json}")
    metrics_json = out_dir / "metrics" / f"{args.split}.json"
    if not scores and not is_cos:
        if n < len(dataset):
            print(f"note: --limit: {n} of {len(dataset)} maps; folder scoring wants all (--score)")
        gt_dir = Path(dataset.mask_paths[0]).parent
        print("score the DIS maps with (or rerun with --score to add them to run.json):")
        print(f"  python evaluate.py --pred-dir {pred_dir} --gt-dir {gt_dir} --out {metrics_json}")
    elif not scores:
        print("score the maps as instances (connected components) with:")
        print(f"  python evaluate.py --task cos --pred-dir {pred_dir} --gt-json "
              f"{summary['gt_json']} --out {metrics_json}")  # fmt: skip
    return json.loads(run_json.read_text())


if __name__ == "__main__":
    run_cli(main, "pmgsam.engine.baselines")
