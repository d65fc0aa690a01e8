"""Benchmark mode of ``evaluate.py``: predict each split with a checkpoint, score it, record it.

Maps go to ``<output-dir>/pred/<split>/``, scores to ``<output-dir>/metrics/<split>.json``
(DIS metrics for DIS5K and folder datasets, instance AP for COD10K / NC4K; a combined DIS5K
split such as ``DIS-TE`` is scored as one set; a folder dataset with ``data.instance_dir`` also
gets instance AP, in ``<split>.cos.json``: :mod:`pmgsam.evaluation.benchmark_cos`), and the
record to ``<output-dir>/run.json``. Every split's dataset (and a COS split's COCO ground
truth) is built, and its ``pred/<split>`` checked for files of the user's and maps edited since
(:func:`~pmgsam.utils.outputs.check_output_dir`), before anything is predicted, and the model
is loaded once.

With ``--skip-existing`` a stopped run resumes: each ``pred/<split>`` keeps the maps that the same
weights and settings made from the same image files (their images are not opened) and predicts
the others (:func:`pmgsam.engine.inference.predict_split`); every split is then scored over all
its images, as in a straight run. The weights file is hashed once per run (the SHA-256 recorded
in run.json and in every folder's manifest), not once per split; if it is replaced or rewritten
before the model has loaded from it, the run is refused naming it (the SHA-256 would describe
other weights than those that made the maps).

An image (or GT mask) that cannot be read stops the run with an error naming it; on COD10K /
NC4K (and a folder dataset's splits with instance labels), images whose header or instance-map
PNG cannot be read are all named before anything is predicted (the COCO GT needs their size and
instances). With ``--keep-going`` such an image gets no map (and no place in the COCO GT) and
the other images are predicted, the splits holding such files are not scored, and the run ends
with an error listing them all, without run.json (:mod:`pmgsam.engine.unreadable`): fix them
and resume with ``--skip-existing``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from pmgsam.engine.unreadable import UnreadableInputs, split_failures_error
from pmgsam.evaluation.benchmark_cos import cos_ground_truths, cos_scores_file, score_cos_split
from pmgsam.evaluation.cod10k_scope import refuse_noncam_scoring
from pmgsam.evaluation.combined import (
    combined_name,
    is_combined,
    score_combined_split,
    split_pairs,
    split_parts,
)
from pmgsam.evaluation.dis_results import dis_line, write_dis_results
from pmgsam.evaluation.run_data import check_same_data, record_ground_truth
from pmgsam.evaluation.run_json import check_same_model, checkpoint_meta, write_run_json
from pmgsam.evaluation.run_weights import check_same_weights, scored_entries
from pmgsam.evaluation.scoring import EvaluationInputError, evaluate_dis_pairs
from pmgsam.evaluation.split_folders import check_split_folders, refuse_case_clashes
from pmgsam.evaluation.table_rendering import to_markdown
from pmgsam.evaluation.tables import COS_NAMES, build_tables, cos_entry
from pmgsam.utils.config import ConfigError, from_dict, load_config, with_data_root

logger = logging.getLogger(__name__)


def _data_config(config: str, overrides: List[str]):
    """(DataConfig, image size) of the experiment config, with the same overrides as prediction."""
    from pmgsam.engine.config import ExperimentConfig

    cfg = load_config(ExperimentConfig, config, overrides)
    return cfg.data, cfg.model.image_size


def _score_combined(
    args: argparse.Namespace,
    split: str,
    run_dir: Path,
    datasets: Dict,
    overrides: List[str],
    loaded: Dict[str, object],
    run: Dict[str, Any],
) -> Tuple[str, Dict[str, object]]:
    """Predict every part of a combined split and score all its images as one set."""
    name, summary = score_combined_split(
        split,
        datasets.__getitem__,
        lambda part: _predict(args, part, run_dir, overrides, loaded, run),
        run_dir / "metrics",
        args.workers,
        args.resize_pred,
        not args.no_hce,
        not args.quiet,
    )
    print(dis_line(summary))
    return name, summary


def _split_datasets(args: argparse.Namespace, data_cfg: object, image_size: int) -> Dict:
    """``{split or part: dataset}`` of every split (and part of a combined one), built before
    anything is predicted: a typo in the last one must not cost the predictions of the others."""
    from pmgsam.data import build_dataset

    datasets: Dict[str, Any] = {}
    stored: Dict[str, str] = {}
    for spec in args.splits:
        combined = args.dataset == "dis5k" and is_combined(spec)
        # Two spellings of one set would be predicted and scored twice into the same files.
        name = combined_name(spec) if combined else spec
        if name in stored:
            raise EvaluationInputError(
                f"the splits to score name one set of images twice, '{stored[name]}' and "
                f"'{spec}' (scored as {name}): give it once"
            )
        stored[name] = spec
        parts = split_parts(spec) if combined else [spec]
        for part in parts:
            datasets[part] = build_dataset(data_cfg, part, image_size, train=False)
    return datasets


def _predict(
    args: argparse.Namespace,
    split: str,
    run_dir: Path,
    overrides: List[str],
    loaded: Dict[str, object],
    run: Dict[str, Any],
) -> str:
    """The checkpoint's maps of ``split`` in ``<run_dir>/pred/<split>``; its folder.

    ``run`` holds the weights' hash (``weights``: checked against the file once the model
    loads), the folders predicted so far (``predicted``: each split is predicted once), the
    images left out of a COS split's GT (``left_out``, by split, ``--keep-going`` only: not
    predicted) and the split's failed files (``failed``, by split, set here: its unreadable
    images and those left out, so that the split is not scored)."""
    from pmgsam.engine.inference import predict_split

    if split in run["predicted"]:
        return run["predicted"][split]
    folder = run_dir / "pred" / split
    try:
        predict_split(
            args.config,
            args.checkpoint,
            split,
            folder,
            args.device,
            args.batch_size,
            overrides,
            overwrite=args.overwrite,
            progress=not args.quiet,
            reuse=loaded,
            skip_existing=getattr(args, "skip_existing", False),
            option="--output-dir",
            weights=run["weights"],
            keep_going=getattr(args, "keep_going", False),
            left_out=run["left_out"].get(split),
        )
    except UnreadableInputs as err:  # raised with --keep-going only, once the split is done
        run["failed"][split] = err.failed
    run["predicted"][split] = str(folder)
    return str(folder)


def data_overrides(args: argparse.Namespace) -> List[str]:
    """The config overrides, with ``--data-root`` as ``data.root``."""
    return with_data_root(args.overrides, args.data_root)


def dataset_and_splits(args: argparse.Namespace, overrides: List[str]) -> None:
    """Fill ``args.dataset`` and ``args.splits`` from the config's ``data.dataset`` and
    ``data.test_splits`` where the command line leaves them out."""
    if args.dataset is not None:
        try:  # overrides written for --dataset (data.train_split=Train on a DIS5K config)
            data, _ = _data_config(args.config, overrides + [f"data.dataset={args.dataset}"])
        except ConfigError:
            pass  # named below, against the config's own dataset
        else:
            if args.splits is None:
                args.splits = _config_test_splits(args.config, data)
            return
    data, _ = _data_config(args.config, overrides)
    if args.dataset is None:
        args.dataset = data.dataset
    elif args.dataset != data.dataset:
        try:
            _data_config(args.config, overrides + [f"data.dataset={args.dataset}"])
        except ConfigError as err:
            raise ConfigError(
                f"--dataset {args.dataset}, but config '{args.config}' is for "
                f"{data.dataset} ({err}): give a {args.dataset} config"
            ) from None
    if args.splits is None:  # --dataset is the config's here: another one returned or raised
        args.splits = _config_test_splits(args.config, data)


def _config_test_splits(config: Any, data: Any) -> List[str]:
    """The config's ``data.test_splits``, said on the console; an empty list would score
    nothing and write an empty table."""
    if not data.test_splits:
        raise ConfigError(
            f"config key 'data.test_splits' of '{config}' is empty: give --splits, or list the "
            "splits to score there"
        )
    print(f"splits from the config's data.test_splits: {','.join(data.test_splits)}")
    return list(data.test_splits)


def _score_dis_split(
    args: argparse.Namespace, ds: Any, pred_dir: Path, out_json: Path, split: str
) -> Dict[str, Any]:
    """The DIS metrics of ``split``'s maps in ``pred_dir``, written to ``out_json``."""
    pairs = split_pairs(ds, pred_dir)
    missing = [str(p) for _, p, _, _ in pairs if not p.exists()]
    if missing:
        raise EvaluationInputError(f"predict_split wrote no map for: {missing[:20]}")
    summary, per_image = evaluate_dis_pairs(
        pairs, args.workers, args.resize_pred, not args.no_hce, not args.quiet
    )
    write_dis_results(out_json, summary, per_image, extra={"split": split})
    print(dis_line(summary))
    return json.loads(out_json.read_text(encoding="utf-8"))


def _run_folder_of(folder: Path) -> Optional[Path]:
    """The run folder of the weights in ``folder``, if it has a config.yaml: as
    :func:`~pmgsam.engine.state.run_dir_of` reads it, a checkpoint folder kept outside a run's
    ``checkpoints/`` is its own run (resumed into itself); weights without a state beside them
    belong to no run there."""
    from pmgsam.engine.state import CHECKPOINTS, CONFIG_FILE, STATE_FILE

    if folder.parent.name == CHECKPOINTS:
        run = folder.parent.parent
    elif (folder / STATE_FILE).is_file():
        run = folder
    else:
        return None
    return run if (run / CONFIG_FILE).is_file() else None


def _training_names(checkpoint: str, data_cfg: Any) -> Tuple[Tuple[str, ...], set]:
    """(names of the splits the run trained on, the images it trained on) for the run
    ``checkpoint`` comes from, read from its config.yaml with this evaluation's data root; empty
    when the checkpoint is no run's or the run trained on another dataset."""
    from dataclasses import replace

    from pmgsam.data import train_val_split_names
    from pmgsam.data.layouts import list_split
    from pmgsam.engine.config import ExperimentConfig
    from pmgsam.engine.state import CONFIG_FILE, with_legacy_fields
    from pmgsam.modeling.checkpoint import resolve_weights
    from pmgsam.utils.config_files import read_config_file

    weights = resolve_weights(checkpoint)
    run = _run_folder_of(weights.resolve().parent)
    if run is None:
        # Weights linked from elsewhere (a DVC or git-annex cache, a checkpoints/best made a
        # link to a copy) have their run where the link lies, as state.run_dir_of reads it.
        folder = Path(os.path.abspath(weights)).parent
        run = _run_folder_of(folder)
    if run is None:
        return (), set()
    # With legacy fields, train.log or not: the weights lie in its checkpoints/, and of the data
    # section they change only '' paths (refused as written) and reduced_decode (not which images).
    try:
        saved = with_legacy_fields(read_config_file(run / CONFIG_FILE))
        trained = from_dict(ExperimentConfig, saved).data
    except ConfigError as err:  # a run of an older version: nothing to compare with
        logger.warning(
            "not checked whether the test images were training images of the checkpoint's "
            "run: its %s cannot be read (%s)", run / CONFIG_FILE, err
        )  # fmt: skip
        return (), set()
    if trained.dataset != data_cfg.dataset:
        return (), set()
    # The data may have moved since training: the split files live with it.
    trained = replace(trained, root=data_cfg.root)
    try:
        # With no val_split the run trained on X:train only (X:val validated it).
        used = train_val_split_names(trained)[0]
        names = set(list_split(trained, used).names)
    except (OSError, ValueError) as err:  # not there (another copy of the data)
        logger.warning(
            "not checked whether the test images were training images of the checkpoint's "
            "run: its training split is not found under %s (%s)", data_cfg.root, err
        )  # fmt: skip
        return (), set()
    return tuple(dict.fromkeys((used, trained.train_split))), names


def check_not_trained_on(checkpoint: str, data_cfg: Any, datasets: Dict[str, Any]) -> None:
    """Refuse to score a split holding images the checkpoint was trained on (a carved test
    split drawn with another ``data.split_seed`` / ``test_fraction`` / ``split_dir`` than at
    training, or a split of its own folders holding files named as training images), unless it
    is a training split itself, asked for by name."""
    from pmgsam.data.layouts import is_carved

    trained_splits, names = _training_names(checkpoint, data_cfg)
    for split, ds in datasets.items():
        seen = sorted(set(ds.names) & names)
        if seen and split not in trained_splits:
            more = " ..." if len(seen) > 5 else ""
            # Only a carved split can be fixed by carving as at training; a split of its own
            # folders holds files named as training images (copied there, or renamed).
            cause = (
                "a split carved with other settings than at training does this: evaluate with "
                "the run's data.split_seed, test_fraction, val_fraction and split_dir (its "
                "config.yaml)"
                if is_carved(data_cfg, split)
                else f"images are compared by file name: move the files named so out of {split} "
                "(or out of the training split, and train again)"
            )
            raise EvaluationInputError(
                f"{len(seen)} of the {len(ds.names)} images of {split} were training images of "
                f"the checkpoint's run ({', '.join(seen[:5])}{more}); {cause}, or name a "
                f"training split ({' / '.join(trained_splits)}) to score it on purpose"
            )


def run_benchmark(args: argparse.Namespace) -> Dict[str, object]:
    """Predict every split of ``args`` with the checkpoint, score it, update run.json and
    print the tables; returns the run.json record."""
    from pmgsam.modeling.checkpoint import hash_weights

    run_dir = Path(args.output_dir or Path("results") / Path(args.config).stem)
    overrides = data_overrides(args)
    dataset_and_splits(args, overrides)
    overrides.append(f"data.dataset={args.dataset}")
    check_same_model(run_dir, args.checkpoint, option="--output-dir")
    data_cfg, image_size = _data_config(args.config, overrides)
    refuse_noncam_scoring(args.dataset, data_cfg, args.config)
    datasets = _split_datasets(args, data_cfg, image_size)
    refuse_case_clashes(run_dir, datasets, args.dataset)  # COD10K's Test beside NC4K's test
    check_not_trained_on(args.checkpoint, data_cfg, datasets)
    # The instance labels too: a split without them (or with a bad COCO file) must not cost
    # the predictions of every split first.
    cos_gt, gt_failed = cos_ground_truths(args, data_cfg, datasets)
    check_same_data(run_dir, args.dataset, args.splits, data_cfg.root, datasets, cos_gt)
    # Every split's pred/<split>, as predict_split checks it, before the weights are hashed:
    # a folder an earlier run of this tool left half-filled is its own (--skip-existing).
    check_split_folders(run_dir, datasets, args.overwrite)
    # Once, before predicting: the manifests of every split and run.json record this SHA-256.
    # A run still training may replace its best weights meanwhile: predict_split refuses the
    # file once the model is loaded if it is no longer the version hashed here.
    weights = hash_weights(args.checkpoint)
    digest = weights.sha256
    check_same_weights(run_dir, digest, scored_entries(args.dataset, args.splits))
    if getattr(args, "skip_existing", False):  # every split's folder, before any is predicted
        from pmgsam.engine.inference import refuse_unresumable

        folders = {run_dir / "pred" / part: ds for part, ds in datasets.items()}
        refuse_unresumable(args.checkpoint, args.device, folders, "--output-dir", digest)
    dis, cos = {}, {}
    loaded: Dict[str, object] = {}  # one model load (and compile) for every split
    run: Dict[str, Any] = {"weights": weights, "predicted": {}, "failed": {}, "left_out": gt_failed}
    for split in args.splits:
        combined = args.dataset == "dis5k" and is_combined(split)
        parts = split_parts(split) if combined else [split]
        for part in parts:  # all of them, before a part with unreadable files skips the split
            _predict(args, part, run_dir, overrides, loaded, run)
        if any(part in run["failed"] for part in parts):
            continue  # --keep-going: not scored; named at the end
        if combined:  # DIS-TE or DIS-TE1+...: one set
            dis.update([_score_combined(args, split, run_dir, datasets, overrides, loaded, run)])
            continue
        pred_dir = Path(run["predicted"][split])
        out_json = run_dir / "metrics" / f"{split}.json"
        if args.dataset not in COS_NAMES:  # DIS5K or a folder dataset: the DIS metrics
            dis[split] = _score_dis_split(args, datasets[split], pred_dir, out_json, split)
        if split in cos_gt:  # COD10K, NC4K, a folder dataset's split with instance labels
            name = cos_entry(args.dataset, split)
            out_cos = cos_scores_file(run_dir, args.dataset, split)
            cos[name] = score_cos_split(args, cos_gt[split], pred_dir, out_cos)
            # COD10K's COCO file and its GT_Instance PNGs give other AP: say which was read.
            cos[name]["instance_labels"] = datasets[split].instances.record()
    if run["failed"]:
        raise split_failures_error(run["failed"])
    record_ground_truth(args.dataset, args.splits, datasets, cos_gt, dis, cos, data_cfg.root)
    meta = {"config": str(args.config), **checkpoint_meta(args.checkpoint)}
    meta.update(weights_sha256=digest, overrides=overrides)
    path = write_run_json(run_dir, args.method or run_dir.name, dis=dis, cos=cos, meta=meta)
    run = json.loads(path.read_text(encoding="utf-8"))
    for table in build_tables([run]).values():
        print(to_markdown(table))
    print(f"wrote {path}")
    return run
