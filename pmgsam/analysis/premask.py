"""Pre-Mask quality and error correction (Table 5, Fig. 10).

    python -m pmgsam.analysis premask --run RUN --config CFG --split DIS-TE [--checkpoint W]
        [--prior-dir [NAME=]DIR ...] [--clipseg MODEL_DIR --prompt TEXT]
        [--pre-threshold 0.5 --final-threshold 0.8] [--out DIR] [--overwrite] [key=value ...]

Each source of maps (the Pre-Mask, the final mask, any prior such as CLIPSeg) is scored per
image against the GT: IoU of the map binarised at 0.5 (GT > 128, as the DIS tools), S-measure
and MAE (PySODMetrics' definitions, through :mod:`pmgsam.evaluation.dis_metrics`). The report
gives the mean of each (Table 5), the Pearson correlation of Pre-Mask IoU with final IoU, the
number of images per quadrant of the (Pre-Mask IoU, final IoU) plane, the "error corrected"
quadrant being Pre-Mask IoU < ``pre_threshold`` and final IoU > ``final_threshold``, and the
Fig. 10 scatter plot.
"""

from __future__ import annotations

import csv
import json
import logging
from collections import Counter
from pathlib import Path
from typing import Dict, List, Mapping, Sequence, Tuple

import numpy as np

from pmgsam.data.io import DataNotFoundError, load_mask
from pmgsam.evaluation.dis_metrics import s_measure_and_mae
from pmgsam.evaluation.scoring import map_at_gt_size
from pmgsam.evaluation.table_rendering import Column, Table, to_csv, to_latex, to_markdown
from pmgsam.utils.io import write_text_atomic
from pmgsam.utils.messages import preview

logger = logging.getLogger(__name__)

PREMASK, FINAL = "Pre-Mask", "Final mask"
# What :func:`analyse` writes into its output folder.
ANALYSIS_FILES = (
    "per_image.csv",
    "summary.json",
    "table5.md",
    "table5.csv",
    "table5.tex",
    "fig10_scatter.png",
)
KEYS = ("IoU", "Smeasure", "MAE")
COLUMNS = (
    Column("IoU", "IoU↑", r"IoU$\uparrow$", True, lambda v: f"{v:.3f}"),
    Column("Smeasure", "Sα↑", r"$S_\alpha\uparrow$", True, lambda v: f"{v:.3f}"),
    Column("MAE", "MAE↓", r"$\mathcal{M}\downarrow$", False, lambda v: f"{v:.3f}"),
)


def binary_iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """IoU of ``pred > 127`` (probability > 0.5) with ``gt > 128``; 1 when both are empty."""
    p, g = pred > 127, gt > 128
    union = np.logical_or(p, g).sum()
    return 1.0 if union == 0 else float(np.logical_and(p, g).sum() / union)


def score_map(map_path: Path, gt_path: Path, resize: bool = True) -> Dict[str, float]:
    """IoU, S-measure and MAE of one probability map, resized to the GT when ``resize``
    (priors such as CLIPSeg work at their own resolution); without it a map of another size
    than its GT is refused, naming both files."""
    pred = load_mask(map_path, "prediction", labels_01=False)
    gt = load_mask(gt_path, "GT mask")
    pred = map_at_gt_size(pred, gt, map_path, gt_path, resize_pred=resize, resize_option=None)
    sm, mae = s_measure_and_mae(pred, gt)
    return {
        "IoU": binary_iou(pred, gt),
        "Smeasure": sm,
        "MAE": mae,
        "gt_empty": not (gt > 128).any(),
    }


def _score_pair(pair: Tuple[Path, Path, bool]) -> Dict[str, float]:
    return score_map(*pair)


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson correlation coefficient; NaN when either variable is constant."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if len(x) != len(y) or len(x) < 2:
        raise ValueError(f"need two equally long series of >= 2 values, got {len(x)}, {len(y)}")
    dx, dy = x - x.mean(), y - y.mean()
    denom = np.sqrt((dx * dx).sum() * (dy * dy).sum())
    return float((dx * dy).sum() / denom) if denom > 0 else float("nan")


def quadrant_counts(
    pre: Sequence[float], final: Sequence[float], pre_threshold: float, final_threshold: float
) -> Dict[str, int]:
    """Images per quadrant; ``corrected``: poor prior (< t_pre), good result (> t_final)."""
    x, y = np.asarray(pre, np.float64), np.asarray(final, np.float64)
    good_pre, good_final = x >= pre_threshold, y > final_threshold
    return {
        "corrected": int((~good_pre & good_final).sum()),
        "kept_good": int((good_pre & good_final).sum()),
        "kept_poor": int((~good_pre & ~good_final).sum()),
        "degraded": int((good_pre & ~good_final).sum()),
    }


def quality_table(means: Mapping[str, Mapping[str, float]], title: str) -> Table:
    """One row per source (priors, Pre-Mask, final mask) with mean IoU, Sα and MAE."""
    rows = [(name, {("", c.key): v.get(c.key) for c in COLUMNS}) for name, v in means.items()]
    note = "IoU at probability 0.5 (GT > 128); Sα and MAE as PySODMetrics; means over images."
    return Table(title, [("", COLUMNS)], rows, [note])


def analyse(
    names: Sequence[str],
    gt_paths: Sequence[Path],
    sources: Mapping[str, Sequence[Path]],
    out_dir: Path,
    pre_threshold: float = 0.5,
    final_threshold: float = 0.8,
    split: str = "",
    figure_size: Tuple[float, float] = (3.5, 3.2),
    progress: bool = True,
) -> Dict[str, object]:
    """Score every source, write the per-image CSV, summary JSON, Table 5 and Fig. 10.

    ``sources`` maps a row name to one map per image; it must hold :data:`PREMASK` and
    :data:`FINAL` (priors come first in the table, in the given order). ``progress``: a
    progress bar over the maps scored, on up to :data:`~pmgsam.analysis.per_image.MAX_THREADS`
    threads (:func:`~pmgsam.analysis.per_image.map_images`).
    """
    from .plots import quality_scatter

    for needed in (PREMASK, FINAL):
        if needed not in sources:
            raise ValueError(f"sources need a '{needed}' entry, got {list(sources)}")
    if len(names) != len(gt_paths):  # the per-image rows pair them by position
        raise ValueError(f"{len(names)} image names for {len(gt_paths)} GT masks")
    uneven = {src: len(maps) for src, maps in sources.items() if len(maps) != len(gt_paths)}
    if uneven:  # the scores are split back by position: one map per GT mask
        raise ValueError(f"{len(gt_paths)} GT masks, but map counts {uneven}")
    from .per_image import map_images

    # A few hundredths of a second per map of DIS5K's size: minutes for DIS-TE's 2000 images.
    # PMG-SAM writes both its maps at the image's size: another size means another image's
    # map (a wrong folder), which resizing would score silently.
    pairs = [
        (m, g, src not in (PREMASK, FINAL))
        for src, maps in sources.items()
        for m, g in zip(maps, gt_paths)
    ]
    scores = map_images(_score_pair, pairs, "Pre-Mask analysis", progress, unit="map")
    n = len(gt_paths)
    per_source = {src: scores[k * n : (k + 1) * n] for k, src in enumerate(sources)}
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_per_image_csv(out_dir / "per_image.csv", names, per_source)
    order = [s for s in sources if s not in (PREMASK, FINAL)] + [PREMASK, FINAL]
    means = {s: {k: float(np.mean([r[k] for r in per_source[s]])) for k in KEYS} for s in order}
    pre = [r["IoU"] for r in per_source[PREMASK]]
    final = [r["IoU"] for r in per_source[FINAL]]
    r = pearson(pre, final) if len(pre) >= 2 else float("nan")
    empty = [n for n, row in zip(names, per_source[FINAL]) if row["gt_empty"]]
    if empty:
        _warn_empty_gt(empty)
    summary: Dict[str, object] = {
        "split": split,
        "num_images": len(names),
        "empty_gt_images": empty,
        "means": means,
        # null when undefined (fewer than two images, or a constant IoU series).
        "pearson_premask_final_iou": r if np.isfinite(r) else None,
        "pre_threshold": pre_threshold,
        "final_threshold": final_threshold,
        "quadrants": quadrant_counts(pre, final, pre_threshold, final_threshold),
    }
    write_text_atomic(out_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    table = quality_table(means, f"Prior and final mask quality ({split or 'split'})")
    _write_table5(out_dir, table)
    quality_scatter(
        pre,
        final,
        out_dir / "fig10_scatter.png",
        pre_threshold,
        final_threshold,
        r,
        size=figure_size,
    )
    return summary


def _write_per_image_csv(
    path: Path, names: Sequence[str], per_source: Mapping[str, Sequence[Mapping[str, float]]]
) -> None:
    """One row per image: its name, then IoU, S-measure and MAE of every source in turn."""
    # A name that is not UTF-8 is written as its bytes (as the scoring's per-image file).
    with path.open("w", newline="", encoding="utf-8", errors="surrogateescape") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["name"] + [f"{src} {k}" for src in per_source for k in KEYS])
        for i, name in enumerate(names):
            writer.writerow([name] + [per_source[s][i][k] for s in per_source for k in KEYS])


def _warn_empty_gt(empty: Sequence[str]) -> None:
    logger.warning(
        "%d image(s) have an empty GT mask (%s): their IoU is 1 for an empty map and 0 for "
        "any foreground, which weighs on the means, the quadrants and Pearson r",
        len(empty),
        preview(empty, 10),
    )


def _write_table5(out_dir: Path, table: Table) -> None:
    for ext, render in (("md", to_markdown), ("csv", to_csv), ("tex", to_latex)):
        write_text_atomic(out_dir / f"table5.{ext}", render(table))


def parse_prior(text: str) -> Tuple[str, Path]:
    """``NAME=DIR`` or ``DIR`` (named after the folder; a folder whose path holds '=' too)
    -> (name, folder)."""
    name, sep, folder = text.partition("=")
    if not sep or (Path(text).is_dir() and not Path(folder).is_dir()):
        name, folder = Path(text).name, text
    if not name.strip() or not folder:
        # An empty folder would be the current one; an empty name a Table 5 row without one.
        from pmgsam.utils.config import ConfigError

        raise ConfigError(f"--prior-dir '{text}': expected NAME=DIR or DIR, with both non-empty")
    if not Path(folder).is_dir():
        raise DataNotFoundError(f"--prior-dir: '{folder}' is not a folder")
    return name, Path(folder)


def check_prior_names(names: Sequence[str]) -> None:
    """Refuse prior names that would replace a row of Table 5: the model's own rows, or each
    other (two folders named ``maps`` give one name); a row must never vanish unnoticed."""
    reserved = [n for n in names if n in (PREMASK, FINAL)]
    twice = sorted({n for n in names if names.count(n) > 1})
    if reserved or twice:
        from pmgsam.evaluation.scoring import EvaluationInputError

        what = f"{reserved} name the model's own rows" if reserved else f"{twice} name two folders"
        raise EvaluationInputError(
            f"--prior-dir: {what}; give each prior its own name with NAME=DIR"
        )


def refuse_shared_names(stems: Sequence[str], what: str) -> None:
    """Priors of a combined split lie in one folder by image name: images of the same name in
    two of its parts would read (or CLIPSeg would skip as done) each other's maps. Raise
    :class:`~pmgsam.evaluation.map_pairs.EvaluationInputError` naming them."""
    shared = [stem for stem, count in Counter(stems).items() if count > 1]
    if shared:
        from pmgsam.evaluation.scoring import EvaluationInputError

        raise EvaluationInputError(
            f"{what}: the split holds images of the same name in several of its parts "
            f"({preview(sorted(shared), 5)}), whose maps would share one file in a folder of "
            "maps by name; analyse each part with its own --split"
        )


def prior_maps(folder: Path, stems: Sequence[str], name: str) -> List[Path]:
    """``<folder>/<stem>.png`` per image (priors of a combined split lie in one folder, so
    image names must be unique across its parts: :func:`refuse_shared_names`)."""
    refuse_shared_names(stems, f"prior '{name}' ({folder})")
    paths = [folder / f"{s}.png" for s in stems]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        from pmgsam.evaluation.scoring import EvaluationInputError

        raise EvaluationInputError(
            f"prior '{name}' ({folder}) lacks {len(missing)} map(s): {preview(missing, 10)}"
            + _missing_prior_hint(folder, {Path(m).stem for m in missing})
        )
    return paths


def _missing_prior_hint(folder: Path, missing: set) -> str:
    """Why a prior folder lacks maps, where it can tell: a run's ``pred/`` (one subfolder per
    split, as evaluate.py writes maps) given for the folder of maps, or maps saved in another
    format than the ``<stem>.png`` a prior is read from. Without it the error lists every image
    as missing although its maps are right there."""
    entries = [c for c in folder.iterdir() if not c.name.startswith(".")]
    hints = []
    subfolders = sorted(c.name for c in entries if c.is_dir())
    if subfolders:
        hints.append(
            f"It holds subfolder(s) ({preview(subfolders, 5)}), which are not read: a prior's "
            "maps lie in the folder given, so give the split's own folder (a run's "
            "pred/<split>), or for a combined split gather its parts' maps into one folder"
        )
    # Exactly ".png": a.PNG is not read as a.png where names are case-sensitive.
    other = sorted(
        c.name for c in entries if c.is_file() and c.stem in missing and c.suffix != ".png"
    )
    if other:
        hints.append(
            f"{len(other)} of them are there in another format ({preview(other, 5)}): "
            "prior maps are read as <stem>.png only (lower-case); save them as such"
        )
    return "".join(f". {h}" for h in hints)
