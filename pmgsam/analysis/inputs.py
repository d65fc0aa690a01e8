"""What the analyses read: a split's images and GT, and the map folders of a run folder.

Run folder layout (as ``evaluate.py``, ``python -m pmgsam.analysis premask`` and, per
variant, ``python -m pmgsam.ablate --evaluate`` write it)::

    RUN/run.json                  method name, meta.checkpoint and meta.weights_sha256
    RUN/pred/<split>/<stem>.png   final probability maps
    RUN/premask/<split>/<stem>.png  Pre-Mask probability maps (inference option)
    RUN/metrics/<split>.per_image.csv  per-image DIS metrics

A split may be combined (``DIS-TE`` or ``A+B``, see :mod:`pmgsam.evaluation.combined`); its
images are then named ``<part>/<stem>`` and every map is looked up in its part's folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence

from pmgsam.evaluation.combined import split_parts
from pmgsam.evaluation.run_json import read_run_file, recorded_checkpoint
from pmgsam.evaluation.scoring import EvaluationInputError
from pmgsam.utils.command_names import command_name
from pmgsam.utils.messages import preview

if TYPE_CHECKING:  # torch is imported only by the commands that load weights
    from pmgsam.modeling.checkpoint import HashedWeights


@dataclass
class SplitImages:
    """The images of a (possibly combined) split.

    Arguments:
      names: display names (``<part>/<stem>`` for combined splits).
      parts: the part each image belongs to.
      stems: file stems.
      image_paths: image files.
      mask_paths: GT masks.
    """

    names: List[str]
    parts: List[str]
    stems: List[str]
    image_paths: List[Path]
    mask_paths: List[Path]

    def folders(self) -> List[Path]:
        """The folders its images and GT masks are read from."""
        return sorted({p.parent for p in [*self.image_paths, *self.mask_paths]})

    def maps(
        self,
        folder_of_part: Dict[str, Path],
        what: str,
        indices: Optional[Sequence[int]] = None,
        hint: str = "",
    ) -> List[Path]:
        """``<folder of the image's part>/<stem>.png`` of every image, or of the images at
        ``indices`` (in that order); raises naming every one missing, then ``hint``."""
        chosen = range(len(self.stems)) if indices is None else indices
        paths = [folder_of_part[self.parts[i]] / f"{self.stems[i]}.png" for i in chosen]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise EvaluationInputError(
                f"{len(missing)} {what} map(s) missing: {preview(missing, 10)}{hint}"
            )
        return paths


def split_images(config: str | Path, split: str, overrides: Sequence[str] = ()) -> SplitImages:
    """List the images of ``split`` of the dataset described by an experiment config."""
    from pmgsam.data import build_dataset
    from pmgsam.data.splits import read_only_splits
    from pmgsam.engine.config import ExperimentConfig
    from pmgsam.utils.config import load_config

    cfg = load_config(ExperimentConfig, config, overrides)
    parts = split_parts(split)
    out = SplitImages([], [], [], [], [])
    for part in parts:
        with read_only_splits():  # an analysis reads the dataset folder, never writes into it
            ds = build_dataset(cfg.data, part, cfg.model.image_size, train=False)
        prefix = f"{part}/" if len(parts) > 1 else ""
        out.names += [prefix + n for n in ds.names]
        out.parts += [part] * len(ds.names)
        out.stems += list(ds.names)
        out.image_paths += list(ds.image_paths)
        out.mask_paths += list(ds.mask_paths)
    return out


def _run_file(run: Path) -> Dict[str, object]:
    return read_run_file(run / "run.json")  # {} without one; an error naming a broken one


def run_method(run: Path) -> str:
    """The method name of a run folder (``run.json``'s, else the folder name)."""
    return str(_run_file(run).get("method") or run.name)


def check_predicts_scored_model(
    run: Path,
    meta: Dict[str, object],
    checkpoint: str,
    *,
    given: bool = False,
    has_maps: bool = True,
) -> Optional[HashedWeights]:
    """Refuse to predict into ``run`` with weights other than those its run.json records
    (``meta.weights_sha256``, written by evaluate.py), whether or not its maps are there now:
    they would no longer be the ones its metrics and run.json describe. ``given``:
    ``checkpoint`` is --checkpoint (else run.json's own). ``has_maps``: the split's final map
    folders hold maps, which a run.json without that digest (or scores without a run.json)
    cannot vouch for. A folder with neither run.json nor metrics/ (one premask predicted into)
    names its maps' model in their manifests only, which predicting again rewrites: any
    weights may predict there. Returns the hash of ``checkpoint`` taken for the check, if one
    was: predicting with it (``predict_split(weights=)``) reads the file once and refuses a
    file replaced since it was checked; None where nothing needed it."""
    from pmgsam.modeling.checkpoint import hash_weights

    unchanged = f"nothing in '{run}' was changed"
    rescore = f"{score_again(run, meta, checkpoint)}, or analyse another run folder; {unchanged}"
    recorded = meta.get("weights_sha256")
    if recorded is None and is_ablation_variant(meta):
        # Its run.json and metrics describe the variant's weights, maps or none: another
        # model's maps must not join them, and its own are not named in that run.json.
        raise EvaluationInputError(
            f"--run '{run}' is a variant scored by a pmgsam.ablate older than its run.json's "
            f"record of its weights, so predicting there with '{checkpoint}' could put "
            f"another model's maps beside its scores: {rescore}"
        )
    hashed = None
    if given and meta.get("checkpoint"):
        hashed = hash_weights(checkpoint)
        _check_given_is_runs(run, meta, checkpoint, hashed.sha256, unchanged)
    elif recorded is not None:
        hashed = hash_weights(checkpoint)
        if hashed.sha256 != recorded:
            raise EvaluationInputError(
                f"'{checkpoint}' now holds other weights than those --run '{run}' was scored "
                f"with (trained further since, or another checkpoint): the maps predicted there "
                f"would be another model's than its run.json and metrics describe; {rescore}"
            )
    if recorded is not None or not has_maps:
        return hashed
    scores = _scores_of(run)
    if scores:
        record = (
            f"its run.json (one of an older {command_name('evaluate')}, or not "
            f"{command_name('evaluate')}'s) does not record"
            if (run / "run.json").is_file()
            else "it has no run.json to record"
        )
        raise EvaluationInputError(
            f"--run '{run}' holds scored maps (see its {' and '.join(scores)}) but {record} which "
            f"weights they came from, so predicting there with '{checkpoint}' could replace "
            f"them with another model's: {rescore}"
        )
    return hashed


def is_ablation_variant(meta: Dict[str, object]) -> bool:
    """``meta`` is that of a variant folder of ``pmgsam.ablate`` (it names what it ablates)."""
    return "ablates" in meta


def score_again(run: Path, meta: Dict[str, object], checkpoint: object) -> str:
    """What to run so that ``run``'s run.json records the weights its scores are of:
    evaluate.py for its runs; for an ablation variant, ``pmgsam.ablate --evaluate`` again,
    which records them (scoring again only scores that no longer stand)."""
    if is_ablation_variant(meta):
        return (
            f"run python -m pmgsam.ablate --grid GRID --output-dir {run.parent} --evaluate "
            f"again (with the overrides it was trained with), which records its weights in "
            f"'{run / 'run.json'}'"
        )
    return (
        f"score it again first ({command_name('evaluate')} --config CFG --checkpoint {checkpoint} "
        f"--output-dir {run})"
    )


def _scores_of(run: Path) -> List[str]:
    """What shows that ``run``'s maps were scored: its run.json, files in its metrics/."""
    metrics = run / "metrics"
    return [
        where
        for where, found in (
            ("run.json", (run / "run.json").is_file()),
            ("metrics/", metrics.is_dir() and any(metrics.iterdir())),
        )
        if found
    ]


def _check_given_is_runs(
    run: Path, meta: Dict[str, object], checkpoint: str, digest: str, unchanged: str
) -> None:
    """Refuse --checkpoint (of SHA-256 ``digest``) unless it holds the weights ``run``'s
    run.json records: their SHA-256, or for a run.json of an older evaluate.py (the path
    only) those the file it names holds now, which leaving --checkpoint out predicts with."""
    from pmgsam.modeling.checkpoint import weights_digest
    from pmgsam.modeling.weights import CheckpointError

    recorded = meta.get("weights_sha256")
    named = f"'{meta['checkpoint']}'"
    if recorded is None:
        try:
            recorded = weights_digest(recorded_checkpoint(meta) or str(meta["checkpoint"]))
        except (OSError, CheckpointError) as err:
            named += f" without its SHA-256, and that file cannot be read now ({err})"
        else:
            named += " without its SHA-256 (compared as that file is now)"
    if digest == recorded:
        return
    sha = f", SHA-256 {str(recorded)[:12]}" if recorded else ""
    raise EvaluationInputError(
        f"--checkpoint '{checkpoint}' (SHA-256 {digest[:12]}) is not the weights --run '{run}' "
        f"was scored with (its run.json records {named}{sha}): predicting maps there would "
        f"leave its run.json and metrics describing another model than its maps; give another "
        f"--run to predict the maps of '{checkpoint}' there, or leave out --checkpoint to "
        f"predict with run.json's; {unchanged}"
    )


def pmgsam_run_meta(run: Path, option: str, why: str) -> Dict[str, object]:
    """``run.json``'s meta of a PMG-SAM run (``{}`` without one); :class:`EvaluationInputError`
    when ``run`` holds the results of a baseline (SAM, SAM2, E-SAM-style: meta.baseline),
    which an analysis of PMG-SAM runs cannot use (``why`` says what it lacks)."""
    data = _run_file(run)
    meta = data.get("meta")
    meta = meta if isinstance(meta, dict) else {}
    if meta.get("baseline"):
        method = str(data.get("method") or run.name)
        raise EvaluationInputError(
            f"{option} '{run}' is a run of the {meta['baseline']} baseline ({method!r}): {why}"
        )
    return meta


def part_folders(run: Path, kind: str, split: str) -> Dict[str, Path]:
    """``{part: RUN/<kind>/<part>}`` for every part of ``split`` (kind: pred or premask)."""
    return {part: run / kind / part for part in split_parts(split)}


def check_maps_made_by(checkpoint: str, maps: Dict[Path, Sequence[str]]) -> None:
    """Refuse to analyse ready maps as ``checkpoint``'s unless the manifest of every folder of
    ``maps`` (``{folder: the stems read from it}``, all there) records that those weights made
    them all (the producer's ``weights_sha256``, which predict_split records). Maps of another
    checkpoint would be analysed as the given one's; maps with no record (an older pmgsam, or
    not written by pmgsam) cannot show which model made them, so they are refused too."""
    from pmgsam.modeling.checkpoint import weights_digest
    from pmgsam.utils.map_producers import describe_producer
    from pmgsam.utils.outputs import changed_maps, read_manifest

    given = weights_digest(checkpoint)
    problems = []
    for folder, stems in maps.items():
        record = read_manifest(folder)
        producer = record.get("producer")
        listed = set(record.get("files") or [])
        if not isinstance(producer, dict) or any(f"{s}.png" not in listed for s in stems):
            problems.append(
                f"'{folder}' holds maps without a record of the model that made them (written "
                "by a pmgsam older than that record, or not by pmgsam)"
            )
        elif producer.get("weights_sha256") != given:
            problems.append(f"'{folder}' holds maps made by {describe_producer(producer)}")
        elif record.get("mixed", True):
            problems.append(
                f"'{folder}' may also hold maps of another model (a prediction into it stopped "
                "before it finished)"
            )
        else:
            changed = changed_maps(folder, [f"{s}.png" for s in stems])
            if changed:
                problems.append(
                    f"'{folder}' holds {len(changed)} map(s) changed since pmgsam wrote them "
                    f"({preview(changed, 5)}: replaced by hand or by another program, or, where an "
                    "older pmgsam recorded them, copied without keeping modification times)"
                )
    if problems:
        raise EvaluationInputError(
            f"--checkpoint '{checkpoint}' (SHA-256 {given[:12]}) is not shown to have made the "
            f"maps the analysis would read: {'; '.join(problems)}; nothing was predicted: give "
            "another --run to predict its maps there, or delete those maps to predict them "
            "here (without --checkpoint the maps there are analysed as they are)"
        )
