"""Scoring one variant of an ablation grid (used by :mod:`pmgsam.ablate`).

A variant's scores (``<run>/metrics/<set>.json``) record in ``scored_with`` what decided them
(:mod:`pmgsam.ablation.settings`: the best weights' SHA-256, hashed once per variant and call,
HCE, how the maps were predicted, and the data). ``--evaluate`` keeps them only when they
record the settings of this call; otherwise it scores again, saying why
(:func:`~pmgsam.ablation.settings.rescore_reason`); scores written by an older pmgsam, which
recorded less, are scored again, saying what they lack.
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
import json
import logging
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence

from pmgsam.ablation.checks import DONE_FILE, switched_keys
from pmgsam.ablation.gt import check_same_data_root, entry_gt, kept_record, other_ground_truth
from pmgsam.ablation.maps import check_map_folders, holds_edited_maps, overwrite_given, written_over
from pmgsam.ablation.settings import SCORED_WITH, rescore_reason, scoring_settings
from pmgsam.utils.config import load_config
from pmgsam.utils.io import write_text_atomic

logger = logging.getLogger("pmgsam.ablate")


class NotTrainedError(FileNotFoundError):
    """A variant asked to be scored has no finished training (``pmgsam.ablate`` scores the
    others first, then names every such variant in one error)."""


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
