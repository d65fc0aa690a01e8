"""Score a folder of predicted probability maps against a folder of GT masks (DIS protocol).

Files are paired by stem. Every GT needs a prediction and every prediction a GT; sizes must
match unless ``resize_pred`` is set (bilinear resize to the GT size, as the DIS / SOD evaluation
tools do). Images are scored in worker processes and aggregated as PySODMetrics does.
"""

from __future__ import annotations

import csv
import json
import multiprocessing as mp
import os
import sys
from pathlib import Path
from typing import Dict, List, Sequence, Tuple, Union

import cv2
import numpy as np

from pmgsam.utils.messages import preview

from .dis_metrics import ImageMetrics, aggregate, image_metrics

PathLike = Union[str, os.PathLike]
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
LIST_LIMIT = 20


class EvaluationInputError(ValueError):
    """Predictions and ground truth do not line up (missing files, other sizes, unreadable)."""


def list_images(folder: PathLike) -> Dict[str, Path]:
    """Map stem -> image path for the image files directly inside ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise EvaluationInputError(f"not a directory: {folder}")
    found: Dict[str, Path] = {}
    dupes: List[str] = []
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in IMAGE_EXTS:
            if p.stem in found:
                dupes.append(p.name)
            else:
                found[p.stem] = p
    if dupes:
        raise EvaluationInputError(
            f"{folder}: several images share a stem: {preview(dupes, LIST_LIMIT)}"
        )
    return found


def read_gray_u8(path: PathLike) -> np.ndarray:
    """Read an image as 8-bit grayscale.

    Colour images are converted with OpenCV's luma weights (an alpha channel is dropped),
    16-bit images are scaled by 255/65535 (so an 8-bit value stored as v*257 reads back as v),
    float images in [0, 1] are scaled by 255.
    """
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise EvaluationInputError(f"cannot read image: {path}")
    if img.ndim == 3:
        code = cv2.COLOR_BGRA2GRAY if img.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        img = img[:, :, 0] if img.shape[2] == 1 else cv2.cvtColor(img, code)
    if img.dtype == np.uint8:
        return img
    if img.dtype == np.uint16:
        return np.round(img.astype(np.float64) / 257.0).astype(np.uint8)
    if img.dtype == bool:
        return img.astype(np.uint8) * 255
    f = img.astype(np.float64)
    if np.issubdtype(img.dtype, np.floating) and f.max(initial=0) <= 1.0:
        f = f * 255.0
    return np.clip(np.round(f), 0, 255).astype(np.uint8)


def image_size(path: Path) -> Tuple[int, int]:
    """(height, width) read from the file header."""
    from PIL import Image

    with Image.open(path) as im:
        w, h = im.size
    return h, w


def pair_folders(
    pred_dir: PathLike, gt_dir: PathLike, allow_extra_preds: bool = False
) -> List[Tuple[str, Path, Path]]:
    """(stem, prediction, GT) triples, raising :class:`EvaluationInputError` on missing files."""
    preds, gts = list_images(pred_dir), list_images(gt_dir)
    if not gts:
        raise EvaluationInputError(f"no GT images in {gt_dir}")
    missing = sorted(s for s in gts if s not in preds)
    extra = [] if allow_extra_preds else sorted(s for s in preds if s not in gts)
    problems = []
    if missing:
        problems.append(
            f"{len(missing)} GT image(s) in {gt_dir} have no prediction in {pred_dir}: "
            + preview([gts[s].name for s in missing], LIST_LIMIT)
        )
    if extra:
        problems.append(
            f"{len(extra)} prediction(s) in {pred_dir} have no GT in {gt_dir}: "
            + preview([preds[s].name for s in extra], LIST_LIMIT)
        )
    if problems:
        raise EvaluationInputError("\n".join(problems))
    return [(s, preds[s], gts[s]) for s in sorted(gts)]


def check_sizes(pairs: Sequence[Tuple[str, Path, Path]]) -> None:
    """Raise listing every prediction whose size differs from its GT."""
    bad = []
    for _, pred, gt in pairs:
        hp, hg = image_size(pred), image_size(gt)
        if hp != hg:
            bad.append(f"{pred.name} {hp[1]}x{hp[0]} vs GT {gt.name} {hg[1]}x{hg[0]}")
    if bad:
        raise EvaluationInputError(
            f"{len(bad)} prediction(s) differ in size from their GT (pass --resize-pred to resize "
            "them to the GT size): " + preview(bad, LIST_LIMIT)
        )


def _score_one(job: Tuple[str, str, str, str | None, bool, bool]) -> ImageMetrics:
    stem, pred_path, gt_path, ske_path, resize_pred, with_hce = job
    pred, gt = read_gray_u8(pred_path), read_gray_u8(gt_path)
    if pred.shape != gt.shape:
        if not resize_pred:
            raise EvaluationInputError(f"{pred_path}: size {pred.shape} differs from GT {gt.shape}")
        pred = cv2.resize(pred, (gt.shape[1], gt.shape[0]), interpolation=cv2.INTER_LINEAR)
    ske = None
    if with_hce and ske_path is not None and os.path.exists(ske_path):
        ske_img = read_gray_u8(ske_path)
        if ske_img.shape != gt.shape:
            raise EvaluationInputError(f"{ske_path}: size {ske_img.shape} differs from GT")
        ske = ske_img > 128
    return image_metrics(pred, gt, gt_skeleton=ske, name=stem, with_hce=with_hce)


def _init_worker() -> None:
    # Worker processes already give the parallelism; OpenCV's own threads would oversubscribe.
    cv2.setNumThreads(1)


def _mp_context() -> mp.context.BaseContext:
    # Forking a process that has started torch / CUDA threads can deadlock the children.
    if sys.platform.startswith("linux") and "torch" not in sys.modules:
        return mp.get_context("fork")
    return mp.get_context("spawn")


DisPair = Tuple[str, PathLike, PathLike, Union[PathLike, None]]


def evaluate_dis_pairs(
    pairs: Sequence[DisPair],
    workers: int = 1,
    resize_pred: bool = False,
    with_hce: bool = True,
    progress: bool = True,
) -> Tuple[Dict[str, object], List[ImageMetrics]]:
    """Score explicit (stem, prediction, GT, skeleton or None) tuples; see evaluate_dis_folder."""
    if not pairs:
        raise EvaluationInputError("nothing to evaluate: no prediction/GT pairs")
    if not resize_pred:
        check_sizes([(s, Path(p), Path(g)) for s, p, g, _ in pairs])
    jobs = [
        (stem, str(p), str(g), None if k is None else str(k), resize_pred, with_hce)
        for stem, p, g, k in pairs
    ]
    from tqdm import tqdm

    bar = dict(total=len(jobs), desc="DIS metrics", unit="img", disable=not progress)
    if workers <= 1 or len(jobs) == 1:
        results = [_score_one(j) for j in tqdm(jobs, **bar)]
    else:
        ctx = _mp_context()
        with ctx.Pool(min(workers, len(jobs)), initializer=_init_worker) as pool:
            results = list(tqdm(pool.imap(_score_one, jobs, chunksize=1), **bar))
    return aggregate(results), results


def evaluate_dis_folder(
    pred_dir: PathLike,
    gt_dir: PathLike,
    ske_dir: PathLike | None = None,
    workers: int = 1,
    resize_pred: bool = False,
    with_hce: bool = True,
    progress: bool = True,
) -> Tuple[Dict[str, object], List[ImageMetrics]]:
    """Score every GT image of ``gt_dir`` against the same-stem prediction of ``pred_dir``.

    Arguments:
        pred_dir: folder of predicted maps (uint8 PNG, 0-255).
        gt_dir: folder of GT masks.
        ske_dir: optional folder of GT skeletons for HCE (``<stem>.png``); missing files fall
            back to the computed skeleton, as in the official tool.
        workers: worker processes (0 or 1 = in this process).
        resize_pred: resize predictions to the GT size instead of raising on a size mismatch.
        with_hce: compute HCE.
        progress: show a tqdm progress bar.

    Returns:
        (summary, per-image results); the summary holds the six metrics and ``num_images``.
    """
    pairs: List[DisPair] = []
    for stem, pred, gt in pair_folders(pred_dir, gt_dir):
        ske = None
        if ske_dir is not None:
            cands = [Path(ske_dir) / (stem + ext) for ext in (".png", gt.suffix)]
            ske = next((c for c in cands if c.exists()), None)
        pairs.append((stem, pred, gt, ske))
    return evaluate_dis_pairs(pairs, workers, resize_pred, with_hce, progress)


def per_image_path(out_json: PathLike) -> Path:
    """Side file of per-image values: ``metrics.json`` -> ``metrics.per_image.csv``."""
    out = Path(out_json)
    return out.with_name(out.stem + ".per_image.csv")


def write_dis_results(
    out_json: PathLike,
    summary: Dict[str, object],
    per_image: Sequence[ImageMetrics],
    extra: Dict[str, object] | None = None,
) -> Tuple[Path, Path]:
    """Write the summary JSON and the per-image CSV next to it; return both paths."""
    out = Path(out_json)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = dict(summary)
    payload["per_image_file"] = per_image_path(out).name
    if per_image:
        # Mean F/E curves let tables pool subsets (e.g. TE1-4) exactly as one evaluation would.
        payload["curves"] = {
            "fm": np.mean([r.fm_curve for r in per_image], axis=0).tolist(),
            "em": np.mean([r.em_curve for r in per_image], axis=0).tolist(),
        }
    if extra:
        payload.update(extra)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    side = per_image_path(out)
    rows = [r.row() for r in per_image]
    fields = list(rows[0].keys()) if rows else ["name"]
    with side.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return out, side
