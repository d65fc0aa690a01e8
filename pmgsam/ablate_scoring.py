"""Scoring one variant of an ablation grid, and when its kept scores still stand (used by
:mod:`pmgsam.ablate`).

A variant's scores (``<run>/metrics/<set>.json``) record in ``scored_with`` what, besides the
weights, decided them (:func:`scoring_settings`): HCE scored or not, the evaluation image size
S, the autocast precision of the prediction (``bf16`` on CUDA, none on the CPU), and the
images, GT masks and skeletons scored (their paths under ``data.root`` and their sizes, so a
dataset moved elsewhere is the same data, another dataset is not). ``--evaluate`` keeps them
only when they are newer than the training and record the settings of this call; otherwise it
scores again, saying why (:func:`rescore_reason`). Scores with HCE also serve a ``--no-hce``
call; adding HCE to scores made without it rescores the kept maps, predicting nothing. The
number of scoring processes, the batch size and the loader workers change no score and are
not compared.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from pmgsam.ablate_checks import DONE_FILE, switched_keys
from pmgsam.utils.config import load_config

logger = logging.getLogger("pmgsam.ablate")
SCORED_WITH = "scored_with"


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
                path = Path(path).resolve()
                rel = path.relative_to(base) if base in path.parents else path
                digest.update(f"{rel.as_posix()} {path.stat().st_size}\n".encode())
    return digest.hexdigest()


def scoring_settings(
    image_size: int, device: Any, with_hce: bool, root: str | Path, datasets: Mapping[str, Any]
) -> Dict[str, Any]:
    """What a variant's scores depend on besides its weights (recorded as ``scored_with``)."""
    import torch

    from pmgsam.engine.predictor import resolve_amp

    return {
        "hce": with_hce,
        "image_size": image_size,
        # The Predictor's amp 'auto': bf16 on CUDA, full precision on the CPU.
        "amp": resolve_amp("auto", torch.device(device)),
        "data_root": str(Path(root).resolve()),
        "data": data_digest(root, datasets),
    }


def rescore_reason(
    recorded: Optional[Mapping[str, Any]], now: Mapping[str, Any]
) -> Tuple[Optional[str], bool]:
    """(why scores recorded as ``recorded`` do not stand for a call with the settings ``now``,
    or None when they do; whether the maps must be predicted again, not only scored)."""
    if not isinstance(recorded, Mapping):
        why = "its scores do not record the settings they were computed with (older pmgsam)"
        return why, True
    reasons, predict = [], False
    if now["hce"] and not recorded.get("hce"):
        reasons.append("its scores lack HCE (scored with --no-hce), which is asked for now")
    if recorded.get("image_size") != now["image_size"]:
        reasons.append(f"image size S {recorded.get('image_size')} then, {now['image_size']} now")
        predict = True
    if recorded.get("amp") != now["amp"]:
        reasons.append(
            f"maps predicted with amp {recorded.get('amp')!r} then, {now['amp']!r} now (--device)"
        )
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
    newer than its training were computed with this call's settings (module doc)."""
    from pmgsam.data import build_dataset
    from pmgsam.engine.config import ExperimentConfig
    from pmgsam.evaluation.combined import combined_name, split_parts
    from pmgsam.evaluation.run_json import write_run_json
    from pmgsam.modeling.checkpoint import read_model_config, resolve_weights

    done = run_dir / "train" / DONE_FILE
    if not done.is_file():
        raise FileNotFoundError(
            f"{path.stem}: no finished training in '{run_dir / 'train'}'; run with --train"
        )
    cfg = load_config(ExperimentConfig, path, overrides)
    image_size = read_model_config(resolve_weights(run_dir / "train")).image_size
    datasets = {p: build_dataset(cfg.data, p, image_size, train=False) for p in split_parts(splits)}
    settings = scoring_settings(image_size, opts.device, not opts.no_hce, cfg.data.root, datasets)
    name, out_json = combined_name(splits), run_dir / "metrics" / f"{combined_name(splits)}.json"
    kept: Optional[Dict[str, Any]] = None
    reason, predict = None, True
    if out_json.is_file():
        if out_json.stat().st_mtime < done.stat().st_mtime:
            reason = "trained again since it was scored"
        else:
            kept = _read_scores(out_json)
            reason, predict = rescore_reason(kept.get(SCORED_WITH), settings)
        if reason is None:
            logger.info("%s: already scored (%s), skipped", path.stem, out_json)
        else:
            logger.info("%s: scoring again: %s", path.stem, reason)
    if not predict and not _maps_complete(run_dir, datasets):
        predict = True  # the maps scored then are gone: predicted again
    if kept is not None and reason is None:
        summary = kept
    else:
        summary = _predict_and_score(path, run_dir, splits, overrides, opts, datasets, predict)
        summary = _record_settings(out_json, summary, settings)
    meta = {"config": str(path), "overrides": list(overrides), "ablates": switched_keys(path)}
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
        scores = json.loads(out_json.read_text())
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
    out_json.write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _predict_and_score(
    path: Path,
    run_dir: Path,
    splits: str,
    overrides: Sequence[str],
    opts: argparse.Namespace,
    datasets: Mapping[str, Any],
    predict: bool = True,
) -> Dict[str, Any]:
    """Predict every part of ``splits`` (``datasets``) with the best weights of
    ``run_dir/train`` into ``run_dir/pred`` (or, ``predict`` False, take the maps there) and
    score them as one set: its scores."""
    from pmgsam.evaluation.combined import score_combined_split

    def kept_maps(part: str) -> Path:
        return run_dir / "pred" / part

    predict_part = _predictor(path, run_dir, overrides, opts, datasets) if predict else kept_maps
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
    datasets: Mapping[str, Any],
) -> Any:
    """``predict(part) -> folder``: one model (of the best weights) for all parts."""
    from pmgsam.engine.config import ExperimentConfig
    from pmgsam.engine.inference import Predictor
    from pmgsam.modeling.build import load_pretrained
    from pmgsam.modeling.checkpoint import checkpoint_model_fields

    cfg = load_config(ExperimentConfig, path, overrides)
    weights = run_dir / "train"
    in_file = load_config(ExperimentConfig, path).model
    model = load_pretrained(
        weights, **checkpoint_model_fields(weights, in_file, overrides, str(path))
    )
    predictor = Predictor(model, opts.device, performance=cfg.performance)

    def predict(part: str) -> Path:
        return predictor.predict_dataset(
            datasets[part],
            run_dir / "pred" / part,
            opts.batch_size,
            cfg.data.num_workers,
            progress=not opts.quiet,
            workers_option="data.num_workers",
            threads=cfg.train.num_threads,
            threads_option="train.num_threads",
        )

    return predict
