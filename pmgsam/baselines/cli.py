"""``python evaluate.py --baseline ...``: one command per baseline table row.

    python evaluate.py --baseline sam-auto|sam-box|sam2-auto|sam2-box|esam \\
        --model-type vit_b|vit_l|vit_h|tiny|small|base_plus|large --checkpoint FILE \\
        --config CFG --dataset dis5k|cod10k|nc4k --splits S1,S2 [--output-dir results/<row>] \\
        [--reduce union|largest|oracle] [--limit N] [generator / --esam-* settings] \\
        [--overwrite] [--skip-existing] [--keep-going]

Predicts every split (``pmgsam.baselines.runner``) on the config's ``train.num_threads`` torch
threads (:func:`pmgsam.engine.predictor.prediction_threads`: unset, on the CPU as many as the
CPUs this process may use, since its images are read in process; on CUDA torch's default), scores
it with the PMG-SAM scoring code, measures the efficiency block with ``pmgsam.efficiency``'s
timing harness on the first prompted image (the whole ``predict``: pre-processing, all forward
passes and all post-processing; on torch's own thread count, as ``python -m pmgsam.efficiency``
times PMG-SAM, recorded as ``meta.efficiency_report.threads``) and writes
``<output-dir>/run.json`` for ``python -m pmgsam.report``. A SAM checkpoint with the
``<stem>.finetune.json`` record of ``pmgsam.baselines.finetune_sam`` beside it (for that very
file) is a fine-tuned row: ``SAM ViT-H fine-tuned ...`` (``SAM ViT-H fine-tuned on a subset
(--limit N) ...`` when it was fine-tuned with ``--limit``), the record's essentials in
``meta.finetune``.

``--skip-existing`` resumes a stopped run as benchmark mode does: each ``pred/<split>`` keeps the
maps (and each image's masks and counts) that the same checkpoint (SHA-256, hashed once per run),
model input side and map-changing settings (:func:`pmgsam.baselines.row.map_settings`) made from
the same files, and a folder of another producer's maps is refused before the model loads, naming
both (:mod:`pmgsam.baselines.resume`). ``--keep-going`` skips images that cannot be read
(:mod:`pmgsam.engine.unreadable`): their splits are not scored and run.json is not written. A
rerun into a row's ``--output-dir`` with other map settings or checkpoint bytes must score again
every split its run.json holds, or it is refused before the model loads: run.json merges, and the
row would mix the two (:mod:`pmgsam.baselines.row_merge`).

This module holds the options and their checks (cheap to import: no torch); the run is
:mod:`pmgsam.baselines.row` (config, producer, resume check, model, meta, efficiency, run.json)
and :mod:`pmgsam.baselines.row_splits` (each split predicted and scored).
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, fields
from typing import Any, Dict, Optional, Sequence, Tuple

from pmgsam.baselines.settings import MODEL_TYPES, REDUCTIONS, EsamSettings, family_of
from pmgsam.utils.cli import non_negative_int, positive_float, positive_int, probability

BASELINES = ("sam-auto", "sam-box", "sam2-auto", "sam2-box", "esam")
DEFAULT_MODEL = {"sam": "vit_b", "sam2": "tiny"}
# --model-image-size must divide by these: SAM's ViT cuts the input into 16-pixel patches (the
# last side % 16 pixels of the image would be dropped, and below 16 nothing is left); SAM2's
# Hiera downsamples 32x and its FPN adds 2x-upsampled maps, which mismatch otherwise (48 and 80
# fail inside sam2, 32, 64 and 96 run).
SIDE_MULTIPLE = {"sam": 16, "sam2": 32}
# Generator settings shared by SamAutomaticMaskGenerator and SAM2AutomaticMaskGenerator, with
# the values each can take (an empty grid or a threshold no IoU reaches gives empty maps, not an
# error); unset ones keep each package's own default (they differ, e.g. pred_iou_thresh 0.88 vs
# 0.8).
GENERATOR_OPTIONS = {
    "points_per_side": positive_int,
    "points_per_batch": positive_int,
    "pred_iou_thresh": probability,
    "stability_score_thresh": probability,
    "box_nms_thresh": probability,
    "crop_n_layers": non_negative_int,
    "min_mask_region_area": non_negative_int,
}
# The values the E-SAM settings that are not fractions of the image or IoUs can take (those are
# probabilities, in [0, 1]); 0 only where it means "none" (EsamSettings' docstring).
ESAM_RANGES = {
    "points_per_side": positive_int,
    "gallery_points_per_side": non_negative_int,
    "slic_segments": positive_int,
    "slic_compactness": positive_float,
    "slic_max_side": positive_int,
    "max_repair_prompts": non_negative_int,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``--baseline`` option group of evaluate.py (benchmark options are shared)."""
    g = parser.add_argument_group(
        "baseline mode (with --config and --checkpoint; --dataset and --splits default to the "
        "config's)"
    )
    g.add_argument(
        "--baseline",
        choices=BASELINES,
        help="predict and score a baseline row, on the config's train.num_threads torch threads "
        "(unset: on the CPU, as many as the CPUs this process may use, at most torch's own "
        "count)",
    )
    types = [t for ts in MODEL_TYPES.values() for t in ts]
    g.add_argument("--model-type", choices=types, help="default vit_b (SAM) / tiny (SAM2.1)")
    g.add_argument(
        "--reduce",
        default="union",
        choices=REDUCTIONS,
        help="automatic modes on DIS (refused elsewhere), masks -> one map: union (default), "
        "largest, or oracle "
        "(ORACLE UPPER BOUND: the mask with the best IoU against the GT; not a fair baseline)",
    )
    g.add_argument("--model-image-size", type=positive_int, help="model input side (default 1024)")
    g.add_argument("--limit", type=positive_int, help="only the first N images of each split")
    g.add_argument(
        "--speed-iters",
        type=non_negative_int,
        default=10,
        help="timed passes, on torch's own thread count as python -m pmgsam.efficiency times "
        "PMG-SAM (OMP_NUM_THREADS sets it), not train.num_threads (0: no timing, no FLOPs; "
        "an earlier timing in run.json stays only if measured with this run's settings)",
    )
    g.add_argument(
        "--speed-warmup",
        type=non_negative_int,
        default=3,
        help="untimed passes before timing (with --speed-iters 0 none are run: only 0 is taken)",
    )
    for name, kind in GENERATOR_OPTIONS.items():
        g.add_argument(
            "--" + name.replace("_", "-"), type=kind, help="auto modes (default: package's)"
        )
    g.add_argument(
        "--use-m2m", action="store_true", help="sam2-auto: SAM2's mask-to-mask refinement"
    )
    for f in fields(EsamSettings):
        g.add_argument(
            "--esam-" + f.name.replace("_", "-"),
            type=ESAM_RANGES.get(f.name, probability),
            default=f.default,
            help="esam (default: %(default)s; see pmgsam/baselines/settings.py)",
        )


def baseline_family(baseline: str) -> Optional[str]:
    """The package a --baseline runs on (``sam`` or ``sam2``); None for ``esam``, which runs on
    either (its --model-type tells)."""
    return baseline.split("-")[0] if baseline != "esam" else None


def run(args: argparse.Namespace) -> Dict[str, Any]:
    """Predict, score and record every split of ``args`` with the chosen baseline: its run.json
    as written (:func:`pmgsam.baselines.row.run_row`, imported only here: building the parser
    loads neither torch nor the model packages)."""
    from pmgsam.baselines.row import run_row

    return run_row(args)


def option_names() -> Tuple[str, ...]:
    """The ``dest`` of every option :func:`add_arguments` adds (what only baseline mode reads)."""
    parser = argparse.ArgumentParser(add_help=False)
    add_arguments(parser)
    return tuple(action.dest for action in parser._actions)


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """One-line usage errors for baseline mode."""
    missing = _missing(args, ("config", "checkpoint"))
    if missing:
        # Not --dataset and --splits: evaluate.py fills them from --config, so they are
        # missing here only because --config is.
        hint = " (--dataset and --splits default to its data.dataset and data.test_splits)"
        parser.error(f"{missing} required with --baseline{hint if '--config' in missing else ''}")
    missing = _missing(args, ("dataset", "splits"))  # evaluate.py fills them from --config
    if missing:
        parser.error(f"{missing} required with --baseline (not filled from --config)")
    from pmgsam.evaluation.combined import ALIASES

    combined = [s for s in args.splits if "+" in s or s in ALIASES]
    if combined:
        parser.error(
            f"--splits {','.join(combined)}: baseline mode scores single splits; give "
            "DIS-TE1,DIS-TE2,DIS-TE3,DIS-TE4 (pmgsam.report pools them into Overall (TE1-4))"
        )
    family_name = baseline_family(args.baseline)
    if family_name and args.model_type and family_of(args.model_type) != family_name:
        parser.error(
            f"--model-type {args.model_type} is a {family_of(args.model_type)} model; "
            f"--baseline {args.baseline} takes {', '.join(MODEL_TYPES[family_name])}"
        )
    if args.baseline != "esam":
        explicit = [f"--esam-{f.replace('_', '-')}" for f, v in _esam_changes(args).items()]
        if explicit:
            parser.error(f"{', '.join(explicit)} only apply to --baseline esam")
    if not args.baseline.endswith("-auto"):
        given = [n for n in GENERATOR_OPTIONS if getattr(args, n) is not None]
        flags = ["--" + n.replace("_", "-") for n in given] + ["--use-m2m"] * args.use_m2m
        if flags:
            hint = " (esam takes --esam-* settings)" if args.baseline == "esam" else ""
            parser.error(f"{', '.join(flags)} only apply to sam-auto / sam2-auto{hint}")
    if args.use_m2m and args.baseline != "sam2-auto":
        parser.error("--use-m2m is a SAM2 generator option: use it with --baseline sam2-auto")
    _check_reduce(parser, args)
    _check_warmup(parser, args)
    owner = family_of(args.model_type or DEFAULT_MODEL[family_name or "sam"])
    side, step = args.model_image_size, SIDE_MULTIPLE[owner]
    if side is not None and side % step:
        parser.error(
            f"--model-image-size must be a multiple of {step} for {owner.upper()} models "
            f"(e.g. {max(step, side // step * step)}), got {side}"
        )


def _missing(args: argparse.Namespace, names: Sequence[str]) -> str:
    """The options of ``names`` not given, as ``--a and --b`` (empty when all are)."""
    return " and ".join("--" + n for n in names if getattr(args, n) in (None, ""))


def _check_reduce(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """A --reduce that no score would read is refused: a box row's map is its masks' maximum,
    and COS data scores every automatic mask as an instance; its run.json would still record
    the reduction (an ``oracle`` one as reading the GT) and its maps show it."""
    from pmgsam.evaluation.tables import COS_NAMES

    if args.reduce == "union":  # the default
        return
    if args.baseline.endswith("-box"):
        parser.error(f"--reduce {args.reduce} only applies to automatic modes, not {args.baseline}")
    if args.dataset in COS_NAMES:
        parser.error(
            f"--reduce {args.reduce} only applies on DIS data: on {args.dataset} every generated "
            "mask is scored as an instance"
        )


def _check_warmup(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Warm-up passes asked for where nothing is timed are refused: --speed-iters 0 runs no
    pass at all (the warm-up only prepares the timed ones), so the warm-up would be ignored.
    0, or the default (not told apart from an unset option), asks for nothing extra."""
    if args.speed_iters == 0 and args.speed_warmup not in (0, parser.get_default("speed_warmup")):
        parser.error(
            f"--speed-warmup {args.speed_warmup} with --speed-iters 0: no pass is timed, so no "
            "warm-up runs; drop --speed-warmup or time with --speed-iters N"
        )


def _esam_changes(args: argparse.Namespace) -> Dict[str, Any]:
    return {k: v for k, v in asdict(EsamSettings()).items() if getattr(args, "esam_" + k) != v}
