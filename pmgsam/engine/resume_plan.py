"""How a prediction run resumes (``--skip-existing``): which image each map is of, what made
the maps, which maps a resumed run keeps, and the manifests recording them. Shared by
``python -m pmgsam.engine.inference`` and :func:`pmgsam.engine.inference.predict_split`
(benchmark mode); the rules are :func:`pmgsam.utils.outputs.finished_maps`'.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence, Set, Tuple, Union

from pmgsam.engine.distributed import resolve_device
from pmgsam.engine.predictor import map_producer, resolve_amp
from pmgsam.modeling.checkpoint import HashedWeights, branch_digests, check_loaded, hash_weights
from pmgsam.modeling.weights import CheckpointError
from pmgsam.utils.map_producers import file_identity
from pmgsam.utils.outputs import finished_maps, prepare_output_dir

# The inference command's messages, under its name (it runs as __main__).
logger = logging.getLogger("pmgsam.engine.inference")


def map_sources(listed: Dict[str, Path]) -> Dict[str, Any]:
    """``{<stem>.png: file_identity(image)}``: which image each map is of."""
    return {f"{stem}.png": file_identity(path) for stem, path in listed.items()}


def load_and_plan(
    outputs: list,
    checkpoint: Union[str, Path],
    amp: str,
    sources: Dict[str, Any],
    skip_existing: bool,
    load: Callable[[Optional[HashedWeights]], Tuple[Any, HashedWeights]],
    weights: Optional[HashedWeights] = None,
    reused_producer: Optional[Dict[str, Any]] = None,
) -> Tuple[Any, Optional[Dict[str, Any]], Set[str]]:
    """``(model, producer, kept stems)``: the model from ``load``, what makes this run's maps
    (recorded in the folders' manifests) and, with ``skip_existing``, the stems whose maps
    every folder of ``outputs`` already holds (:func:`finished`).

    With ``skip_existing`` the folders are checked before the model loads, so a refusal costs
    no load; a checkpoint that does not record its frozen branches is checked once they are
    loaded (the loaded branches' SHA-256 stand in). ``weights``: the weights' hash if known
    (else the file is hashed, before it is loaded). ``load(weights)`` gives the model and the
    hash of the file it came from (:func:`~pmgsam.modeling.checkpoint.load_hashed`). Once the
    producer is read, the file must still be the version hashed, or the run is refused naming
    it: the recorded SHA-256 is then of the weights that make the maps.

    ``reused_producer``: the producer of a model that an earlier call loaded and checked,
    which ``load`` gives again: the file is not read again, so a version written since that
    load (a training run's new best weights) stops nothing, as it changes none of the maps.
    """
    if reused_producer is not None:
        model, _ = load(weights)
        producer = dict(reused_producer)
        kept = finished(outputs, producer, sources, warn=True) if skip_existing else set()
        return model, producer, kept
    producer = None
    skip: Set[str] = set()
    if skip_existing:
        weights = weights or hash_weights(checkpoint)
        producer = map_producer(checkpoint, amp, weights.sha256)
        if producer["frozen_sha256"]:
            skip = finished(outputs, producer, sources, warn=True)
    model, weights = load(weights)
    producer = producer or recorded_producer(str(checkpoint), amp, weights.sha256)
    if producer is not None and not producer["frozen_sha256"]:  # an older checkpoint
        producer["frozen_sha256"] = branch_digests(model)
        skip = finished(outputs, producer, sources, warn=True) if skip_existing else set()
    check_loaded(weights)  # after the producer's header was read from the file too
    return model, producer, skip


def prepare_outputs(
    outputs: list,
    names: Sequence[str],
    inputs: Sequence[Any],
    overwrite: bool,
    tool: str,
    producer: Optional[Dict[str, Any]],
    sources: Dict[str, Any],
    flat_inputs: bool = False,
    kept: Sequence[str] = (),
) -> None:
    """:func:`~pmgsam.utils.outputs.prepare_output_dir` for every ``(folder, option, kind of
    map)`` of ``outputs``, recording ``names`` with their producer and image files
    (``flat_inputs``, and ``kept``: the names of maps a resumed run keeps, as there)."""
    for folder, option, kind in outputs:
        made_by = {**producer, "maps": kind} if producer else None
        named = {name: sources[name] for name in names}
        prepare_output_dir(
            folder, names, inputs, overwrite, option, tool, made_by, named, flat_inputs, kept
        )


def recorded_producer(
    checkpoint: str, amp: str, weights_sha256: Optional[str] = None
) -> Optional[Dict[str, Any]]:
    """:func:`map_producer` for a run without ``--skip-existing``, read once the model loaded;
    ``None`` (recorded as an unknown producer, whose maps a resumed run never keeps) with a
    warning if the weights file cannot be read again although it is unchanged (a file that
    changed or vanished is refused by :func:`load_and_plan`'s ``check_loaded`` after this)."""
    try:
        return map_producer(checkpoint, amp, weights_sha256)
    except (OSError, CheckpointError) as err:
        logger.warning(
            "could not read '%s' again to record which weights make the maps (%s): a run with "
            "--skip-existing will not keep them",
            checkpoint,
            err,
        )
        return None


def refuse_unresumable(
    checkpoint: Union[str, Path],
    device: Optional[str],
    splits: Dict[Path, Any],
    option: str,
    weights_sha256: Optional[str] = None,
) -> None:
    """For a run of several splits with ``skip_existing``, before any is predicted: raise
    :func:`~pmgsam.utils.outputs.finished_maps`' error when a split's folder (``{folder:
    dataset}``) holds maps of another producer, so that the last split's refusal costs no
    predictions of the others. A checkpoint that records no frozen-branch SHA-256 needs the
    loaded model: :func:`~pmgsam.engine.inference.predict_split` checks its folders then.
    ``weights_sha256``: the weights' SHA-256 when the caller has it (else the file is hashed)."""
    amp = resolve_amp("auto", resolve_device(device or "auto", option="--device"))
    producer = map_producer(checkpoint, amp, weights_sha256)
    if producer["frozen_sha256"]:
        for folder, dataset in splits.items():
            sources = map_sources(dict(zip(dataset.names, dataset.image_paths)))
            finished([(folder, option, "final")], producer, sources)


def finished(
    outputs: list, producer: Dict[str, Any], sources: Dict[str, Any], warn: bool = False
) -> set:
    """Stems of the maps named by ``sources`` (:func:`map_sources`) that every output folder
    already holds from ``producer`` and from the same image file, unchanged since written
    (:func:`pmgsam.utils.outputs.finished_maps`, which refuses a folder of another's maps;
    with ``warn``, it names the maps changed since)."""
    stems = {name[: -len(".png")] for name in sources}
    for folder, option, kind in outputs:
        kept = finished_maps(folder, {**producer, "maps": kind}, option, sources, warn)
        stems &= {name[: -len(".png")] for name in kept if name.endswith(".png")}
    return stems
