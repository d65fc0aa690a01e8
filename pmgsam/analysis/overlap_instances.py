"""The overlap subset's AP of a run whose COS AP was scored from its instances, not its maps.

A SAM baseline on COD10K / NC4K (``evaluate.py --baseline``) scores every generated mask (or
every GT box's mask) as a COCO instance with its predicted IoU as the score, and keeps them in
``RUN/metrics/<split>.results.json`` (run.json's entry names the file, ``results_file``, and
how they were made, ``source``). Its ``pred/<split>`` maps are the union of those masks: their
connected components, scored as PMG-SAM's maps are, are other instances with other scores, so
an AP from them would sit beside the run's full-set AP without being comparable to it. The
subset is therefore scored from the same instances, those of the subset's images.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from pmgsam.data.coco_annotations import whole_number
from pmgsam.evaluation.scoring import EvaluationInputError
from pmgsam.utils.command_names import command_name
from pmgsam.utils.config import ConfigError
from pmgsam.utils.io import read_user_text

RESULTS_SUFFIX = ".results.json"


def recorded_instances(
    run: Optional[str], name: str, cos: Mapping[str, Any], pred_dir: object
) -> Optional[Path]:
    """``RUN/metrics/<results_file>`` when --run's full-set entry of ``name`` (in its run.json
    ``cos``) was scored from instances (it names a ``results_file``); None for a run scored
    from maps. A run scored from instances that has no entry of ``name`` is refused: its maps
    would be scored into it as another full set."""
    recorded = cos.get(name)
    if not run or not scored_from_instances(recorded):
        from_instances = [
            key
            for key, entry in cos.items()
            if scored_from_instances(entry) and "share" not in entry
        ]
        if run and from_instances:
            raise ConfigError(
                f"--run '{run}' scored {', '.join(from_instances)} from its instances, not from "
                f"maps, and has no {name} AP: give --name {from_instances[0]} to score its "
                "subset from those instances"
            )
        return None
    source = recorded.get("source", "its instances")
    if pred_dir:
        raise ConfigError(
            f"--run '{run}' scored {name} from its instances ({source}), not from maps: its "
            "overlap subset is scored from the same instances; leave --pred-dir out"
        )
    path = Path(run) / "metrics" / str(recorded["results_file"])
    if not path.is_file():
        raise EvaluationInputError(
            f"--run '{run}' scored {name} from the instances in '{path}' ({source}), which is "
            f"missing: score the run again with {command_name('evaluate')}"
        )
    return path


def scored_from_instances(entry: Any) -> bool:
    """Whether a run.json COS entry was scored from recorded instances (a baseline's), not
    from maps. Both name a ``results_file`` (evaluate.py's ``--task cos --run`` keeps the
    instances it cut from the maps beside its scores), but only maps were thresholded into
    instances, so only their entries record the ``threshold``."""
    return (
        isinstance(entry, Mapping) and bool(entry.get("results_file")) and "threshold" not in entry
    )


def maps_of_run(run: Path, folder: Path, name: Optional[str]) -> bool:
    """Whether ``folder`` holds --run's maps: one under RUN/pred (benchmark mode's), or the
    folder whose maps evaluate.py's ``--pred-dir ... --run`` scored into the run as the AP of
    ``name`` (another method's maps, which lie elsewhere: run.json's meta.scored_maps)."""
    from pmgsam.evaluation.run_json import read_run_file

    if run.resolve() / "pred" in folder.resolve().parents:
        return True
    meta = read_run_file(run / "run.json").get("meta")
    scored = meta.get("scored_maps") if isinstance(meta, Mapping) else None
    entry = scored.get(f"cos/{name}") if isinstance(scored, Mapping) else None
    recorded = entry.get("pred_dir") if isinstance(entry, Mapping) else None
    return bool(recorded) and Path(str(recorded)).resolve() == folder.resolve()


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(read_user_text(path))
    except (OSError, ValueError) as err:
        raise EvaluationInputError(f"cannot read {what} '{path}': {err}") from err


def checked_results(
    results: Any, path: Path, run_names: Mapping[Any, str], gt_path: Path
) -> List[Dict[str, Any]]:
    """The COCO results list of ``path`` with integer ``image_id`` and ``category_id`` and a
    finite number ``score``; one error names the file and the entry that lacks one. Checked
    here, not left to pycocotools: a hand-edited entry otherwise stops inside the scoring (a
    KeyError, a TypeError), and one whose image id is a string or missing, or not an image of
    the run's GT ``gt_path`` (``run_names``: its ids), would leave the subset's AP without a
    word."""
    if not isinstance(results, list):
        raise EvaluationInputError(
            f"'{path}' is not a COCO results list (a JSON list of instances)"
        )
    checked = []
    for k, result in enumerate(results):
        where = f"'{path}': results[{k}]"
        if not isinstance(result, Mapping):
            raise EvaluationInputError(f"{where} is not an instance (a JSON object)")
        fixed = dict(result)
        for key in ("image_id", "category_id", "score", "segmentation"):
            if key not in result:
                raise EvaluationInputError(f"{where} has no '{key}'")
        for key in ("image_id", "category_id"):
            try:
                fixed[key] = whole_number(result[key])
            except ValueError as err:
                raise EvaluationInputError(f"{where}: {key} {err}") from None
        score = result["score"]
        if isinstance(score, bool) or not isinstance(score, (int, float)):
            raise EvaluationInputError(f"{where}: score {score!r} is not a number")
        if not math.isfinite(score):
            raise EvaluationInputError(f"{where}: score {score!r} is not a finite number")
        if fixed["image_id"] not in run_names:
            raise EvaluationInputError(
                f"{where} refers to image_id {result['image_id']!r}, which the GT it was scored "
                f"against, '{gt_path}', does not list"
            )
        checked.append(fixed)
    return checked


def score_subset_instances(
    results_path: Path, subset: Mapping[str, Any], recorded: Mapping[str, Any]
) -> Dict[str, Any]:
    """COCO mask AP of the recorded instances of the subset's images against the subset's GT.

    The instances' image ids are those of the GT the run scored them against (its
    ``<split>.gt.json`` beside them); they are matched to the subset's images by file name, so
    a GT file that numbers the images otherwise still pairs each instance with its image."""
    from pmgsam.evaluation.coco_gt import load_coco
    from pmgsam.evaluation.instances import coco_map

    results = _read_json(results_path, "the run's instances")
    gt_path = results_path.with_name(results_path.name[: -len(RESULTS_SUFFIX)] + ".gt.json")
    if not gt_path.is_file():
        raise EvaluationInputError(
            f"'{gt_path}', the GT the instances of '{results_path}' were scored against, is "
            f"missing: score the run again with {command_name('evaluate')}"
        )
    run_names = {im["id"]: im["file_name"] for im in _read_json(gt_path, "the run's GT")["images"]}
    subset_ids = {im["file_name"]: im["id"] for im in subset["images"]}
    kept = []
    for result in checked_results(results, results_path, run_names, gt_path):
        image = subset_ids.get(run_names[result["image_id"]])
        if image is not None:
            kept.append(dict(result, image_id=image))
    scores = coco_map(load_coco(dict(subset)), kept)
    scores.update(
        protocol=recorded.get("protocol", "all"),
        resize_pred=False,
        source=recorded.get("source"),
        num_images=len(subset["images"]),
        num_gt_instances=sum(1 for a in subset["annotations"] if not a.get("iscrowd", 0)),
        num_results=len(kept),
    )
    return scores
