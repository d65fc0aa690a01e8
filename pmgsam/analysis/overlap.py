"""Overlapping-instance subsets of a COCO instance file (the paper's COD10K/NC4K analysis).

An image belongs to the subset when two of its GT instances

* ``touch``: their masks overlap or come within ``distance`` pixels of each other (one mask
  dilated by a (2d+1)x(2d+1) square meets the other), or
* ``box``: their bounding boxes overlap (intersection of positive area),

or either (``either``, the default). The subset's image list and COCO file are written out,
its share of the set reported, and, given prediction maps, AP/AP50/AP75 on the subset and on
the full set go into the run's COS table (column ``<name> overlap``). With ``--run``, the maps
are scored with the protocol, threshold, minimum area and ``--resize-pred`` the run's full-set AP
was scored with (:func:`scoring_settings`), so that the two sit comparably side by side. Maps of
another size than their image are refused unless ``--resize-pred``, as ``evaluate.py`` refuses
them. Both AP entries record the ground truth they were scored against (:mod:`.overlap_records`).
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, cast

import cv2
import numpy as np

from pmgsam.data.io import IMAGE_EXTENSIONS, DataNotFoundError
from pmgsam.utils.config import ConfigError
from pmgsam.utils.io import write_text_atomic
from pmgsam.utils.outputs import (
    OutputError,
    dataset_folders,
    refuse_output_in_data_folder,
    refuse_output_in_inputs,
)

from .output_files import check_output_files, record_output_files
from .overlap_instances import maps_of_run, recorded_instances, score_subset_instances
from .overlap_records import record_ground_truth

RULES = ("touch", "box", "either")


def boxes_overlap(a: Sequence[float], b: Sequence[float]) -> bool:
    """COCO ``[x, y, w, h]`` boxes share an area > 0."""
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return w > 0 and h > 0


def masks_touch(a: np.ndarray, b: np.ndarray, distance: int = 1) -> bool:
    """Binary masks overlap or lie within ``distance`` pixels (8-connected) of each other."""
    if distance <= 0:
        return bool(np.logical_and(a, b).any())
    kernel = np.ones((2 * distance + 1, 2 * distance + 1), np.uint8)
    grown = cv2.dilate(a.astype(np.uint8), kernel) > 0
    return bool(np.logical_and(grown, b).any())


def _pixel_box(box: Sequence[float]) -> Optional[Tuple[int, int, int, int]]:
    """A mask's COCO ``[x, y, w, h]`` pixel box as its first and last columns and rows
    (``x0, y0, x1, y1``, inclusive); None for an empty mask."""
    x, y, w, h = (int(round(v)) for v in box)
    return None if w <= 0 or h <= 0 else (x, y, x + w - 1, y + h - 1)


def _boxes_within(a: Tuple[int, ...], b: Tuple[int, ...], distance: int) -> bool:
    """Pixel boxes (``x0, y0, x1, y1``) that hold a pixel each at most ``distance`` columns and
    rows apart: masks inside them further apart cannot touch."""
    return (
        max(a[0], b[0]) - min(a[2], b[2]) <= distance
        and max(a[1], b[1]) - min(a[3], b[3]) <= distance
    )


def _instances_overlap(rles: Sequence[Any], rule: str, distance: int) -> bool:
    """Whether two of one image's instances (RLEs) overlap by ``rule``.

    Touching is tested only for pairs whose boxes come within ``distance``, and only inside
    the box around both: a dilation of the whole image for every pair of a 1000 x 700 image
    was most of the time of the subset's selection."""
    from pycocotools import mask as mask_utils

    if len(rles) < 2:
        return False
    boxes = [mask_utils.toBbox(r).tolist() for r in rles]
    if rule in ("box", "either"):
        if any(boxes_overlap(a, b) for a, b in itertools.combinations(boxes, 2)):
            return True
    if rule == "box":
        return False
    pixel = [_pixel_box(b) for b in boxes]
    masks: Dict[int, np.ndarray] = {}
    for i, j in itertools.combinations(range(len(rles)), 2):
        a, b = pixel[i], pixel[j]
        if a is None or b is None or not _boxes_within(a, b, distance):
            continue
        for k in (i, j):
            if k not in masks:
                masks[k] = mask_utils.decode(rles[k]) > 0
        # Both masks lie inside this window, so dilating one there is the full dilation.
        rows = slice(min(a[1], b[1]), max(a[3], b[3]) + 1)
        cols = slice(min(a[0], b[0]), max(a[2], b[2]) + 1)
        if masks_touch(masks[i][rows, cols], masks[j][rows, cols], distance):
            return True
    return False


def overlapping_image_ids(
    coco: Any, rule: str = "either", distance: int = 1, progress: bool = True
) -> List[int]:
    """Ids of the images of a ``pycocotools`` COCO whose instances touch / whose boxes overlap
    (``progress``: a progress bar over the images).

    Boxes are the instances' pixel boxes (from their masks), not the files' ``bbox`` fields:
    a polygon's stored box and the box of its rasterised mask can differ by a pixel, which
    flips boxes that share one pixel row or column in or out of the subset.
    """
    from pmgsam.evaluation.coco_gt import instance_rles

    from .per_image import map_images

    if rule not in RULES:
        raise ValueError(f"rule must be one of {list(RULES)}, got {rule!r}")
    ids = sorted(coco.getImgIds())

    def selected(img_id: int) -> bool:
        return _instances_overlap(instance_rles(coco, img_id), rule, distance)

    chosen = map_images(selected, ids, f"overlapping instances ({rule})", progress)
    return [int(i) for i, hit in zip(ids, chosen) if hit]


def subset_coco(data: Mapping[str, Any], image_ids: Sequence[int]) -> Dict[str, Any]:
    """The COCO dict restricted to ``image_ids`` (images and their annotations)."""
    keep = set(int(i) for i in image_ids)
    out = {k: v for k, v in data.items() if k not in ("images", "annotations")}
    out["images"] = [im for im in data["images"] if int(im["id"]) in keep]
    out["annotations"] = [a for a in data["annotations"] if int(a["image_id"]) in keep]
    return out


OUTPUT_FILES = ("overlap_images.txt", "overlap_gt.json", "overlap_summary.json")
WHAT = "the subset files"


def _prediction_folder(args: argparse.Namespace) -> Optional[Path]:
    """The maps to score: --pred-dir, else RUN/pred/<split> (where evaluate.py writes them) for
    --run with --split; None when nothing is to be scored."""
    if args.pred_dir:
        folder = Path(args.pred_dir)
        if args.run and not maps_of_run(Path(args.run), folder, args.name):
            # The AP goes into the run's run.json as that run's: other maps would pass for it.
            raise ConfigError(
                f"--pred-dir '{folder}' is not a map folder of --run '{args.run}' (RUN/pred/...): "
                "its AP would be recorded as that run's; score other maps without --run"
            )
        return folder
    if not args.run:
        return None
    if not args.split:
        # Without a split the run's maps cannot be told, and a --run left unused would read as
        # scored into its run.json.
        raise ConfigError(
            "--run needs --pred-dir, the maps to score into its run.json (or --split, to score "
            "RUN/pred/<split>)"
        )
    folder = Path(args.run) / "pred" / args.split
    print(f"scoring {folder} (--run without --pred-dir)")
    return folder


# How the maps are scored unless given, or recorded by --run's full-set entry.
SCORING_DEFAULTS = {"protocol": "all", "threshold": 0.5, "min_area": 0, "resize_pred": False}


def _given_text(key: str, value: Any) -> str:
    """A scoring setting as its option gives it (``--resize-pred`` is a flag)."""
    if key == "resize_pred":
        return "--resize-pred" if value else "no --resize-pred"
    return f"--{key.replace('_', '-')} {value}"


def scoring_settings(args: argparse.Namespace, recorded: object) -> Dict[str, Any]:
    """``protocol``, ``threshold``, ``min_area`` and ``resize_pred`` to score with: each as
    given, else as ``recorded`` (--run's full-set entry of ``--name``) was scored with, else
    the default (a run.json written before a setting was recorded records none).

    One given that differs from the recorded one is refused: the subset's AP would sit in the
    run beside a full-set AP scored otherwise (``matched`` reads higher than ``all``; maps
    resized to their GT's size are not the maps a run without ``--resize-pred`` scored).
    """
    had_all = recorded if isinstance(recorded, Mapping) else {}
    out: Dict[str, Any] = {}
    for key, default in SCORING_DEFAULTS.items():
        given, had = getattr(args, key, None), had_all.get(key)
        if given is not None and had is not None and given != had:
            option = "--" + key.replace("_", "-")
            had_text = json.dumps(had) if isinstance(had, bool) else had
            raise ConfigError(
                f"{_given_text(key, given)} differs from the {key} {had_text} that --run "
                f"'{args.run}' scored {args.name} with (its run.json): the subset's AP would not "
                f"be comparable to that full-set AP; leave {option} out to score as the run "
                f"did, or score the run again with {_given_text(key, given)}"
            )
        out[key] = given if given is not None else had if had is not None else default
    if out["protocol"] not in ("all", "matched"):
        raise ConfigError(
            f"--run '{args.run}': its run.json records the unknown COS protocol "
            f"{out['protocol']!r} for {args.name}; give --protocol all or matched"
        )
    if not isinstance(out["resize_pred"], bool):
        raise ConfigError(
            f"--run '{args.run}': its run.json records resize_pred {out['resize_pred']!r} for "
            f"{args.name}, not true or false; correct it to how that AP was scored"
        )
    return out


def refuse_dataset_folder(out: Path, folders: Sequence[Path]) -> None:
    """Refuse an ``out`` that is the folder of the GT file or of the split's image and mask
    folders: the subset files would sit among the dataset's own."""
    for folder in folders:
        if out.resolve() == Path(folder).resolve():
            raise OutputError(
                f"--out '{out}' is the dataset folder '{folder}': {WHAT} would be written among "
                "the dataset's files; choose another place"
            )


def _ground_truth(args: argparse.Namespace, out: Path, scoring: bool) -> Tuple[Dict[str, Any], str]:
    """The COCO GT of --gt-json, or of the config's split (refusing first an ``out`` among the
    folders the split is read from), and where it was read."""
    if args.gt_json:
        path = Path(args.gt_json)
        if not path.is_file():
            what = "is not a file" if path.exists() else "does not exist"
            raise DataNotFoundError(f"--gt-json '{path}' {what}")
        from pmgsam.data.coco_annotations import read_coco_json
        from pmgsam.evaluation.coco_gt import checked_coco_dict

        where = f"--gt-json '{path}'"
        data = read_coco_json(path, where)
        # One error naming what is malformed; scoring needs GT instances (AP -1 without). The
        # file's own JSON is returned, so the subset written keeps the user's encoding.
        checked_coco_dict(data, where, require_instances=scoring)
        refuse_dataset_folder(out, [path.parent])
        return cast(Dict[str, Any], data), str(path.resolve())
    if not (args.config and args.split):
        raise ConfigError("overlap needs --gt-json, or --config and --split")
    from pmgsam.data import build_dataset
    from pmgsam.data.splits import read_only_splits
    from pmgsam.engine.config import ExperimentConfig
    from pmgsam.evaluation.cod10k_scope import refuse_noncam_scoring
    from pmgsam.utils.config import load_config, with_data_root

    overrides = with_data_root(args.overrides, args.data_root)
    cfg = load_config(ExperimentConfig, args.config, overrides)
    # NonCAM images would count in the subset's share and as false positives in its AP.
    refuse_noncam_scoring(cfg.data.dataset, cfg.data, args.config)
    with read_only_splits():  # an analysis reads the dataset folder, never writes into it
        dataset = build_dataset(cfg.data, args.split, cfg.model.image_size, train=False)
    inputs = [*dataset_folders(dataset), dataset.instances.path]
    refuse_output_in_inputs(out, inputs, "--out", WHAT)  # before instance maps are read
    refuse_dataset_folder(out, [Path(p).parent for p in dataset_folders(dataset)])
    # Named as benchmark mode names it in the record of its COS entry.
    return dataset.coco_gt(), str(dataset.instances.record().get("path") or args.split)


def overlap_report(args: argparse.Namespace) -> Dict[str, Any]:
    """Select the subset, write its files, and score AP on it and the full set if asked."""
    from pmgsam.evaluation.coco_gt import load_coco
    from pmgsam.evaluation.run_json import read_run_file

    from .inputs import run_method

    out = Path(args.out)
    recorded = read_run_file(Path(args.run) / "run.json").get("cos") if args.run else None
    recorded = recorded if isinstance(recorded, Mapping) else {}
    # A SAM baseline's AP came from its instances, not its maps: its subset is scored so too.
    instances = recorded_instances(args.run, args.name, recorded, args.pred_dir)
    given = [f"--{k.replace('_', '-')}" for k in SCORING_DEFAULTS if getattr(args, k) is not None]
    if instances and given:  # instances are scored as they were made: no map is thresholded
        raise ConfigError(
            f"{', '.join(given)} would be ignored: --run '{args.run}' scored {args.name} from "
            "its instances, and its subset is scored from the same instances; leave them out"
        )
    pred_dir = None if instances else _prediction_folder(args)
    if pred_dir is not None:
        settings = scoring_settings(args, recorded.get(args.name))
        if args.name in recorded:
            resized = "resized to" if settings["resize_pred"] else "not resized to"
            print(
                f"scoring as --run's {args.name} AP was: protocol {settings['protocol']}, "
                f"threshold {settings['threshold']}, min area {settings['min_area']}, maps "
                f"{resized} their GT's size"
            )
    refuse_output_in_inputs(out, [pred_dir], "--out", WHAT)
    for name in OUTPUT_FILES:  # re-running on its own output must not replace its input GT
        refuse_output_in_inputs(out / name, [args.gt_json], "--out", f"'{name}'")
    check_output_files(out, OUTPUT_FILES, "--out", args.overwrite)
    scoring = pred_dir is not None or instances is not None
    data, source = _ground_truth(args, out, scoring=scoring)
    # A COCO file names its images, not their folders: those are told by what they hold.
    names = [str(im.get("file_name", "")) for im in data["images"]]
    refuse_output_in_data_folder(out, names, IMAGE_EXTENSIONS, "--out", WHAT)
    ids = overlapping_image_ids(
        load_coco(data), args.rule, args.touch_distance, progress=not args.quiet
    )
    subset = subset_coco(data, ids)
    total = len(data["images"])
    summary: Dict[str, Any] = {
        "name": args.name,
        "rule": args.rule,
        "touch_distance": args.touch_distance,
        "num_images": total,
        "num_overlap_images": len(ids),
        "share": len(ids) / total if total else float("nan"),
    }
    if scoring:
        # Scored before any file is written: a wrong folder (or a broken run.json) must not
        # leave subset files behind.
        method = run_method(Path(args.run)) if args.run else args.name
        if instances is not None:
            full = dict(recorded[args.name])
            summary["cos"] = {args.name: full}
            if ids:
                sub = score_subset_instances(instances, subset, full)
                sub.update(share=summary["share"], rule=args.rule)
                summary["cos"][f"{args.name} overlap"] = sub
        else:
            summary["cos"] = _score_full_set_and_subset(
                args, pred_dir, data, subset, settings, summary
            )
        record_ground_truth(
            summary["cos"], args.name, data, subset, source, recorded.get(args.name)
        )
    record_output_files(out, OUTPUT_FILES, "python -m pmgsam.analysis overlap")
    write_text_atomic(
        out / "overlap_images.txt", "".join(im["file_name"] + "\n" for im in subset["images"])
    )
    write_text_atomic(out / "overlap_gt.json", json.dumps(subset))
    print(
        f"{args.name}: {len(ids)} of {total} images ({100 * summary['share']:.1f}%) have "
        f"overlapping instances (rule '{args.rule}'); list in {out / 'overlap_images.txt'}"
    )
    if scoring:
        _record_and_print_scores(args, method, summary["cos"], recorded)
    write_text_atomic(out / "overlap_summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def _score_full_set_and_subset(
    args: argparse.Namespace,
    pred_dir: Path,
    data: Dict[str, Any],
    subset: Dict[str, Any],
    settings: Dict[str, Any],
    summary: Dict[str, Any],
) -> Dict[str, Any]:
    """``{--name: full-set AP, "<--name> overlap": subset AP}`` of the maps in ``pred_dir``
    (no subset entry when no image is in the subset)."""
    from pmgsam.evaluation.instances import evaluate_cos_folder

    # With --run, as its full-set AP was scored: the full set here too (the summary's).
    kwargs = dict(settings, progress=not args.quiet)
    cos = {args.name: evaluate_cos_folder(pred_dir, data, **kwargs)}
    if summary["num_overlap_images"]:
        # The maps of the images left out of the subset are expected there.
        sub = evaluate_cos_folder(pred_dir, subset, warn_unscored=False, **kwargs)
        sub.update(share=summary["share"], rule=args.rule)
        cos[f"{args.name} overlap"] = sub
    return cos


def _record_and_print_scores(
    args: argparse.Namespace, method: str, scored: Dict[str, Any], recorded: Mapping[str, Any]
) -> None:
    """Add the AP entries to --run's run.json (keeping its own full-set AP, as evaluate.py
    scored it) and print the COS table of that run, or of the scores alone without --run."""
    from pmgsam.evaluation.run_json import write_run_json
    from pmgsam.evaluation.table_rendering import to_markdown
    from pmgsam.evaluation.tables import cos_table

    run = {"method": args.name, "cos": scored}
    if args.run:
        cos = dict(scored)
        if args.name in recorded:  # the run's own full-set AP (evaluate.py's) stays
            del cos[args.name]
        path = write_run_json(args.run, method, cos=cos)
        run = json.loads(path.read_text(encoding="utf-8"))
        print(f"wrote {path}")
    print(to_markdown(cos_table([run])))
