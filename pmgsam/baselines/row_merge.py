"""Whether a baseline row's run.json may take this run's scores beside those it already holds.

run.json merges: a run over some splits replaces their scores and keeps the others'. A rerun into
the same ``--output-dir`` (the default one names only the baseline and the model type) with
another ``--reduce``, ``--model-image-size``, generator or E-SAM setting, or with other bytes in
the checkpoint file (:func:`~pmgsam.evaluation.run_json.check_same_model` compares its path),
would keep the other splits' scores of the earlier settings in a row that the new ones name and
describe. Such a run is refused before the model loads, naming those splits and what changed; a
run that scores again every split the row holds replaces them all, and may. run.json records
what made the maps under ``meta.maps_made_with`` (:func:`made_with`); a row written by an older
pmgsam, which did not record it, is merged as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping

from pmgsam.evaluation.map_pairs import EvaluationInputError
from pmgsam.evaluation.run_json import read_run_file

#: The run.json ``meta`` entry recording what made a baseline row's maps.
MADE_WITH = "maps_made_with"


def made_with(producer: Mapping[str, Any]) -> Dict[str, Any]:
    """What a row's scores depend on, from its maps' producer
    (:func:`~pmgsam.baselines.resume.baseline_producer`): the checkpoint's SHA-256, the model
    input side and the map-changing settings (baseline, model type, generator or E-SAM
    settings, ``--reduce``)."""
    made = {key: producer.get(key) for key in ("weights_sha256", "image_size", "settings")}
    return _without_instances(made)


def _without_instances(made: Mapping[str, Any]) -> Dict[str, Any]:
    """``made`` without its settings' ``instances`` flag (a folder dataset's masks also kept as
    COCO instances): it tells resumed maps apart, but changes no map nor DIS score, and it is
    set per call by whether a split scored has instance labels, so a row scored a split at a
    time (one split with labels, one without) would otherwise refuse its own scores."""
    settings = made.get("settings")
    if not isinstance(settings, Mapping) or "instances" not in settings:
        return dict(made)
    return {**made, "settings": {k: v for k, v in settings.items() if k != "instances"}}


def _changes(then: Mapping[str, Any], now: Mapping[str, Any]) -> List[str]:
    """``"<what> <then> then, <now> now"`` for each setting that differs (nested settings by
    their own name)."""
    changed = []
    for key in sorted(set(then) | set(now)):
        old, new = then.get(key), now.get(key)
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            changed += _changes(old, new)
        elif old != new:
            changed.append(f"{key} {old!r} then, {new!r} now")
    return changed


def refuse_other_settings(run_dir: Path, now: Mapping[str, Any], columns: Iterable[str]) -> None:
    """Raise :class:`~pmgsam.evaluation.map_pairs.EvaluationInputError` when ``run_dir``'s
    run.json holds scores that this run, made with ``now`` (:func:`made_with`) and scoring the
    ``columns`` (DIS splits, COS table columns), would not replace, made with other settings."""
    path = Path(run_dir) / "run.json"
    run = read_run_file(path)
    meta = run.get("meta")
    then = meta.get(MADE_WITH) if isinstance(meta, Mapping) else None
    if not isinstance(then, Mapping):
        return
    # Rows written while made_with still recorded the flag compare without it too.
    changed = _changes(_without_instances(then), _without_instances(now))
    replaced = set(columns)
    kept = sorted(
        {
            name
            for section in ("dis", "cos")
            if isinstance(run.get(section), Mapping)
            for name in run[section]
            if name not in replaced
        }
    )
    if changed and kept:
        raise EvaluationInputError(
            f"--output-dir '{run_dir}' holds scores of {', '.join(kept)} made with other settings "
            f"({'; '.join(changed)}): this run would not replace them, and its row in '{path}' "
            f"would mix both; score {'that split' if len(kept) == 1 else 'those splits'} too "
            "(--splits), or choose another --output-dir"
        )
