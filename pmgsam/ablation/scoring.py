"""Scoring one variant of an ablation grid, and when its kept scores still stand (used by
:mod:`pmgsam.ablate`).

A variant's scores (``<run>/metrics/<set>.json``) record in ``scored_with`` what decided them
(:func:`scoring_settings`): the SHA-256 of the best weights (hashed once per variant and call),
HCE scored or not, and how the maps were predicted: the evaluation image size S, the device
type, the autocast precision (``bf16`` on CUDA, none on the CPU) and the speed options that
change the arithmetic (:data:`PREDICTION_OPTIONS`: TF32 and cuDNN's algorithm choice on CUDA,
Hiera's attention form, channels-last, ``torch.compile``); and the images, GT masks and
skeletons scored (their paths under ``data.root`` and their sizes, so a dataset moved elsewhere
is the same data, another dataset is not). ``--evaluate`` keeps them only when they record the
settings of this call; otherwise it scores again, saying why (:func:`rescore_reason`); scores
written by an older pmgsam, which recorded less, are scored again, saying what they lack.
Either way the variant's run.json records the best weights (path and SHA-256) as evaluate.py
records its checkpoint: a run.json of an older pmgsam.ablate gains them on the next call.
Scores with HCE also serve a ``--no-hce`` call; adding HCE to scores made without it rescores
the kept maps, predicting nothing. The number of scoring processes, the batch size and the
loader workers change no score and are not compared. The run.json entry also records the
ground truth it was scored against (``ground_truth``, :mod:`pmgsam.evaluation.table_gt`, as
benchmark mode records a set of splits; the scores file keeps it), kept scores too: a variant
folder given to ``python -m pmgsam.report`` shares the ``DIS-TE1-4`` (Overall) column with
benchmark runs, and the grid's own table holds every variant in one column. Scores whose
recorded GT masks (or, with HCE, skeletons) are not the files found now, redrawn under the same
names and sizes, are scored again from the kept maps, and so are scores that record no GT (an
older pmgsam's): their run.json entry would otherwise name the GT found now, which the data
digest (names and sizes) does not tell from the masks they were scored against (a ``--no-hce``
call keeps such scores with HCE, unrecorded: :mod:`pmgsam.ablation.gt`). A DIS5K variant's
entry also records its ``data_root`` (:mod:`pmgsam.evaluation.run_data`), and a call with other
``--splits`` is refused before predicting when the variant's row holds entries read from another
DIS5K root, which its Overall (TE1-4) would pool with these
(:func:`~pmgsam.ablation.gt.check_same_data_root`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from pmgsam.ablation.checks import DONE_FILE, switched_keys
from pmgsam.ablation.gt import check_same_data_root, entry_gt, kept_record, other_ground_truth
from pmgsam.ablation.maps import check_map_folders, holds_edited_maps, overwrite_given, written_over
from pmgsam.utils.command_names import command_name
from pmgsam.utils.config import load_config
from pmgsam.utils.io import path_under, write_text_atomic

logger = logging.getLogger("pmgsam.ablate")
SCORED_WITH = "scored_with"


class NotTrainedError(FileNotFoundError):
    """A variant asked to be scored has no finished training (``pmgsam.ablate`` scores the
    others first, then names every such variant in one error)."""


def data_digest(root: str | Path, datasets: Mapping[str, Any]) -> str:
    """SHA-256 of every part's images, GT masks and skeletons: each file's path relative to
    ``root`` (absolute when outside it) and its size in bytes. The same after the dataset
    folder moved; different for other images, another image list or a changed mask."""
    digest = hashlib.sha256()
    base = Path(root).resolve()
    for part, dataset in datasets.items():
        digest.update(f"[{part}]\n".encode())
        skeletons = getattr(dataset, "skeleton_paths", None) or [None] * len(dataset.names)
        for files in zip(dataset.image_paths, dataset.mask_paths, skeletons):
            for path in files:
                if path is None:
                    digest.update(b"-\n")
                    continue
                # os.fsencode: a name that is not UTF-8 (held as surrogates) as its bytes.
                line = f"{path_under(path, base)} {Path(path).stat().st_size}\n"
                digest.update(os.fsencode(line))
    return digest.hexdigest()


#: The ``performance`` options a prediction runs with that change its arithmetic (up to
#: rounding): the rest (fused optimiser, persistent workers) act in training only, and CUDA
#: graphs replay the eager forward's own kernels.
PREDICTION_OPTIONS = (
    "hiera_window_attention",
    "channels_last",
    "fold_frozen_batchnorm",
    "compile",
    "compile_scope",
    "compile_mode",
    "tf32",
    "cudnn_benchmark",
    "bf16_group_norm",
)
#: What :func:`rescore_reason` compares besides HCE, and what a record lacking one means.
PREDICTION_KEYS = ("weights_sha256", "image_size", "device", "amp", "performance")


def prediction_options(performance: Any, device_type: str) -> Dict[str, Any]:
    """The :data:`PREDICTION_OPTIONS` of a ``PerformanceConfig`` as they act on
    ``device_type``: TF32 and cuDNN's algorithm timing only on CUDA (None elsewhere), the
    compile scope and mode only when compiling (None otherwise), bf16 GroupNorms only when on
    (None off: what scores recorded before the option ran), so that a setting that changes
    nothing does not cause a rescore."""
    options = {key: getattr(performance, key) for key in PREDICTION_OPTIONS}
    options["bf16_group_norm"] = options["bf16_group_norm"] or None
    if device_type != "cuda":
        options.update(tf32=None, cudnn_benchmark=None)
    if not options["compile"]:
        options.update(compile_scope=None, compile_mode=None)
    return options


def scoring_settings(
    image_size: int,
    device: Any,
    with_hce: bool,
    root: str | Path,
    datasets: Mapping[str, Any],
    weights_sha256: str,
    performance: Any,
) -> Dict[str, Any]:
    """What a variant's scores depend on (recorded as ``scored_with``): its weights'
    ``weights_sha256``, HCE, how its maps are predicted (image size, ``device``'s type,
    precision, the ``performance`` options of :func:`prediction_options`) and the data."""
    import torch

    from pmgsam.engine.predictor import resolve_amp

    device = torch.device(device)
    return {
        "weights_sha256": weights_sha256,
        "hce": with_hce,
        "image_size": image_size,
        "device": device.type,
        # The Predictor's amp 'auto': bf16 on a GPU with native bf16, else full precision.
        "amp": resolve_amp("auto", device),
        "performance": prediction_options(performance, device.type),
        "data_root": str(Path(root).resolve()),
        "data": data_digest(root, datasets),
    }


def rescore_reason(
    recorded: Optional[Mapping[str, Any]], now: Mapping[str, Any]
) -> Tuple[Optional[str], bool]:
    """(why scores recorded as ``recorded`` do not stand for a call with the settings ``now``,
    or None when they do; whether the maps must be predicted again, not only scored)."""
    if not isinstance(recorded, Mapping):
        why = (
            "its scores do not record the settings they were computed with (scored by an "
            f"older pmgsam, or by {command_name('evaluate')} into the variant's folder)"
        )
        return why, True
    reasons, predict = [], False
    lacking = [key for key in PREDICTION_KEYS if key not in recorded]
    if lacking:
        reasons.append(
            f"its scores do not record the {', '.join(lacking)} they were predicted with "
            "(scored by an older pmgsam)"
        )
        predict = True
    if now["hce"] and not recorded.get("hce"):
        reasons.append("its scores lack HCE (scored with --no-hce), which is asked for now")

    def changed(key: str) -> bool:
        # A key the scores lack is named once, above, not again as a change from None.
        return key in recorded and recorded[key] != now[key]

    if changed("weights_sha256"):
        reasons.append(
            "its best weights changed since it was scored (SHA-256 "
            f"{str(recorded['weights_sha256'])[:12]} then, {now['weights_sha256'][:12]} now: "
            "trained again)"
        )
        predict = True
    if changed("image_size"):
        reasons.append(f"image size S {recorded['image_size']} then, {now['image_size']} now")
        predict = True
    if changed("device"):
        reasons.append(
            f"maps predicted on {recorded['device']} then, {now['device']} now (--device)"
        )
        predict = True
    if changed("amp"):
        reasons.append(
            f"maps predicted with amp {recorded['amp']!r} then, {now['amp']!r} now (--device, "
            "or a GPU with or without native bf16)"
        )
        predict = True
    then_options = recorded.get("performance")
    if isinstance(then_options, Mapping):
        changed = [
            f"performance.{key} {then_options.get(key)!r} then, {value!r} now"
            for key, value in now["performance"].items()
            if then_options.get(key) != value
        ]
        if changed:
            reasons.append(f"maps predicted with other speed options ({'; '.join(changed)})")
            predict = True
    if recorded.get("data") != now["data"]:
        where = f"data.root '{recorded.get('data_root')}' then, '{now['data_root']}' now"
        reasons.append(f"other images or GT masks than were scored ({where})")
        predict = True
    return ("; ".join(reasons) or None), predict


def evaluate_variant(
    path: Path,
    run_dir: Path,
    label: str,
    splits: str,
    overrides: Sequence[str],
    opts: argparse.Namespace,
) -> None:
    """Predict and score ``splits`` as one set with the variant's best weights, unless scores
    of those weights were computed with this call's settings (module doc)."""
    from pmgsam.data import build_dataset
    from pmgsam.data.splits import read_only_splits
    from pmgsam.engine.config import ExperimentConfig
    from pmgsam.evaluation.combined import combined_name, split_parts
    from pmgsam.evaluation.run_data import DATA_KEY, data_record
    from pmgsam.evaluation.run_json import checkpoint_meta, write_run_json
    from pmgsam.evaluation.table_gt import GT_KEY, dataset_record
    from pmgsam.modeling.checkpoint import hash_weights, read_model_config, resolve_weights

    done = run_dir / "train" / DONE_FILE
    if not done.is_file():
        raise NotTrainedError(
            f"{path.stem}: no finished training in '{run_dir / 'train'}'; run with --train"
        )
    cfg = load_config(ExperimentConfig, path, overrides)
    weights = resolve_weights(run_dir / "train")
    image_size = read_model_config(weights).image_size
    with read_only_splits():  # scoring reads the split files its training saved
        datasets = {
            p: build_dataset(cfg.data, p, image_size, train=False) for p in split_parts(splits)
        }
    check_same_data_root(path.stem, run_dir, cfg.data, splits, datasets)
    # Hashed here once per variant and call (a checkpoint may be large), whether kept or not;
    # a model loaded from it is checked to be of this version (load_hashed).
    hashed = hash_weights(weights)
    settings = scoring_settings(
        image_size, opts.device, not opts.no_hce, cfg.data.root, datasets, hashed.sha256,
        cfg.performance,
    )  # fmt: skip
    name, out_json = combined_name(splits), run_dir / "metrics" / f"{combined_name(splits)}.json"
    gt = dataset_record(*datasets.values(), skeletons=True)  # what is scored against now
    kept: Optional[Dict[str, Any]] = None
    reason, predict = None, True
    if out_json.is_file():
        kept = _read_scores(out_json)
        reason, predict = rescore_reason(kept.get(SCORED_WITH), settings)
        reason = reason or other_ground_truth(path.stem, kept, gt, opts.no_hce)
        if reason is None:
            logger.info("%s: already scored (%s), skipped", path.stem, out_json)
        else:
            logger.info("%s: scoring again: %s", path.stem, reason)
    if not predict and not _maps_complete(run_dir, datasets):
        # A rescore (HCE added) of maps that are gone predicts them again; scores that stand
        # are kept without their maps, which only the analyses read.
        predict = True
    scoring = kept is None or reason is not None
    if scoring and not predict and holds_edited_maps(run_dir, datasets):
        # A hand-corrected map is no map of the model's to score: predicted again (refused
        # below unless --overwrite), as --skip-existing keeps no such map (finished_maps).
        logger.info("%s: predicting again: maps were changed since pmgsam wrote them", path.stem)
        predict = True
    if scoring and predict:
        # Every part's folder before the model loads, as evaluate.py's benchmark mode does.
        check_map_folders(run_dir, datasets, overwrite_given(opts))
    if kept is not None and reason is None:
        record = kept_record(kept, gt)
        summary = {k: v for k, v in kept.items() if k != GT_KEY}
        summary.update({GT_KEY: record} if record is not None else {})
    else:
        summary = _predict_and_score(
            path, run_dir, splits, overrides, opts, datasets, predict, hashed
        )
        summary = _record_settings(out_json, {**summary, GT_KEY: entry_gt(gt, summary)}, settings)
    meta = {
        "config": str(path),
        # As evaluate.py records its checkpoint: the analyses predict into this folder only
        # with these weights, and evaluate.py adds scores to it only of this checkpoint.
        **checkpoint_meta(hashed.path),
        "weights_sha256": hashed.sha256,
        "overrides": list(overrides),
        "ablates": switched_keys(path),
    }
    if cfg.data.dataset == "dis5k":  # kept scores too: they stood for the data found now
        summary = {**summary, DATA_KEY: data_record(cfg.data.dataset, cfg.data.root)}
    # Kept scores record their GT, or (other_ground_truth) none, as an older pmgsam's.
    write_run_json(run_dir, label, dis={name: summary}, meta=meta)


def _maps_complete(run_dir: Path, datasets: Mapping[str, Any]) -> bool:
    """Every image of every part has its map in ``run_dir/pred/<part>``."""
    return all(
        (run_dir / "pred" / part / f"{name}.png").is_file()
        for part, dataset in datasets.items()
        for name in dataset.names
    )


def _read_scores(out_json: Path) -> Dict[str, Any]:
    from pmgsam.evaluation.scoring import EvaluationInputError

    try:
        scores = json.loads(out_json.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise EvaluationInputError(
            f"cannot read the scores '{out_json}' ({err}); delete it to score again"
        ) from err
    if not isinstance(scores, dict):
        raise EvaluationInputError(
            f"the scores '{out_json}' hold a JSON {type(scores).__name__}, not an object; "
            "delete it to score again"
        )
    return scores


def _record_settings(
    out_json: Path, summary: Dict[str, Any], settings: Dict[str, Any]
) -> Dict[str, Any]:
    """Add ``scored_with`` to the scores just written (and return them with it)."""
    summary = {**summary, SCORED_WITH: settings}
    write_text_atomic(out_json, json.dumps(summary, indent=2) + "\n")
    return summary


def _predict_and_score(
    path: Path,
    run_dir: Path,
    splits: str,
    overrides: Sequence[str],
    opts: argparse.Namespace,
    datasets: Mapping[str, Any],
    predict: bool = True,
    hashed: Optional[Any] = None,
) -> Dict[str, Any]:
    """Predict every part of ``splits`` (``datasets``) with the best weights of
    ``run_dir/train`` into ``run_dir/pred`` (or, ``predict`` False, take the maps there) and
    score them as one set: its scores. ``hashed``: the weights' hash taken before, which the
    loaded model is checked against (:func:`~pmgsam.modeling.checkpoint.load_hashed`)."""
    from pmgsam.evaluation.combined import score_combined_split

    def kept_maps(part: str) -> Path:
        return run_dir / "pred" / part

    if predict:
        predict_part = _predictor(path, run_dir, overrides, opts, hashed)
    else:
        predict_part = kept_maps
    _, summary = score_combined_split(
        splits,
        datasets.__getitem__,
        predict_part,
        run_dir / "metrics",
        opts.workers,
        with_hce=not opts.no_hce,
        progress=not opts.quiet,
        resize_option=None,  # pmgsam.ablate has no --resize-pred: its maps are the GT's size
    )
    return summary


def _predictor(
    path: Path,
    run_dir: Path,
    overrides: Sequence[str],
    opts: argparse.Namespace,
    hashed: Optional[Any] = None,
) -> Any:
    """``predict(part) -> folder``: one model (of the best weights) for all parts, refused if
    the weights file changed since ``hashed`` was taken (the scores record that hash).

    Predicted as evaluate.py predicts (:func:`~pmgsam.engine.inference.predict_split`), so
    each ``pred/<part>`` folder's manifest records the weights (SHA-256) that made its maps:
    evaluate.py and the analyses then take them for the maps of those weights. A folder
    with a manifest is guarded as evaluate.py guards its own: a map changed since pmgsam
    wrote it (or a file it did not write) is refused unless ``--overwrite``; one without
    (a variant scored by an older pmgsam.ablate) is the grid's own, written over
    (:func:`~pmgsam.ablation.maps.written_over`)."""
    from pmgsam.engine.inference import predict_split

    loaded: Dict[str, Any] = {}  # one model load for every part

    def predict(part: str) -> Path:
        return predict_split(
            path,
            run_dir / "train",
            part,
            run_dir / "pred" / part,
            str(opts.device),  # resolved already: a torch.device
            opts.batch_size,
            overrides,
            overwrite=written_over(run_dir / "pred" / part, overwrite_given(opts)),
            progress=not opts.quiet,
            reuse=loaded,
            option="--output-dir",
            weights=hashed,
        )

    return predict
