"""The ``premask`` subcommand of ``python -m pmgsam.analysis``: it finds the run's final and
Pre-Mask maps (predicting those missing), any priors, and writes the analysis of
:mod:`pmgsam.analysis.premask` (Table 5, Fig. 10)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List

from pmgsam.data.io import DataNotFoundError
from pmgsam.utils.command_names import command_name
from pmgsam.utils.config import with_data_root
from pmgsam.utils.outputs import refuse_output_in_inputs

if TYPE_CHECKING:
    from .inputs import SplitImages

# How messages name the map folders of --run that this command predicts into.
FINAL_FOLDER, PREMASK_FOLDER = "--run's final map folder", "--run's Pre-Mask map folder"


def premask_report(args: argparse.Namespace) -> None:
    """``premask``: score the Pre-Mask, the final mask and any priors, predicting missing maps."""
    from pmgsam.evaluation.combined import combined_name

    from .inputs import check_maps_made_by, part_folders, pmgsam_run_meta, split_images
    from .output_files import check_output_files, record_output_files
    from .premask import (
        ANALYSIS_FILES,
        FINAL,
        PREMASK,
        analyse,
        check_prior_names,
        parse_prior,
        prior_maps,
        refuse_shared_names,
    )
    from .scored_images import check_split_is_scored_images

    run, overrides = Path(args.run), with_data_root(args.overrides, args.data_root)
    # Even with --checkpoint: PMG-SAM maps must not be predicted into a baseline's run.
    meta = pmgsam_run_meta(run, "--run", "it has no Pre-Mask; premask analyses PMG-SAM runs only")
    images = split_images(args.config, args.split, overrides)
    preds = part_folders(run, "pred", args.split)
    pres = part_folders(run, "premask", args.split)
    # The set's name as evaluate.py and pmgsam.ablate store it (DIS-TE: DIS-TE1-4).
    name = combined_name(args.split)
    out = Path(args.out or run / "analysis" / f"premask_{name}")
    # The run's map roots too: the analysis files would sit beside the per-split map folders.
    read = [run / "pred", run / "premask", *preds.values(), *pres.values(), *images.folders()]
    priors = [parse_prior(text) for text in args.prior_dir or []]
    names = [name for name, _ in priors] + ([f"CLIPSeg ('{args.prompt}')"] if args.clipseg else [])
    check_prior_names(names)
    read += [folder for _, folder in priors]
    refuse_output_in_inputs(out, read, "--out", "the analysis files")  # before any prediction
    check_output_files(out, ANALYSIS_FILES, "--out", args.overwrite)
    # Ready priors are checked before any prediction too: a wrong folder must not cost a pass.
    sources = {name: prior_maps(folder, images.stems, name) for name, folder in priors}
    if args.clipseg:  # its cache is one folder of maps by name, as a prior's
        refuse_shared_names(images.stems, "--clipseg")
    # Before any map is read or predicted: maps of other images must not join a scored run's.
    check_split_is_scored_images(run, images, args.split)
    complete = all(
        (preds[p] / f"{s}.png").is_file() and (pres[p] / f"{s}.png").is_file()
        for p, s in zip(images.parts, images.stems)
    )
    if args.predict or not complete:
        _predict_final_and_premask(args, run, meta, overrides, images, preds, pres)
    else:
        if args.checkpoint:  # the maps there may be another checkpoint's
            check_maps_made_by(args.checkpoint, _stems_by_folder(images, preds, pres))
        print(_read_not_predicted(args, run))
    if args.clipseg:
        from .clipseg import clipseg_cache, clipseg_maps

        # One folder per split (whatever its spelling), model and prompt: maps of another
        # prompt are never reused as these, and those of the same images always are.
        folder = clipseg_cache(run / "priors" / "clipseg", args.split, args.clipseg, args.prompt)
        clipseg_maps(
            Path(args.clipseg),
            args.prompt,
            images.image_paths,
            images.stems,
            folder,
            args.device,
            progress=not args.quiet,
        )
        sources[f"CLIPSeg ('{args.prompt}')"] = prior_maps(folder, images.stems, "CLIPSeg")
    sources[PREMASK] = images.maps(pres, "Pre-Mask")
    sources[FINAL] = images.maps(preds, "final")
    record_output_files(out, ANALYSIS_FILES, "python -m pmgsam.analysis premask")
    summary = analyse(
        images.names,
        images.mask_paths,
        sources,
        out,
        args.pre_threshold,
        args.final_threshold,
        name,
        progress=not args.quiet,
    )
    _print_premask_summary(args, out, summary)


def _predict_final_and_premask(
    args: argparse.Namespace,
    run: Path,
    meta: Dict[str, object],
    overrides: List[str],
    images: SplitImages,
    preds: Dict[str, Path],
    pres: Dict[str, Path],
) -> None:
    """Predict the final and Pre-Mask maps of every part of ``args.split`` (``images``) into
    ``preds`` and ``pres`` with --checkpoint, else the checkpoint the run was scored with.
    --overwrite lets them replace files there that pmgsam did not write, or maps edited since
    it wrote them, as inference's does; every part's folders are checked before the model
    loads."""
    from pmgsam.evaluation.combined import split_parts
    from pmgsam.evaluation.run_json import recorded_checkpoint

    from .inputs import check_predicts_scored_model

    checkpoint = args.checkpoint or recorded_checkpoint(meta)
    if not checkpoint:
        raise DataNotFoundError(_no_maps_message(run, args.split, args.predict, meta))
    checkpoint = str(checkpoint)
    if not args.checkpoint and not Path(checkpoint).exists():
        raise DataNotFoundError(_recorded_weights_gone(run, meta, checkpoint))
    has_maps = any(any(folder.glob("*.png")) for folder in preds.values() if folder.is_dir())
    hashed = check_predicts_scored_model(
        run, meta, checkpoint, given=bool(args.checkpoint), has_maps=has_maps
    )
    from pmgsam.engine.inference import predict_split
    from pmgsam.utils.outputs import MANIFEST

    from .inputs import is_ablation_variant

    # A variant's maps from a pmgsam.ablate that predicted without manifests are its own
    # weights' (checked above): replaced as that command replaces them, not taken for a user's.
    older_ablate = is_ablation_variant(meta) and any(
        folder.is_dir() and not (folder / MANIFEST).is_file() for folder in preds.values()
    )
    overwrite = args.overwrite or older_ablate
    _check_map_folders(images, preds, pres, overwrite)
    loaded: dict = {}  # one model load for every part
    for part in split_parts(args.split):
        predict_split(
            args.config,
            checkpoint,
            part,
            preds[part],
            args.device,
            args.batch_size,
            overrides,
            overwrite=overwrite,
            premask_dir=pres[part],
            option=FINAL_FOLDER,
            premask_option=PREMASK_FOLDER,
            progress=not args.quiet,
            reuse=loaded,
            weights=hashed,  # the file checked is hashed once, and must be the one loaded
        )


def _check_map_folders(
    images: SplitImages, preds: Dict[str, Path], pres: Dict[str, Path], overwrite: bool
) -> None:
    """Every part's final and Pre-Mask map folders, as predict_split checks them once it gets
    there (:func:`~pmgsam.utils.outputs.check_output_dir`, which creates nothing), before the
    model loads: a file of the user's, or a map edited since, in the last part's folders must
    not cost the predictions of the others."""
    from pmgsam.utils.outputs import check_output_dir

    names: Dict[str, List[str]] = {}
    for part, stem in zip(images.parts, images.stems):
        names.setdefault(part, []).append(f"{stem}.png")
    for part, maps in names.items():
        for folder, option in ((preds[part], FINAL_FOLDER), (pres[part], PREMASK_FOLDER)):
            check_output_dir(folder, maps, images.folders(), overwrite, option)


def _recorded_weights_gone(run: Path, meta: Dict[str, object], tried: str) -> str:
    """Why the weights ``run``'s run.json records (looked for at ``tried``) cannot predict its
    maps, and what to do."""
    from .inputs import score_again

    given = f"its run.json's checkpoint '{meta.get('checkpoint')}'"
    if meta.get("checkpoint_resolved"):
        where = f"{given} is not at '{tried}', where it was when the run was scored"
    else:  # as given, maybe relative to the folder evaluate.py ran in: looked for from here
        where = (
            f"{given} is not at '{Path(tried).absolute()}' (that run.json, of an older "
            f"{command_name('evaluate')}, does not record where it was when the run was scored, so "
            "it was looked for from the current folder)"
        )
    if meta.get("weights_sha256"):
        fix = "give --checkpoint naming those weights (checked against its recorded SHA-256)"
    else:
        fix = score_again(run, meta, "CKPT")
    return (
        f"cannot predict the maps of --run '{run}' with the weights it was scored with: "
        f"{where}; restore that file, or {fix}"
    )


def _stems_by_folder(
    images: SplitImages, preds: Dict[str, Path], pres: Dict[str, Path]
) -> Dict[Path, List[str]]:
    """``{map folder: the stems read from it}`` for the final and Pre-Mask folders."""
    stems: Dict[Path, List[str]] = {}
    for part, stem in zip(images.parts, images.stems):
        for folder in (preds[part], pres[part]):
            stems.setdefault(folder, []).append(stem)
    return stems


def _read_not_predicted(args: argparse.Namespace, run: Path) -> str:
    """The line saying the run's maps were read, not predicted (by --checkpoint's weights, as
    their records show, when it is given), naming the prediction options given (away from
    their defaults) that therefore had no effect; --device still sets where CLIPSeg runs."""
    unused = [
        option
        for option, given in (
            ("--device", args.device != "auto" and not args.clipseg),
            ("--batch-size", args.batch_size != 1),
        )
        if given
    ]
    effect = f", so {', '.join(unused)} had no effect" if unused else ""
    made = ", made by --checkpoint's weights" if args.checkpoint else ""
    return (
        f"read the final and Pre-Mask maps of {args.split} in '{run}' (all there{made}): none "
        f"predicted{effect}; --predict predicts them again"
    )


def _no_maps_message(run: Path, split: str, predict: bool, meta: Dict[str, object]) -> str:
    """Why ``run`` (its run.json's ``meta``) gave no maps to analyse (or, with --predict, no
    weights to predict them with), and what to give instead."""
    from .inputs import is_ablation_variant, score_again

    if is_ablation_variant(meta):  # --checkpoint would be refused: it was scored
        older = "written by a pmgsam.ablate older than its record of the variant's weights"
        if predict:
            where = f"--predict: the run.json of --run '{run}', {older},"
        else:
            where = (
                f"--run '{run}' lacks final or Pre-Mask maps of {split}, and its run.json, {older},"
            )
        return (
            f"{where} does not name the weights to predict with: {score_again(run, meta, '')}; "
            "then premask predicts with those"
        )
    scored = (
        f"the folder {command_name('evaluate')} --output-dir wrote (with pred/<split>/ and "
        "run.json)"
    )
    if not run.exists():
        return (
            f"--run '{run}' does not exist: give {scored}, or --checkpoint to predict the "
            "maps into a new folder"
        )
    if (run / "checkpoints").is_dir() and not (run / "run.json").is_file():
        return (
            f"--run '{run}' is a training run folder ({command_name('train')}'s checkpoints/), not "
            f"a scored one: give {scored}, or --checkpoint {run} with another --run to predict "
            "the maps"
        )
    if predict:  # its maps may all be there: what is missing is the weights
        return (
            f"--predict: '{run}' has no run.json naming the weights that made its maps; give "
            "--checkpoint to predict them with"
        )
    return f"'{run}' lacks final or Pre-Mask maps of {split}; give --checkpoint to predict them"


def _print_premask_summary(args: argparse.Namespace, out: Path, summary: Dict[str, Any]) -> None:
    """Table 5, Pearson r and the error-correction count, and the files written."""
    print((out / "table5.md").read_text(encoding="utf-8"))
    q, n, r = summary["quadrants"], summary["num_images"], summary["pearson_premask_final_iou"]
    print(
        f"Pearson r(Pre-Mask IoU, final IoU) = {'undefined' if r is None else f'{r:.4f}'}; "
        f"error corrected (Pre-Mask IoU < {args.pre_threshold}, final IoU > "
        f"{args.final_threshold}): {q['corrected']}/{n}; quadrants {json.dumps(q)}"
    )
    print(f"wrote {out}/per_image.csv, summary.json, table5.md/.csv/.tex, fig10_scatter.png")
