"""The results of a DIS scoring (:mod:`pmgsam.evaluation.scoring`): the summary JSON with the
per-image CSV beside it, and the one line of the six metrics that the commands print.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Sequence, Tuple, Union

import numpy as np

from pmgsam.utils.io import atomic_path, write_text_atomic
from pmgsam.utils.messages import counted

if TYPE_CHECKING:
    from .dis_metrics import ImageMetrics

PathLike = Union[str, os.PathLike]


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
    """Write the summary JSON and the per-image CSV next to it; return both paths.

    Each is written whole under a temporary name, then renamed, the CSV first: a run killed
    or failing meanwhile leaves the earlier JSON whole, never a truncated one, nor a new JSON
    beside the per-image values of an earlier scoring."""
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
    side = per_image_path(out)
    rows = [r.row() for r in per_image]
    fields = list(rows[0].keys()) if rows else ["name"]
    # A file name that is not UTF-8 (held as surrogates) is written as its bytes.
    with (
        atomic_path(side) as tmp,
        tmp.open("w", newline="", encoding="utf-8", errors="surrogateescape") as fh,
    ):
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    write_text_atomic(out, json.dumps(payload, indent=2) + "\n")
    return out, side


def dis_line(summary: Dict[str, Any]) -> str:
    """One line of the six DIS metrics of a summary, ``-`` for those not scored."""
    keys = ("maxFm", "wFmeasure", "MAE", "Smeasure", "meanEm", "HCE")
    cells = [f"{k}={summary[k]:.4f}" if summary.get(k) is not None else f"{k}=-" for k in keys]
    return f"[{counted(summary['num_images'], 'image')}] " + "  ".join(cells)
