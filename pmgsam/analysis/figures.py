"""Qualitative grids and failure sheets for a paper (``python -m pmgsam.analysis figures``).

A grid has one row per image and the columns Image | GT | Pre-Mask | one per run (headed by the
run's ``--labels`` entry, else by its method name, which for a baseline with settings of its own
can wrap to many lines in one column). The Pre-Mask column shows the first run's ``premask/``
maps and is left out when it has none. The failure sheet shows the K worst images of the first
run, by IoU (lowest first, computed here) or HCE (highest first, from the run's per-image
metrics), with the value next to each row. Figures are ``--width`` inches wide (3.5 = one paper
column) and every cell keeps the images' median aspect ratio (each image letterboxed in white).
Maps are read as ``evaluate.py`` scores them: one of another size than its GT is refused (naming
it) unless ``--resize-pred`` resizes it, and one turned by 90° is refused always.
"""

from __future__ import annotations

import argparse
import csv
from functools import partial
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from pmgsam.data.io import load_mask, read_size
from pmgsam.evaluation.combined import combined_name, split_parts
from pmgsam.evaluation.scoring import EvaluationInputError, check_sizes, map_at_gt_size
from pmgsam.utils.command_names import command_name
from pmgsam.utils.outputs import refuse_output_in_inputs

from .figure_grid import cell_size, draw_grid, fit_cell, header_lines
from .inputs import SplitImages, part_folders, run_method, split_images
from .output_files import check_output_files, record_output_files
from .per_image import map_images
from .premask import binary_iou
from .scored_images import combined_file_holding

LONG_HEADER_LINES = 3  # a header wrapped to more lines gets a note naming --labels
FIXED_HEADERS = ("Image", "GT", "Pre-Mask")


def _check_labels(labels: Sequence[str], runs: Sequence[Path]) -> None:
    """Refuse ``--labels`` that do not name each of ``runs`` once, or that would head two
    columns alike (each other, or a fixed column: 'Image', 'GT', 'Pre-Mask')."""
    if len(labels) != len(runs):
        raise EvaluationInputError(
            f"--labels: {len(labels)} label(s) for {len(runs)} run(s) of --runs; give one "
            "label per run, in the order of --runs"
        )
    blank = [i + 1 for i, label in enumerate(labels) if not label.strip()]
    if blank:
        raise EvaluationInputError(f"--labels: label {blank[0]} is empty")
    twice = sorted({x for x in labels if labels.count(x) > 1 or x in FIXED_HEADERS})
    if twice:
        raise EvaluationInputError(
            f"--labels: {', '.join(repr(x) for x in twice)} would head two columns alike; "
            "give every run its own label (not 'Image', 'GT' or 'Pre-Mask')"
        )


def _map_sources(
    runs: Sequence[Path], split: str, labels: Optional[Sequence[str]] = None
) -> Tuple[List[str], List[Dict[str, Path]]]:
    """The map columns' headers and folders: the first run's Pre-Mask (where it has one), then
    each run headed by its ``labels`` entry, else by its method name."""
    if labels is not None:
        _check_labels(labels, runs)
    headers, folders = [], []
    pre = part_folders(runs[0], "premask", split)
    if all(d.is_dir() for d in pre.values()):
        headers.append("Pre-Mask")
        folders.append(pre)
    for k, run in enumerate(runs):
        headers.append(labels[k] if labels is not None else run_method(run))
        folders.append(part_folders(run, "pred", split))
    return headers, folders


def _rows(
    images: SplitImages,
    idx: Sequence[int],
    folders: Sequence[Dict[str, Path]],
    resize_pred: bool = False,
    fit: Optional[Callable[[np.ndarray], np.ndarray]] = None,
    cache: Optional[Dict[Tuple[int, Tuple[int, int]], List[np.ndarray]]] = None,
) -> List[List[np.ndarray]]:
    """Image, GT and one map per folder of each image at ``idx``; every map at its GT's size
    as scoring takes it (:func:`~pmgsam.evaluation.map_pairs.map_at_gt_size`).

    Each cell goes through ``fit`` as soon as it is read, so that one image's cells at a time
    are held at full size (a 24 MP row of image, GT and two maps is 144 MB). By default
    ``fit`` letterboxes it to the grid's cell (:func:`~.figure_grid.fit_cell`), whose size
    comes from the images' headers (:func:`~.figure_grid.cell_size`); then ``cache`` (a dict
    shared between calls) keeps the rows fitted to a size, for an image in two figures."""
    size = None
    if fit is None:
        size = cell_size([read_size(images.image_paths[i]) for i in idx])
        fit = partial(fit_cell, size=size)
    else:
        cache = None  # fitted by another rule: not the rows the cache holds
    rows = []
    # Only the shown images' maps: a run scored with --limit still draws the images it has.
    hint = (
        "; a run predicted with --limit has maps of the split's first images only: name some "
        "of those with --images"
    )
    # A run never predicted on a part (scored on DIS-TE1 and DIS-TE2 only, drawn on DIS-TE)
    # has no folder there: say so rather than hint at --limit.
    absent = sorted(
        {str(f[images.parts[i]]) for f in folders for i in idx if not f[images.parts[i]].is_dir()}
    )
    if absent:
        raise EvaluationInputError(
            f"no map folder {', '.join(repr(a) for a in absent)}: the run was not predicted "
            f"there; score it on that split with {command_name('evaluate')}, leave it out of "
            "--runs, or name images of the splits it has with --images"
        )
    maps = [images.maps(f, "prediction", idx, hint) for f in folders]
    for k, i in enumerate(idx):
        if cache is not None and (i, size) in cache:
            rows.append(cache[(i, size)])
            continue
        cells = _row(images, i, [m[k] for m in maps], resize_pred, fit)
        if cache is not None:
            cache[(i, size)] = cells
        rows.append(cells)
    return rows


def _row(
    images: SplitImages,
    i: int,
    maps: Sequence[Path],
    resize_pred: bool,
    fit: Callable[[np.ndarray], np.ndarray],
) -> List[np.ndarray]:
    """The fitted cells of image ``i`` and its ``maps`` (its full-size arrays die on return)."""
    from pmgsam.data import load_image

    cells = [fit(load_image(images.image_paths[i]))]
    gt_path = images.mask_paths[i]
    gt = load_mask(gt_path, "GT mask")
    cells.append(fit(gt))
    for path in maps:
        pred = load_mask(path, "prediction", labels_01=False)
        cells.append(fit(map_at_gt_size(pred, gt, path, gt_path, resize_pred)))
        del pred  # not held while the next map is read
    return cells


def _per_image_hce(run: Path, split: str) -> Dict[Tuple[str, str], float]:
    """{(part, stem): HCE} from the run's per-image metrics of the split (or of each part).

    A part without a file of its own is read from a combined split's file that holds it: a
    run scored as ``--splits DIS-TE`` has only ``DIS-TE1-4.per_image.csv``, and an image's
    HCE is the same whichever set it was scored in."""
    metrics = run / "metrics"
    combined = metrics / f"{combined_name(split)}.per_image.csv"
    parts = split_parts(split)
    if combined.is_file():  # names are '<part>/<stem>' when the split is combined
        sources = [(parts[0], combined)]
    else:
        sources = []
        for part in parts:
            own = metrics / f"{part}.per_image.csv"
            if not own.is_file():
                own = combined_file_holding(metrics, part) or own
            if own not in [path for _, path in sources]:
                sources.append((part, own))
    hce: Dict[Tuple[str, str], float] = {}
    for part, csv_path in sources:
        if not csv_path.is_file():
            raise EvaluationInputError(
                f"--by hce needs {csv_path} (score the split with HCE, or use --by iou)"
            )
        # errors: a file name that is not UTF-8 is stored as its bytes (as scoring writes it).
        with csv_path.open(encoding="utf-8", errors="surrogateescape") as fh:
            reader = csv.DictReader(fh)
            if "HCE" not in (reader.fieldnames or []):
                # Scoring writes the HCE columns exactly when it computes HCE.
                raise EvaluationInputError(
                    f"--by hce: {csv_path} has no HCE column: '{run}' was scored without HCE "
                    f"(--no-hce); score it again without --no-hce ({command_name('evaluate')} as "
                    "it was scored, with --skip-existing to keep its maps; pmgsam.ablate "
                    "--evaluate for an ablation variant), or use --by iou"
                )
            for row in reader:
                if not row.get("HCE"):
                    raise EvaluationInputError(
                        f"{csv_path} has no HCE values for some images (e.g. "
                        f"{row.get('name')!r}): score the split again, or use --by iou"
                    )
                try:
                    value = float(row["HCE"])
                except ValueError:
                    value = None
                if row.get("name") is None or value is None:
                    raise EvaluationInputError(
                        f"{csv_path}: row {dict(row)} needs a name and a numeric HCE"
                    )
                where, _, stem = row["name"].rpartition("/")
                hce[(where or part, stem)] = value
    return hce


def _map_iou(job: Tuple[Path, Path, bool]) -> float:
    """IoU of one prediction map with its GT mask (see :func:`binary_iou`), the map brought to
    the GT's size as scoring brings it (``job``: map, GT, resize_pred)."""
    pred_path, gt_path, resize_pred = job
    gt = load_mask(gt_path, "GT mask")
    pred = load_mask(pred_path, "prediction", labels_01=False)
    return binary_iou(map_at_gt_size(pred, gt, pred_path, gt_path, resize_pred), gt)


def worst_images(
    images: SplitImages,
    run: Path,
    split: str,
    by: str,
    k: int,
    progress: bool = True,
    resize_pred: bool = False,
) -> List[Tuple[int, float]]:
    """(index, value) of the ``k`` worst images of ``run``: lowest IoU or highest HCE.

    ``progress``: a progress bar over the maps read for IoU (HCE is read from one file).
    For IoU, maps of another size than their GT are refused, all named in one error, unless
    ``resize_pred`` (then resized bilinearly), and maps turned by 90° always, as
    ``evaluate.py`` scores them (:func:`~pmgsam.evaluation.map_pairs.check_sizes`)."""
    if by == "iou":
        preds = images.maps(part_folders(run, "pred", split), "prediction")
        # From the file headers, before any map is decoded: every wrong map in one error.
        check_sizes(list(zip(images.names, preds, images.mask_paths)), resize_pred)
        jobs = [(p, g, resize_pred) for p, g in zip(preds, images.mask_paths)]
        values = map_images(_map_iou, jobs, "IoU of the predictions", progress)
        order = np.argsort(values, kind="stable")
    else:
        hce = _per_image_hce(run, split)
        keys = list(zip(images.parts, images.stems))
        missing = [f"{p}/{s}" for p, s in keys if (p, s) not in hce]
        if missing:
            raise EvaluationInputError(f"no HCE for {len(missing)} image(s), e.g. {missing[0]}")
        values = [hce[key] for key in keys]
        order = np.argsort(values, kind="stable")[::-1]
    return [(int(i), float(values[i])) for i in order[:k]]


def pick_images(images: SplitImages, names: Optional[str], num: int) -> List[int]:
    """Indices of ``--images`` (names, stems, or file names: see :func:`_named`), or ``num``
    images spread over the split."""
    if names is not None:
        wanted = [n.strip() for n in names.split(",") if n.strip()]
        if not wanted:
            raise EvaluationInputError(f"--images: no image name in {names!r}")
        found = {n: _named(images, n) for n in wanted}
        unknown = [n for n in wanted if not found[n]]
        if unknown:
            hints = [_stem_hint(images, n) for n in unknown]
            hints = [h for h in hints if h]
            raise EvaluationInputError(
                f"--images: not in the split: {unknown}"
                + (f" ({'; '.join(hints)})" if hints else "")
            )
        # A stem or file name in several parts of a combined split names no one image.
        ambiguous = {n: [images.names[i] for i in hit] for n, hit in found.items() if len(hit) > 1}
        if ambiguous:
            raise EvaluationInputError(
                "--images: in several parts of the split, name one as <part>/<stem>: "
                + "; ".join(f"{n!r} is {' and '.join(hits)}" for n, hits in ambiguous.items())
            )
        return [found[n][0] for n in wanted]
    n = len(images.names)
    return sorted(set(np.linspace(0, n - 1, min(num, n)).round().astype(int).tolist()))


def _named(images: SplitImages, name: str) -> List[int]:
    """Indices of the images ``name`` names: its name (``<part>/<stem>``), else its stem, else
    its image's or GT mask's file name (``<part>/`` optional), which names that file as surely
    as its stem (a name copied from a folder listing); another extension is not taken."""
    for keys in (images.names, images.stems):
        hits = [i for i, key in enumerate(keys) if key == name]
        if hits:
            return hits
    part, _, file_name = name.rpartition("/")
    return [
        i
        for i, paths in enumerate(zip(images.image_paths, images.mask_paths))
        if (not part or images.parts[i] == part) and file_name in {p.name for p in paths}
    ]


def _stem_hint(images: SplitImages, name: str) -> str:
    """What to give for an unknown ``name`` that names an image once its extension (not that
    of its files: 'x.tif' for x.jpg) is dropped; else ''."""
    stem = str(Path(name).with_suffix("")) if Path(name).suffix else ""
    return f"give {stem!r}, the stem, for {name!r}" if stem and _named(images, stem) else ""


def figures_report(args: argparse.Namespace, overrides: Sequence[str]) -> List[Path]:
    """Write the qualitative grid (and the failure sheet with ``--worst K``)."""
    images = split_images(args.config, args.split, overrides)
    runs = [Path(r) for r in args.runs]
    run_labels = getattr(args, "labels", None)  # a Namespace built without the option has none
    headers, folders = _map_sources(runs, args.split, run_labels)
    headers = ["Image", "GT"] + headers
    out = Path(args.out)
    read = {p for f in folders for p in f.values()} | set(images.folders())
    refuse_output_in_inputs(out, sorted(read), "--out", "the figures")
    # Named as evaluate.py and pmgsam.ablate name the set (DIS-TE: DIS-TE1-4). The '+' stays
    # (legal in file names on POSIX and Windows): as '_' the set A+B and a split A_B would
    # share one file, the later figure replacing the earlier.
    safe = combined_name(args.split)
    names = [f"qualitative_{safe}.png"]
    if args.worst > 0:
        names += [f"failures_{safe}_{args.by}.png", f"failures_{safe}_{args.by}.txt"]
    check_output_files(out, names, "--out", args.overwrite)
    idx = pick_images(images, args.images, args.num)
    resize = args.resize_pred
    # Every map is read (and its size checked) before a file is written: a wrong map must not
    # leave a grid without its failure sheet behind.
    fitted: dict = {}  # an image in both figures is read once (when their cells match)
    grid = _rows(images, idx, folders, resize, cache=fitted)
    if args.worst > 0:
        worst = worst_images(
            images, runs[0], args.split, args.by, args.worst, not args.quiet, resize
        )
        sheet = _rows(images, [i for i, _ in worst], folders, resize, cache=fitted)
    record_output_files(out, names, "python -m pmgsam.analysis figures")
    written = [draw_grid(grid, headers, out / f"qualitative_{safe}.png", args.width, args.dpi)]
    if args.worst > 0:
        labels = [f"IoU {v:.2f}" if args.by == "iou" else f"HCE {v:.0f}" for _, v in worst]
        written.append(
            draw_grid(
                sheet,
                headers,
                out / f"failures_{safe}_{args.by}.png",
                args.width,
                args.dpi,
                labels,
            )
        )
        # errors: a name that is not UTF-8 is written as its bytes (as the per-image CSV).
        failures = out / f"failures_{safe}_{args.by}.txt"
        with failures.open("w", encoding="utf-8", errors="surrogateescape") as fh:
            fh.writelines(f"{images.names[i]}\t{v}\n" for i, v in worst)
    for p in written:
        print(f"wrote {p}")
    lines = header_lines(headers, args.width, row_labels=args.worst > 0)  # the sheet's: narrower
    long = [h for h, n in zip(headers, lines) if n > LONG_HEADER_LINES]
    if long and run_labels is None:
        print(
            f"note: column header(s) {', '.join(repr(h) for h in long)} wrap to more than "
            f"{LONG_HEADER_LINES} lines at --width {args.width:g}; --labels names the runs' "
            "columns (one label per run, in the order of --runs)"
        )
    if args.worst > 0:
        # The values are the first run's only: the sheet's other columns are not ranked.
        metric = "IoU" if args.by == "iou" else "HCE"
        print(
            f"wrote {out / f'failures_{safe}_{args.by}.txt'} (the sheet's images and their "
            f"{metric} in '{runs[0]}', the first of --runs, which chose them)"
        )
    return written
