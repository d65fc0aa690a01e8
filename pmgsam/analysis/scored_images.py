"""Which images a run's DIS scores are of, read from its per-image metrics files
(``RUN/metrics/<split>.per_image.csv``, names ``<stem>``, or ``<part>/<stem>`` in a combined
split's file), and the premask check that the split it analyses is those images."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple

from pmgsam.evaluation.combined import ALL_TE_NAME, split_parts
from pmgsam.evaluation.scoring import EvaluationInputError
from pmgsam.utils.command_names import command_name
from pmgsam.utils.messages import preview

from .inputs import SplitImages

PER_IMAGE = ".per_image.csv"


def combined_file_holding(metrics: Path, part: str) -> Optional[Path]:
    """A per-image file of a combined split (``DIS-TE1-4``, ``A+B``) in ``metrics`` that
    holds ``part``'s images, or None."""
    for path in sorted(metrics.glob(f"*{PER_IMAGE}")):
        stem = path.name[: -len(PER_IMAGE)]
        if stem == ALL_TE_NAME:
            parts: Tuple[str, ...] = split_parts("DIS-TE")
        elif "+" in stem:
            try:
                parts = split_parts(stem)
            except EvaluationInputError:
                continue
        else:
            continue
        if part in parts:
            return path
    return None


def _scored_stems(run: Path, part: str) -> Tuple[Optional[Path], Set[str]]:
    """(the per-image file, the stems of ``part`` scored in it), or (None, empty) when the run
    has no per-image scores of ``part`` (COS scores, a folder premask itself filled)."""
    metrics = run / "metrics"
    own = metrics / f"{part}{PER_IMAGE}"
    path = own if own.is_file() else combined_file_holding(metrics, part)
    if path is None:
        return None, set()
    # errors: a file name that is not UTF-8 is stored as its bytes (dis_results.write_dis_results).
    with path.open(encoding="utf-8", errors="surrogateescape", newline="") as fh:
        names = [row.get("name") or "" for row in csv.DictReader(fh)]
    if path == own:
        return path, set(names)
    prefix = f"{part}/"
    return path, {n[len(prefix) :] for n in names if n.startswith(prefix)}


def check_split_is_scored_images(run: Path, images: SplitImages, split: str) -> None:
    """Refuse a ``split`` (as ``--config`` reads it) whose images are not those ``run`` scored
    in a part: its Table 5 would be of other images than the run's scores, and predicting
    would put maps of other images among the scored ones (another ``data.root``, another
    dataset's config)."""
    wanted: Dict[str, Set[str]] = {}
    for part, stem in zip(images.parts, images.stems):
        wanted.setdefault(part, set()).add(stem)
    problems: List[str] = []
    for part in split_parts(split):
        path, scored = _scored_stems(run, part)
        if path is None:
            continue
        here = wanted.get(part, set())
        new, gone = sorted(here - scored), sorted(scored - here)
        if new or gone:
            what = []
            if new:
                what.append(f"{len(new)} the run did not score ({preview(new, 3)})")
            if gone:
                what.append(f"not {len(gone)} it scored ({preview(gone, 3)})")
            problems.append(f"{part}: {', '.join(what)} (scores: '{path}')")
    if problems:
        raise EvaluationInputError(
            f"--run '{run}' was scored on other images than --config's {split} holds: "
            + "; ".join(problems)
            + ". Its Pre-Mask analysis would not be of the images its scores are of, and maps "
            "predicted there would sit among the scored ones; give the config (and data.root) "
            "the run was scored with, score the run again on these images "
            f"({command_name('evaluate')}), or give another --run"
        )
