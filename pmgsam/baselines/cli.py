"""``python evaluate.py --baseline ...``: one command per baseline table row.

    python evaluate.py --baseline sam-auto|sam-box|sam2-auto|sam2-box|esam \\
        --model-type vit_b|vit_l|vit_h|tiny|small|base_plus|large --checkpoint FILE \\
        --config CFG --dataset dis5k|cod10k|nc4k --splits S1,S2 [--output-dir results/<row>] \\
        [--reduce union|largest|oracle] [--limit N] [generator / --esam-* settings] \\
        [--overwrite] [--skip-existing] [--keep-going]

Predicts every split (``pmgsam.baselines.runner``), scores it with the PMG-SAM scoring code,
measures the efficiency block with ``pmgsam.efficiency``'s timing harness on the first prompted
image (the whole ``predict``: pre-processing, all forward passes and all post-processing) and
writes ``<output-dir>/run.json`` for ``python -m pmgsam.report``. A SAM checkpoint with the
``<stem>.finetune.json`` record of ``pmgsam.baselines.finetune_sam`` beside it (for that very
file) is a fine-tuned row: ``SAM ViT-H fine-tuned ...``, the record's essentials in
``meta.finetune``.

``--skip-existing`` resumes a stopped run as benchmark mode does: each ``pred/<split>`` keeps the
maps (and each image's masks and counts) that the same checkpoint (SHA-256, hashed once per run),
model input side and map-changing settings (:func:`map_settings`) made from the same files, and a
folder of another producer's maps is refused before the model loads, naming both
(:mod:`pmgsam.baselines.resume`). ``--keep-going`` skips images that cannot be read
(:mod:`pmgsam.engine.unreadable`): their splits are not scored and run.json is not written.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from pmgsam.baselines.settings import (
    MODEL_TYPES,
    ORACLE_NOTE,
    REDUCTIONS,
    EsamSettings,
    family_of,
)
from pmgsam.utils.cli import positive_int

BASELINES = ("sam-auto", "sam-box", "sam2-auto", "sam2-box", "esam")
DEFAULT_MODEL = {"sam": "vit_b", "sam2": "tiny"}
# --model-image-size must divide by these: SAM's ViT cuts the input into 16-pixel patches (the
# last side % 16 pixels of the image would be dropped, and below 16 nothing is left); SAM2's
# Hiera downsamples 32x and its FPN adds 2x-upsampled maps, which mismatch otherwise (48 and 80
# fail inside sam2, 32, 64 and 96 run).
SIDE_MULTIPLE = {"sam": 16, "sam2": 32}
# Generator settings shared by SamAutomaticMaskGenerator and SAM2AutomaticMaskGenerator;
# unset ones keep each package's own default (they differ, e.g. pred_iou_thresh 0.88 vs 0.8).
GENERATOR_OPTIONS = {
    "points_per_side": int,
    "points_per_batch": int,
    "pred_iou_thresh": float,
    "stability_score_thresh": float,
    "box_nms_thresh": float,
    "crop_n_layers": int,
    "min_mask_region_area": int,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``--baseline`` option group of evaluate.py (benchmark options are shared)."""
    g = parser.add_argument_group(
        "baseline mode (with --config and --checkpoint; --dataset and --splits default to the "
        "config's)"
    )
    g.add_argument("--baseline", choices=BASELINES, help="predict and score a baseline row")
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
        "--speed-iters", type=int, default=10, help="timed passes (0: no timing, no FLOPs)"
    )
    g.add_argument("--speed-warmup", type=int, default=3, help="untimed passes before timing")
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
            type=type(f.default),
            default=f.default,
            help="esam (default: %(default)s; see pmgsam/baselines/settings.py)",
        )


def _build(args: argparse.Namespace, family_name: str, device: Any):
    from pmgsam.baselines.base import AutoBaseline, BoxBaseline, family

    model = family(family_name).load(
        args.model_type, args.checkpoint, device, args.model_image_size
    )
    if args.baseline == "esam":
        from pmgsam.baselines.esam import EsamBaseline

        values = {f.name: getattr(args, "esam_" + f.name) for f in fields(EsamSettings)}
        return EsamBaseline(family_name, args.model_type, model, EsamSettings(**values))
    if args.baseline.endswith("-box"):
        return BoxBaseline(family_name, args.model_type, model)
    settings = {k: getattr(args, k) for k in GENERATOR_OPTIONS if getattr(args, k) is not None}
    if args.use_m2m:
        settings["use_m2m"] = True
    return AutoBaseline(family_name, args.model_type, model, settings)


def map_settings(args: argparse.Namespace) -> Dict[str, Any]:
    """What a baseline's maps depend on besides the checkpoint and the input side (recorded in
    the prediction folders' manifests): the baseline and model type, the generator or E-SAM
    settings given, and ``--reduce`` (box prompts make one map whatever it is)."""
    settings: Dict[str, Any] = {"baseline": args.baseline, "model_type": args.model_type}
    if args.baseline.endswith("-auto"):
        given = {k: getattr(args, k) for k in GENERATOR_OPTIONS if getattr(args, k) is not None}
        settings["generator"] = {**given, **({"use_m2m": True} if args.use_m2m else {})}
    if args.baseline == "esam":
        settings["esam"] = {f.name: getattr(args, "esam_" + f.name) for f in fields(EsamSettings)}
    if not args.baseline.endswith("-box"):
        settings["reduce"] = args.reduce
    return settings


def row_name(baseline: Any, reduce: str, cos: bool) -> str:
    """Table row: model, mode, and what the row's numbers depend on (prompt / reduction)."""
    if baseline.mode == "box":
        return f"{baseline.label} GT box" + (" per instance" if cos else "")
    prefix = "E-SAM-style " if baseline.mode == "esam" else ""
    suffix = "" if cos else f" ({'ORACLE upper bound' if reduce == 'oracle' else reduce})"
    return f"{prefix}{baseline.label} {'auto' if baseline.mode == 'auto' else ''}".rstrip() + suffix


#: How a baseline row's speed and FLOPs were measured (recorded in its run.json).
EFFICIENCY_NOTES = {
    "fps_timing": (
        "pmgsam.efficiency.measure_speed (fp32, median of speed-iters after speed-warmup, "
        "synchronised when on CUDA) of the whole predict on the first prompted image"
    ),
    "flops_counting": (
        "FlopCounterMode over that same whole predict: image encoder once, mask decoder "
        "for every prompt (batch)"
    ),
}


#: What run.json ``meta.finetune`` keeps of a fine-tuned SAM's ``.finetune.json`` record.
FINETUNE_META_KEYS = ("source_checkpoint", "source_sha256", "output_sha256", "best_epoch",
                      "best_val_loss", "data", "recipe")  # fmt: skip


def _prompt_meta(baseline: Any, reduce: str, cos: bool) -> Dict[str, Any]:
    """What a row records of its prompts: the box rule, or what its automatic masks became (COS:
    instances, so no ``reduce``, which no COS score reads; DIS: one map by ``reduce``)."""
    if baseline.prompt == "box":
        if cos:
            return {"box_prompt": "one tight XYXY box per GT instance (COCO instance masks)"}
        return {"box_prompt": "one tight XYXY box around the whole GT mask"}
    if cos:
        return {"instances": "every generated mask is scored as a COCO instance (no GT used)"}
    return {
        "reduce": reduce,
        "reduce_is_oracle": reduce == "oracle",
        "reduce_note": ORACLE_NOTE if reduce == "oracle" else "no GT used",
    }


def _family_name(baseline: str) -> Optional[str]:
    """The package a --baseline runs on (``sam`` or ``sam2``); None for ``esam``, which runs on
    either (its --model-type tells)."""
    return baseline.split("-")[0] if baseline != "esam" else None


def run(args: argparse.Namespace) -> Dict[str, Any]:
    """Predict, score and record every split of ``args`` with the chosen baseline."""
    import json

    from pmgsam.baselines.finetune_data import finetune_record
    from pmgsam.baselines.finetune_recipe import freeze_encoders
    from pmgsam.baselines.runner import measure_efficiency
    from pmgsam.data import build_dataset
    from pmgsam.efficiency import count_parameters
    from pmgsam.engine.config import ExperimentConfig
    from pmgsam.engine.distributed import resolve_device
    from pmgsam.evaluation.run_json import (
        check_same_model,
        checkpoint_meta,
        efficiency_from_report,
        write_run_json,
    )
    from pmgsam.evaluation.split_folders import refuse_case_clashes
    from pmgsam.evaluation.tables import COS_NAMES
    from pmgsam.utils.config import load_config, with_data_root

    family_name = _family_name(args.baseline)
    args.model_type = args.model_type or DEFAULT_MODEL[family_name or "sam"]
    owner = family_of(args.model_type)
    overrides = with_data_root([*args.overrides, f"data.dataset={args.dataset}"], args.data_root)
    cfg = load_config(ExperimentConfig, args.config, overrides)
    out_dir = Path(args.output_dir or Path("results") / f"{args.baseline}-{args.model_type}")
    check_same_model(out_dir, args.checkpoint, args.baseline, option="--output-dir")
    # Every split is built before the model loads and anything is predicted: a typo in the
    # last split must not cost the predictions of the others.
    datasets = {
        split: build_dataset(cfg.data, split, cfg.model.image_size, train=False)
        for split in args.splits  # a list (evaluate.py's --splits type)
    }
    refuse_case_clashes(out_dir, datasets, args.dataset)  # COD10K's Test beside NC4K's test
    cos = args.dataset in COS_NAMES
    # Their instance labels too, before the model loads: a split without them must not cost
    # the predictions of the others.
    cos_gt = {split: ds.coco_gt() for split, ds in datasets.items()} if cos else {}
    producer = _producer(args, owner)
    if getattr(args, "skip_existing", False):  # before the model loads
        _refuse_unresumable(args, datasets, out_dir, producer)
    baseline = _build(args, owner, resolve_device(args.device, option="--device"))
    meta: Dict[str, Any] = {
        "baseline": args.baseline,
        **checkpoint_meta(args.checkpoint),
        "config": str(args.config),
        "overrides": overrides,
        **baseline.meta(),
    }
    tuned = finetune_record(args.checkpoint, producer["weights_sha256"]) if owner == "sam" else None
    if tuned is not None:  # a fine-tuned row must not share the untuned model's name
        baseline.fine_tuned = True
        # Its trainable parameters are the ones fine-tuning trained (the mask decoder), as
        # the efficiency table counts PMG-SAM's, not every weight of SAM.
        freeze_encoders(baseline.model)
        meta["finetune"] = {k: tuned.get(k) for k in FINETUNE_META_KEYS}
    meta.update(_prompt_meta(baseline, args.reduce, cos))
    dis_scores, cos_scores, timing_input = _predict_and_score(
        args, baseline, datasets, out_dir, meta, producer, cos_gt
    )
    report: Dict[str, Any] = {"params": count_parameters(baseline.model)}
    if timing_input is not None and args.speed_iters > 0:
        report = measure_efficiency(baseline, *timing_input, args.speed_iters, args.speed_warmup)
        meta.update(efficiency_report=report, **EFFICIENCY_NOTES)
    efficiency = {k: v for k, v in efficiency_from_report(report).items() if v is not None}
    method = args.method or row_name(baseline, args.reduce, cos)
    path = write_run_json(
        out_dir, method, dis=dis_scores, cos=cos_scores, efficiency=efficiency, meta=meta
    )
    print(f"wrote {path}")
    return json.loads(path.read_text())


def _predict_and_score(
    args: argparse.Namespace,
    baseline: Any,
    datasets: Dict[str, Any],
    out_dir: Path,
    meta: Dict[str, Any],
    producer: Dict[str, Any],
    cos_gt: Dict[str, Any],
) -> Tuple[Dict[str, Any], Dict[str, Any], Optional[Tuple[Any, Any]]]:
    """Predict and score each split, printing its scores and recording its summary in
    ``meta``: (DIS scores by split, COS scores by table column, the (image, boxes) to time).
    ``cos_gt``: each COS split's COCO ground truth. With ``--keep-going``, splits holding
    unreadable images are not scored, and the error listing those images is raised once every
    split is done."""
    from pmgsam.baselines.runner import run_baseline, score_dis_maps
    from pmgsam.engine.unreadable import split_failures_error
    from pmgsam.evaluation.tables import COS_NAMES

    cos = args.dataset in COS_NAMES
    dis_scores: Dict[str, Any] = {}
    cos_scores: Dict[str, Any] = {}
    failed: Dict[str, Dict[str, str]] = {}
    timing_input = None
    for split, dataset in datasets.items():
        summary = run_baseline(
            baseline, dataset, out_dir, split, args.reduce, cos, args.limit, not args.quiet,
            args.overwrite, producer, getattr(args, "skip_existing", False),
            getattr(args, "keep_going", False), timing_input is None and args.speed_iters > 0,
            cos_gt.get(split),
        )  # fmt: skip
        first_prompted = summary.pop("timing_input")
        timing_input = timing_input or first_prompted
        if "failed" in summary:
            failed[split] = summary["failed"]
            continue
        meta[f"split {split}"] = {k: v for k, v in summary.items() if k != "cos"}
        if cos:
            name = COS_NAMES[args.dataset] + ("" if split.lower() == "test" else f" {split}")
            cos_scores[name] = summary["cos"]
            print(
                f"{name}: "
                + " ".join(f"{k}={summary['cos'][k]:.4f}" for k in ("AP", "AP50", "AP75"))
            )
        else:
            dis_scores[split] = score_dis_maps(dataset, summary, out_dir, args.workers)
            cells = ("maxFm", "MAE", "Smeasure", "HCE")
            print(f"{split}: " + " ".join(f"{k}={dis_scores[split][k]}" for k in cells))
    if failed:
        raise split_failures_error(failed)
    return dis_scores, cos_scores, timing_input


def _producer(args: argparse.Namespace, owner: str) -> Dict[str, Any]:
    """:func:`~pmgsam.baselines.resume.baseline_producer` of this row, before the model loads:
    the input side is --model-image-size or the family's released one, and the checkpoint is
    hashed once for every split (a SAM-H checkpoint is 2.5 GB)."""
    from pmgsam.baselines.base import family
    from pmgsam.baselines.resume import baseline_producer
    from pmgsam.modeling.weights import CheckpointError
    from pmgsam.utils.io import file_sha256

    released = family(owner).RELEASED_IMAGE_SIZE  # first: its import names a missing package
    side = args.model_image_size or released
    path = Path(args.checkpoint)
    if not path.is_file():  # as loading it would say
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise CheckpointError(f"checkpoint file '{path}' {what}")
    return baseline_producer(path, file_sha256(path), side, map_settings(args))


def _refuse_unresumable(
    args: argparse.Namespace, datasets: Dict[str, Any], out_dir: Path, producer: Dict[str, Any]
) -> None:
    """With --skip-existing, before the model loads and anything is predicted: refuse a
    split's folder holding maps of another producer (or of an unknown one), naming both."""
    from pmgsam.baselines.resume import baseline_sources
    from pmgsam.utils.outputs import finished_maps

    reads_gt = args.baseline.endswith("-box") or args.reduce == "oracle"
    for split, dataset in datasets.items():
        n = len(dataset) if args.limit is None else min(args.limit, len(dataset))
        sources = baseline_sources(dataset, n, reads_gt)
        finished_maps(out_dir / "pred" / split, producer, "--output-dir", sources)


def option_names() -> Tuple[str, ...]:
    """The ``dest`` of every option :func:`add_arguments` adds (what only baseline mode reads)."""
    parser = argparse.ArgumentParser(add_help=False)
    add_arguments(parser)
    return tuple(action.dest for action in parser._actions)


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """One-line usage errors for baseline mode."""
    missing: List[str] = [
        "--" + n.replace("_", "-")
        for n in ("config", "checkpoint", "dataset", "splits")  # evaluate.py fills the last two
        if getattr(args, n) in (None, "")
    ]
    if missing:
        parser.error(f"{' '.join(missing)} required with --baseline")
    from pmgsam.evaluation.combined import ALIASES

    combined = [s for s in args.splits if "+" in s or s in ALIASES]
    if combined:
        parser.error(
            f"--splits {','.join(combined)}: baseline mode scores single splits; give "
            "DIS-TE1,DIS-TE2,DIS-TE3,DIS-TE4 (pmgsam.report pools them into Overall (TE1-4))"
        )
    family_name = _family_name(args.baseline)
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
    owner = family_of(args.model_type or DEFAULT_MODEL[family_name or "sam"])
    side, step = args.model_image_size, SIDE_MULTIPLE[owner]
    if side is not None and side % step:
        parser.error(
            f"--model-image-size must be a multiple of {step} for {owner.upper()} models "
            f"(e.g. {max(step, side // step * step)}), got {side}"
        )


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


def _esam_changes(args: argparse.Namespace) -> Dict[str, Any]:
    return {k: v for k, v in asdict(EsamSettings()).items() if getattr(args, "esam_" + k) != v}
