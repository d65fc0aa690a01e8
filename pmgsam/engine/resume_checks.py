"""What a resumed run may find changed, and the checks that keep a resume exact or refuse it.

The config must equal the saved one up to :data:`~pmgsam.engine.config.RESUMABLE_CHANGES`
(where outputs go, how often the loop reports, speed options); the dataset folder and the
frozen branches' files may also live elsewhere (:data:`MOVABLE`) when what is there is the
run's, which the training state's fingerprints prove.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from pmgsam.engine.config import RESUMABLE_CHANGES, ExperimentConfig
from pmgsam.engine.state import CHECKPOINTS, checkpoint_dir, load_training_state
from pmgsam.modeling.weights import CheckpointError
from pmgsam.utils.command_names import command_name
from pmgsam.utils.config import ConfigError, diff, to_dict

logger = logging.getLogger(__name__)


# What may live elsewhere on resume (a cluster job's scratch copy, another machine), and the
# training-state entry that proves the run reads the same there: the dataset folder, as long as
# the same training and validation images and masks are found (their relative paths, byte
# sizes and first and last bytes, :func:`~pmgsam.engine.train_data.data_fingerprint`), and the
# frozen branches' files, as long as they hold the same weights (each branch's SHA-256,
# :func:`~pmgsam.modeling.checkpoint.branch_digests`, as the checkpoints record them).
MOVABLE = {
    "data_sample_fingerprint": (
        ("data.root", "data.split_dir"),
        "the training and validation images",
    ),
    "frozen_sha256": (("model.hiera_checkpoint", "model.u2net_checkpoint"), "the frozen weights"),
}
#: The entry states held before ``frozen_sha256``: one digest of both frozen branches.
LEGACY_FROZEN_DIGEST = "frozen_digest"
#: The entry states held before ``data_sample_fingerprint``: the image and mask paths and sizes
#: (:func:`~pmgsam.engine.train_data.sizes_fingerprint`), blind to a file replaced in place by
#: one of the same size.
LEGACY_SIZES_FINGERPRINT = "data_files_fingerprint"
#: The entry states held before ``data_files_fingerprint``: the image paths alone
#: (:func:`~pmgsam.engine.train_data.paths_fingerprint`), blind to files replaced in place.
LEGACY_DATA_FINGERPRINT = "data_fingerprint"


def inputs_found(
    resumed: Dict[str, Any],
    fingerprint: str,
    model: Any,
    digests: Dict[str, str],
    paths_fingerprint: Callable[[], str],
    sizes_fingerprint: Optional[Callable[[], str]] = None,
) -> Dict[str, Any]:
    """Each :data:`MOVABLE` entry as the current config reads it, for
    :func:`check_moved_inputs`: the data ``fingerprint`` and the frozen weights' ``digests``
    (each branch's SHA-256, hashed once at set-up). A state written before
    ``data_sample_fingerprint`` or ``frozen_sha256`` holds :data:`LEGACY_SIZES_FINGERPRINT`,
    :data:`LEGACY_DATA_FINGERPRINT` or :data:`LEGACY_FROZEN_DIGEST` instead: it becomes the
    state's entry, and the data (``sizes_fingerprint()``, ``paths_fingerprint()``) or
    ``model``'s frozen weights are fingerprinted that way too, for this resume only."""
    data: str = fingerprint
    entry = "data_sample_fingerprint"
    if entry not in resumed and LEGACY_SIZES_FINGERPRINT in resumed and sizes_fingerprint:
        resumed[entry] = resumed[LEGACY_SIZES_FINGERPRINT]
        data = sizes_fingerprint()
        logger.warning(
            "the training state '%s' predates the data files' sampled contents: only their "
            "paths and sizes could be checked (an image or mask replaced under its name by a "
            "file of the same size would go unnoticed); its next checkpoint records them",
            resumed["path"],
        )
    elif entry not in resumed and LEGACY_DATA_FINGERPRINT in resumed:
        resumed[entry] = resumed[LEGACY_DATA_FINGERPRINT]
        data = paths_fingerprint()
        logger.warning(
            "the training state '%s' predates the data files' sizes: only the image paths "
            "could be checked (an image or mask replaced under its name would go unnoticed); "
            "its next checkpoint records the sizes",
            resumed["path"],
        )
    frozen: Any = digests
    if "frozen_sha256" not in resumed and LEGACY_FROZEN_DIGEST in resumed:
        resumed["frozen_sha256"] = resumed[LEGACY_FROZEN_DIGEST]
        frozen = model.frozen_digest()
    return {entry: data, "frozen_sha256": frozen}


def resume_differences(saved: Dict[str, Any], config: ExperimentConfig) -> List[str]:
    """Config differences (saved vs current) that make an exact resumption impossible."""
    allowed = set(RESUMABLE_CHANGES).union(*(keys for keys, _ in MOVABLE.values()))
    return [d for d in diff(saved, to_dict(config)) if d.split(":")[0] not in allowed]


def check_moved_inputs(
    resumed: Dict[str, Any], config: ExperimentConfig, found: Dict[str, str]
) -> None:
    """Refuse a resume whose dataset or frozen-branch files (:data:`MOVABLE`), moved or not, no
    longer hold what the run was trained on. ``found``: each :data:`MOVABLE` entry computed from
    what the current config reads. A state written before an entry existed may not move it."""
    differences = diff(resumed["config"], to_dict(config))
    for entry, (keys, what) in MOVABLE.items():
        moved = [d for d in differences if d.split(":")[0] in keys]
        saved, fields = resumed.get(entry), " and ".join(keys)
        if saved == found[entry]:
            if moved:
                logger.info("moved (%s): %s are the run's", "; ".join(moved), what)
            continue
        source = f"cannot resume from '{resumed['path']}'"
        if saved is None and moved:
            raise ConfigError(
                f"{source} with {fields} moved ({'; '.join(moved)}): its training state "
                f"predates this check; resume with the run's {fields}"
            )
        if saved is None:
            continue
        if moved:
            raise ConfigError(
                f"{source} with {fields} moved ({'; '.join(moved)}): {what} found there are "
                f"not the run's; resume with the run's {fields}"
            )
        raise ConfigError(
            f"{source}: {what} at the run's {fields} are not those it was trained on (they "
            "changed since); an exact resume needs the same, or start a new run from its "
            "weights (train.init_from=RUN)"
        )


def check_frozen_files(config: ExperimentConfig, source: str) -> None:
    """Refuse a resume whose frozen-branch file is missing, saying how to give its new place."""
    for key in MOVABLE["frozen_sha256"][0]:
        path = getattr(config.model, key.split(".")[1])
        if path and not Path(path).is_file():
            raise ConfigError(
                f"cannot resume from '{source}': {key} '{path}' does not exist; if the file "
                f"moved, resume with {key}=<its new path> (it must hold the same weights)"
            )


def check_resume_config(saved: Dict[str, Any], config: ExperimentConfig, source: str) -> None:
    """Raise :class:`ConfigError` listing every difference that forbids resuming."""
    differences = resume_differences(saved, config)
    if differences:
        raise ConfigError(
            f"cannot resume from '{source}': the config differs from the one the run was "
            f"started with (saved vs now): {'; '.join(differences)}. Resume without --config "
            "and overrides to reuse the saved config, or start a new run from its weights "
            "with train.init_from=RUN (to train for more epochs, say: the lr schedule spans the "
            f"epochs a run was given; only {list(RESUMABLE_CHANGES)} may change on resume, and "
            f"{[k for keys, _ in MOVABLE.values() for k in keys]} where the files there are "
            "the run's)"
        )


def resume_command(run_dir: Path, world_size: int) -> str:
    """The command that continues ``run_dir`` on as many processes as it ran on, named as
    :func:`~pmgsam.utils.command_names.command_name` names training: ``-m pmgsam.train`` for
    a pmgsam module run with ``-m`` (``pmgsam.train``, ``pmgsam.ablate``'s variants) or where
    no train.py sits beside the package (an installed one), else ``train.py``."""
    launch = "python" if world_size == 1 else f"torchrun --nproc_per_node {world_size}"
    command = command_name("train").replace("python ", "", 1)  # after torchrun: -m ...
    return f"{launch} {command} --resume {run_dir}"


def check_world_size(resumed: Dict[str, Any], world_size: int) -> None:
    """Refuse a resume on another number of processes: the global batch, the data each rank
    draws and the schedule's steps per epoch would change. States written before the world size
    was recorded are not checked."""
    saved = resumed.get("world_size")
    if saved is None or saved == world_size:
        return
    # The folder the resume continues (state.run_dir_of): a checkpoint folder kept outside a
    # run's checkpoints/ resumes into itself.
    folder = Path(resumed["path"]).parent
    run = folder.parent.parent if folder.parent.name == CHECKPOINTS else folder
    raise ConfigError(
        f"cannot resume from '{resumed['path']}' on {world_size} process(es): the run trained "
        f"on {saved}, and another count changes the global batch and the data each process "
        f"draws; resume with {resume_command(run, saved)}, or start a new run from its weights "
        "(train.init_from=RUN)"
    )


def check_not_a_rewind(resumed: Dict[str, Any], run_dir: Path) -> None:
    """Refuse continuing ``run_dir`` from one of its checkpoints older than its ``last`` (its
    ``best``, given as ``--resume RUN/checkpoints/best``): the run would go back to that epoch,
    drop the later epochs' ``metrics.jsonl`` lines and TensorBoard events at once and overwrite
    ``last``, where a resume continues where the run stopped."""
    given = Path(resumed["path"]).resolve()
    if given.parent == checkpoint_dir(run_dir, "last").resolve():
        return  # the usual resume: no second read of the state
    try:
        last = load_training_state(run_dir)
    except CheckpointError:
        return  # no `last` to lose (a run folder from elsewhere is checked as a new one)
    if int(last["epoch"]) <= int(resumed["epoch"]):
        return
    epoch, newer = int(resumed["epoch"]), int(last["epoch"])
    raise ConfigError(
        f"cannot resume from '{resumed['path']}': it holds epoch {epoch}, but the run's last "
        f"checkpoint '{last['path']}' holds epoch {newer}, so the run would go back to epoch "
        f"{epoch}, dropping epochs {epoch + 1}-{newer} from metrics.jsonl and overwriting "
        f"`last`. Continue the run with {resume_command(run_dir, int(last.get('world_size') or 1))}"
        f", or train on from these weights in a new run (train.init_from={given.parent})"
    )
