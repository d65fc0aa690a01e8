"""Several DIS test subsets scored as one set (the paper's ablations use DIS-TE1-4 combined).

A split *spec* names either one split (``DIS-TE1``), the alias ``DIS-TE`` (DIS-TE1..4), or parts
joined by ``+`` (``DIS-TE1+DIS-TE3``). A combined spec is scored by pairing every part's images
with its own prediction folder and evaluating all pairs in one pass, so that max F comes from
the mean F curve over all images, exactly as if the parts had been one folder. Its results are
stored under :func:`combined_name` (``DIS-TE1-4`` for the four DIS test subsets, which is the
"Overall (TE1-4)" column of the DIS table; else the parts in sorted order, ``DIS-TE1+DIS-TE3``
whether given as ``DIS-TE3+DIS-TE1`` or not, so one set has one name in run.json, the tables
and the metrics files).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Sequence, Tuple

from pmgsam.data.dis5k_splits import ALL_TE_NAME, TE_PARTS

from .dis_results import write_dis_results
from .scoring import DisPair, EvaluationInputError, PathLike, evaluate_dis_pairs

ALIASES: Dict[str, Tuple[str, ...]] = {"DIS-TE": TE_PARTS}


def split_parts(spec: str) -> Tuple[str, ...]:
    """The splits a spec stands for: ``DIS-TE`` -> DIS-TE1..4, ``A+B`` -> (A, B), ``A`` -> (A,)."""
    spec = spec.strip()
    if spec in ALIASES:
        return ALIASES[spec]
    parts = tuple(p.strip() for p in spec.split("+"))
    if not all(parts):
        raise EvaluationInputError(f"split {spec!r} has an empty part (expected A+B+...)")
    refuse_repeated_parts(spec, parts)
    return parts


def refuse_repeated_parts(spec: str, parts: Sequence[str], option: str = "split") -> None:
    """Refuse a set naming one split twice (``parts``: its splits as named): its images would
    be paired, and weigh in the mean curves, twice. ``option`` names what gave ``spec``
    (``--split``: evaluate.py's folder rows, :mod:`pmgsam.evaluation.folder_row`)."""
    twice = sorted({part for part in parts if list(parts).count(part) > 1})
    if twice:
        raise EvaluationInputError(
            f"{option} '{spec}' names a part twice ({', '.join(twice)}): give each split once"
        )


def is_combined(spec: str) -> bool:
    """True when ``spec`` stands for more than one split."""
    return len(split_parts(spec)) > 1


def combined_name(spec: str) -> str:
    """Name of a spec's results: ``DIS-TE1-4`` for the four DIS test subsets, else its parts
    sorted and joined by ``+`` (``DIS-TE3+DIS-TE1`` -> ``DIS-TE1+DIS-TE3``): every spelling of
    one set names one run.json entry and one metrics file. A name is its own name, so an
    entry read back under an older order (pmgsam named it as typed) maps to this one."""
    parts = split_parts(spec)
    return ALL_TE_NAME if set(parts) == set(TE_PARTS) else "+".join(sorted(parts))


def split_pairs(dataset: Any, pred_dir: PathLike, prefix: str = "") -> List[DisPair]:
    """(name, prediction, GT, skeleton) of every image of a split dataset, whether or not its
    prediction exists.

    ``dataset`` needs ``names``, ``mask_paths`` and ``skeleton_paths`` (as
    :class:`pmgsam.data.SegmentationDataset`); ``prefix`` is put before each name so that
    images of different parts stay apart in the per-image file.
    """
    names = list(dataset.names)
    masks = list(dataset.mask_paths)
    skes = getattr(dataset, "skeleton_paths", None) or [None] * len(names)
    if not len(names) == len(masks) == len(skes):
        # zip would silently score only the shortest list's images.
        raise ValueError(
            f"dataset lists {len(names)} names, {len(masks)} GT masks and {len(skes)} "
            "skeletons: each image needs one of each"
        )
    pred_dir = Path(pred_dir)
    return [(prefix + n, pred_dir / f"{n}.png", g, k) for n, g, k in zip(names, masks, skes)]


def dataset_pairs(dataset: Any, pred_dir: PathLike, prefix: str = "") -> List[DisPair]:
    """:func:`split_pairs`, refused when an image has no prediction in ``pred_dir``."""
    pairs = split_pairs(dataset, pred_dir, prefix)
    missing = [str(p) for _, p, _, _ in pairs if not p.exists()]
    if missing:
        shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise EvaluationInputError(f"{len(missing)} image(s) have no prediction: {shown}")
    return pairs


def score_parts(
    part_pairs: Mapping[str, Sequence[DisPair]],
    workers: int = 1,
    resize_pred: bool = False,
    with_hce: bool = True,
    progress: bool = True,
    resize_option: str | None = "--resize-pred",
) -> Tuple[Dict[str, object], list]:
    """Score the pairs of all parts as one set; the summary also counts images per part.
    ``resize_option``: as :func:`~pmgsam.evaluation.scoring.evaluate_dis_pairs` takes it."""
    pairs = [pair for part in part_pairs for pair in part_pairs[part]]
    summary, per_image = evaluate_dis_pairs(
        pairs, workers, resize_pred, with_hce, progress, resize_option
    )
    summary["parts"] = {part: len(p) for part, p in part_pairs.items()}
    return summary, per_image


def score_combined_split(
    spec: str,
    dataset_for: Callable[[str], Any],
    predict: Callable[[str], PathLike],
    metrics_dir: PathLike,
    workers: int = 1,
    resize_pred: bool = False,
    with_hce: bool = True,
    progress: bool = True,
    resize_option: str | None = "--resize-pred",
) -> Tuple[str, Dict[str, object]]:
    """Predict (through ``predict(part) -> folder``) and score a combined spec as one set.

    Writes ``<metrics_dir>/<name>.json`` and its per-image CSV (names ``<part>/<stem>``);
    returns (name, the written summary) for ``run.json``'s ``dis`` section. A size-mismatch
    error names ``resize_option`` (None: the calling tool has no such option).
    """
    name = combined_name(spec)
    # In the name's order, so that every spelling of the set writes the same files.
    part_pairs = {
        part: dataset_pairs(dataset_for(part), predict(part), prefix=f"{part}/")
        for part in sorted(split_parts(spec))
    }
    summary, per_image = score_parts(
        part_pairs, workers, resize_pred, with_hce, progress, resize_option
    )
    out, _ = write_dis_results(
        Path(metrics_dir) / f"{name}.json", summary, per_image, {"split": name}
    )
    return name, json.loads(out.read_text(encoding="utf-8"))
