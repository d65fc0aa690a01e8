"""One baseline row of ``evaluate.py --baseline`` (:func:`run_row`): its config and splits, the
checks of their map folders, the producer of its maps (checkpoint hash, input side,
:func:`map_settings`) and the resume check, the model, its ``meta``, its efficiency block, its
run.json and its printed tables. Each split is predicted and scored by
:mod:`pmgsam.baselines.row_splits`; the options are :mod:`pmgsam.baselines.cli`'s."""

from __future__ import annotations

import argparse
import inspect
from dataclasses import asdict, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Tuple

from pmgsam.baselines.cli import DEFAULT_MODEL, GENERATOR_OPTIONS, baseline_family
from pmgsam.baselines.settings import ORACLE_NOTE, EsamSettings, family_of, finetune_limit

if TYPE_CHECKING:
    from pmgsam.modeling.checkpoint import HashedWeights


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


def map_settings(args: argparse.Namespace, instances: bool = False) -> Dict[str, Any]:
    """What a baseline's maps depend on besides the checkpoint and the input side (recorded in
    the prediction folders' manifests): the baseline and model type, the generator or E-SAM
    settings given, and ``--reduce`` (box prompts make one map whatever it is). ``instances``:
    a folder dataset's masks are also kept as COCO instances (with its ``data.instance_dir``),
    so maps predicted without them are not resumed as if they had none."""
    settings: Dict[str, Any] = {"baseline": args.baseline, "model_type": args.model_type}
    if instances:
        settings["instances"] = True
    if args.baseline.endswith("-auto"):
        given = {k: getattr(args, k) for k in GENERATOR_OPTIONS if getattr(args, k) is not None}
        settings["generator"] = {**given, **({"use_m2m": True} if args.use_m2m else {})}
    if args.baseline == "esam":
        settings["esam"] = {f.name: getattr(args, "esam_" + f.name) for f in fields(EsamSettings)}
    if not args.baseline.endswith("-box"):
        settings["reduce"] = args.reduce
    return settings


def changed_settings(baseline: Any) -> Dict[str, Any]:
    """The settings of an automatic or E-SAM baseline that differ from their defaults (the
    package generator's own; :class:`EsamSettings`), by option name without ``--``
    (``esam-`` dropped): what its masks depend on besides the model. ``points_per_batch``
    only batches the prompts, so it is left out."""
    if baseline.mode == "esam":
        given = asdict(getattr(baseline, "settings", None) or EsamSettings())
        defaults = asdict(EsamSettings())
    else:
        given = dict(getattr(baseline, "settings", None) or {})
        generator = getattr(baseline, "generator", None)
        params = inspect.signature(type(generator)).parameters if generator is not None else {}
        defaults = {k: p.default for k, p in params.items()}
    missing = object()
    return {
        key.replace("_", "-"): value
        for key, value in given.items()
        if key != "points_per_batch" and defaults.get(key, missing) != value
    }


def _setting_text(key: str, value: Any) -> str:
    """``points-per-side 16``, ``pred-iou-thresh 0.9`` (no float noise), ``use-m2m`` (a flag)."""
    if value is True:
        return key
    return f"{key} {value:g}" if isinstance(value, float) else f"{key} {value}"


def row_name(baseline: Any, reduce: str, cos: bool) -> str:
    """Table row: model, mode, and what the row's numbers depend on (prompt, generator or
    E-SAM settings other than the defaults, in brackets, and reduction): two runs with other
    settings are two rows, not one name that ``pmgsam.report`` refuses to merge."""
    if baseline.mode == "box":
        return f"{baseline.label} GT box" + (" per instance" if cos else "")
    prefix = "E-SAM-style " if baseline.mode == "esam" else ""
    name = f"{prefix}{baseline.label} {'auto' if baseline.mode == 'auto' else ''}".rstrip()
    changed = [_setting_text(key, value) for key, value in changed_settings(baseline).items()]
    if changed:
        name += f" [{', '.join(changed)}]"
    return name + ("" if cos else f" ({'ORACLE upper bound' if reduce == 'oracle' else reduce})")


#: How a baseline row's speed and FLOPs were measured (recorded in its run.json).
EFFICIENCY_NOTES = {
    "fps_timing": (
        "pmgsam.efficiency.measure_speed (fp32, median of speed-iters after speed-warmup, "
        "synchronised when on CUDA) of the whole predict on the first prompted image, on "
        "torch's own thread count (efficiency_report.threads; OMP_NUM_THREADS sets it) as "
        "python -m pmgsam.efficiency times PMG-SAM, whatever train.num_threads set for predicting"
    ),
    "flops_counting": (
        "FlopCounterMode over that same whole predict: image encoder once, mask decoder "
        "for every prompt (batch)"
    ),
}


#: What run.json ``meta.finetune`` keeps of a fine-tuned SAM's ``.finetune.json`` record.
FINETUNE_META_KEYS = ("source_checkpoint", "source_sha256", "output_sha256", "best_epoch",
                      "best_val_loss", "data", "recipe")  # fmt: skip


INSTANCES_NOTE = "every generated mask is scored as a COCO instance (no GT used)"


def _prompt_meta(baseline: Any, reduce: str, cos: bool) -> Dict[str, Any]:
    """What a row records of its prompts: the box rule, or what its automatic masks became (COS:
    instances, so no ``reduce``, which no COS score reads; DIS: one map by ``reduce``)."""
    if baseline.prompt == "box":
        if cos:
            return {"box_prompt": "one tight XYXY box per GT instance (COCO instance masks)"}
        return {"box_prompt": "one tight XYXY box around the whole GT mask"}
    if cos:
        return {"instances": INSTANCES_NOTE}
    return {
        "reduce": reduce,
        "reduce_is_oracle": reduce == "oracle",
        "reduce_note": ORACLE_NOTE if reduce == "oracle" else "no GT used",
    }


def run_row(args: argparse.Namespace) -> Dict[str, Any]:
    """Predict, score and record every split of ``args`` with the chosen baseline."""
    import json

    from pmgsam.baselines.finetune_data import finetune_record
    from pmgsam.baselines.finetune_recipe import freeze_encoders
    from pmgsam.baselines.row_merge import MADE_WITH, made_with, refuse_other_settings
    from pmgsam.baselines.row_splits import predict_and_score_splits
    from pmgsam.baselines.row_timing import stale_timing, timing_settings, untimed_settings
    from pmgsam.baselines.runner import measure_efficiency
    from pmgsam.data import build_dataset
    from pmgsam.efficiency import count_parameters
    from pmgsam.engine.config import ExperimentConfig
    from pmgsam.engine.distributed import make_current, resolve_device
    from pmgsam.evaluation.cod10k_scope import refuse_noncam_scoring
    from pmgsam.evaluation.run_data import check_same_data, record_ground_truth
    from pmgsam.evaluation.run_efficiency import efficiency_from_report
    from pmgsam.evaluation.run_json import check_same_model, checkpoint_meta, write_run_json
    from pmgsam.evaluation.split_folders import refuse_case_clashes
    from pmgsam.evaluation.table_rendering import to_markdown
    from pmgsam.evaluation.tables import COS_NAMES, build_tables, cos_entry
    from pmgsam.modeling.checkpoint import check_loaded
    from pmgsam.utils.config import load_config, with_data_root

    family_name = baseline_family(args.baseline)
    args.model_type = args.model_type or DEFAULT_MODEL[family_name or "sam"]
    owner = family_of(args.model_type)
    overrides = with_data_root([*args.overrides, f"data.dataset={args.dataset}"], args.data_root)
    cfg = load_config(ExperimentConfig, args.config, overrides)
    refuse_noncam_scoring(args.dataset, cfg.data, args.config)  # before anything is predicted
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
    # the predictions of the others. An image whose header cannot be read stops the run here,
    # naming it, or with --keep-going is left out of the GT (its split is then not scored).
    gts, left_out = _instance_ground_truths(args, cfg.data, datasets)  # whole splits
    cos_gt = {split: (gt, left_out.get(split, {})) for split, gt in gts.items()}
    check_same_data(out_dir, args.dataset, list(datasets), cfg.data.root, datasets, gts)
    _check_split_folders(args, datasets, out_dir)  # before the weights are hashed
    folder_instances = bool(gts) and not cos
    producer, weights = _producer(args, owner, folder_instances)
    # run.json merges: scores of other splits made with other settings must not stay in the row.
    columns = [cos_entry(args.dataset, split) for split in datasets]
    refuse_other_settings(out_dir, made_with(producer), columns)
    if getattr(args, "skip_existing", False):  # before the model loads
        _refuse_unresumable(args, datasets, out_dir, producer)
    device = resolve_device(args.device, option="--device")
    make_current(device)  # cuda:N: pinned host memory and torch.cuda queries follow it
    baseline = _build(args, owner, device)
    # The SHA-256 the manifests and run.json record must be of the file the model came from.
    check_loaded(weights)
    meta: Dict[str, Any] = {
        "baseline": args.baseline,
        **checkpoint_meta(args.checkpoint),
        MADE_WITH: made_with(producer),
        "config": str(args.config),
        "overrides": overrides,
        **baseline.meta(),
    }
    tuned = finetune_record(args.checkpoint, producer["weights_sha256"]) if owner == "sam" else None
    if tuned is not None:  # a fine-tuned row must not share the untuned model's name
        baseline.fine_tuned = True
        baseline.finetune_limit = finetune_limit(tuned)
        # Its trainable parameters are the ones fine-tuning trained (the mask decoder), as
        # the efficiency table counts PMG-SAM's, not every weight of SAM.
        freeze_encoders(baseline.model)
        meta["finetune"] = {k: tuned.get(k) for k in FINETUNE_META_KEYS}
    meta.update(_prompt_meta(baseline, args.reduce, cos))
    if folder_instances:  # its DIS maps by --reduce, and its masks as COCO instances
        meta["instances"] = INSTANCES_NOTE
    dis_scores, cos_scores, timing_input = predict_and_score_splits(
        args, baseline, datasets, out_dir, meta, producer, cos_gt, device, cfg.train.num_threads
    )
    # The whole split's GT, also with --limit (its scores are marked as part of the split).
    root = cfg.data.root
    record_ground_truth(args.dataset, datasets, datasets, gts, dis_scores, cos_scores, root)
    # Timed on torch's own thread count (OMP_NUM_THREADS), not the prediction's: python -m
    # pmgsam.efficiency times PMG-SAM so, and the efficiency table compares the two rows' speeds.
    report: Dict[str, Any] = {"params": count_parameters(baseline.model)}
    drop: Dict[str, List[str]] = {}
    # The input side, the checkpoint (a fine-tuned model's too) and the model as meta says.
    timed_model = (producer["image_size"], producer["weights_sha256"], baseline.meta())
    if timing_input is not None and args.speed_iters > 0:
        report = measure_efficiency(
            baseline, *timing_input, args.speed_iters, args.speed_warmup, not args.quiet
        )
        timed_with = timing_settings(report, *timed_model)
        meta.update(efficiency_report=report, timed_with=timed_with, **EFFICIENCY_NOTES)
    else:  # an earlier timing stays only when it was measured as this run would have been
        drop = stale_timing(out_dir, lambda: untimed_settings(device, *timed_model))
    # Merged as python -m pmgsam.efficiency merges PMG-SAM's, None values included: a CUDA
    # timing's threads None must replace the thread count of a CPU timing the folder held.
    efficiency = efficiency_from_report(report)
    method = args.method or row_name(baseline, args.reduce, cos)
    path = write_run_json(
        out_dir, method, dis=dis_scores, cos=cos_scores, efficiency=efficiency, meta=meta, drop=drop
    )
    run = json.loads(path.read_text(encoding="utf-8"))
    # The row's tables as benchmark mode prints its own (--quiet hides progress bars only).
    for table in build_tables([run]).values():
        print(to_markdown(table))
    print(f"wrote {path}")
    return run


def _instance_ground_truths(
    args: argparse.Namespace, data_cfg: Any, datasets: Dict[str, Any]
) -> Tuple[Dict[str, Dict[str, Any]], Dict[str, Dict[str, str]]]:
    """(COCO GT by split, images left out of it by split) of the splits this row scores by
    instance AP, as benchmark mode's
    :func:`~pmgsam.evaluation.benchmark_cos.cos_ground_truths`: every COD10K / NC4K split, and
    with ``data.instance_dir`` a folder dataset's splits that have it, except in box modes,
    whose folder-dataset map comes from one box around the whole GT mask (not one per
    instance), so such a row has the DIS metrics only, with a warning."""
    import warnings

    from pmgsam.evaluation.benchmark_cos import cos_ground_truths
    from pmgsam.evaluation.tables import COS_NAMES

    if args.dataset not in COS_NAMES and args.baseline.endswith("-box"):
        if args.dataset == "folder" and getattr(data_cfg, "instance_dir", None):
            warnings.warn(
                f"data.instance_dir is '{data_cfg.instance_dir}', but {args.baseline} prompts "
                "one box around each image's whole GT mask on a folder dataset, so its row is "
                "scored with the DIS metrics only, without instance AP",
                stacklevel=3,
            )
        return {}, {}
    return cos_ground_truths(args, data_cfg, datasets)


def _producer(
    args: argparse.Namespace, owner: str, instances: bool = False
) -> Tuple[Dict[str, Any], HashedWeights]:
    """(:func:`~pmgsam.baselines.resume.baseline_producer` of this row, the checkpoint's hash),
    before the model loads: the input side is --model-image-size or the family's released one,
    and the checkpoint is hashed once for every split (a SAM-H checkpoint is 2.5 GB); once the
    model is loaded, :func:`~pmgsam.modeling.checkpoint.check_loaded` proves the hash is of
    the file it was loaded from. ``instances``: :func:`map_settings`'s."""
    from pmgsam.baselines.base import family
    from pmgsam.baselines.resume import baseline_producer
    from pmgsam.modeling.checkpoint import hash_weights
    from pmgsam.modeling.weights import CheckpointError

    released = family(owner).RELEASED_IMAGE_SIZE  # first: its import names a missing package
    side = args.model_image_size or released
    path = Path(args.checkpoint)
    if not path.is_file():  # as loading it would say
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise CheckpointError(f"checkpoint file '{path}' {what}")
    weights = hash_weights(path)
    return baseline_producer(path, weights.sha256, side, map_settings(args, instances)), weights


def _check_split_folders(args: argparse.Namespace, datasets: Dict[str, Any], out_dir: Path) -> None:
    """Every split's ``pred/<split>`` as :func:`~pmgsam.baselines.runner.run_baseline` checks it
    (:func:`~pmgsam.utils.outputs.check_output_dir`, which creates nothing), before the model
    loads: a file of the user's, or a map edited since, in the last split's folder must not cost
    the predictions of the others. A folder an earlier run left half-filled is the tool's own."""
    from pmgsam.baselines.resume import RECORDS
    from pmgsam.baselines.runner import predicted_count
    from pmgsam.evaluation.split_folders import check_split_folders

    def names(dataset: Any) -> List[str]:  # the maps --limit predicts, and the records file
        n = predicted_count(dataset, args.limit)
        return [*(f"{name}.png" for name in dataset.names[:n]), RECORDS]

    check_split_folders(out_dir, datasets, args.overwrite, names)


def _refuse_unresumable(
    args: argparse.Namespace, datasets: Dict[str, Any], out_dir: Path, producer: Dict[str, Any]
) -> None:
    """With --skip-existing, before the model loads and anything is predicted: refuse a
    split's folder holding maps of another producer (or of an unknown one), naming both."""
    from pmgsam.baselines.resume import baseline_sources
    from pmgsam.baselines.runner import predicted_count
    from pmgsam.utils.outputs import finished_maps

    reads_gt = args.baseline.endswith("-box") or args.reduce == "oracle"
    for split, dataset in datasets.items():
        n = predicted_count(dataset, args.limit)
        sources = baseline_sources(dataset, n, reads_gt)
        finished_maps(out_dir / "pred" / split, producer, "--output-dir", sources)
