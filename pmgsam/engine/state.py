"""Training checkpoints and the run-folder layout.

A run folder ``<output_dir>`` holds::

    config.yaml                      the resolved ExperimentConfig
    checkpoints/last/model.safetensors   weights after the latest completed epoch
    checkpoints/last/state.pt            everything needed to resume from there
    checkpoints/best/...                 the same for the lowest validation loss
    metrics.jsonl, train.log, tb/        history, log, TensorBoard events

``model.safetensors`` is the package's weights format (:func:`pmgsam.modeling.checkpoint.
save_model`), usable for inference and ``train.init_from``. ``state.pt`` also carries the
trainable weights, so that resuming never depends on two files written one after the other
being in step; it holds only tensors and primitive containers and is read with
``torch.load(weights_only=True)``.

A checkpoint folder is one unit: both files are written into a hidden temporary folder
(``checkpoints/.last.pmgsam-*.tmp``), which then replaces ``last`` by two renames (``last`` ->
``.last.old``, temporary -> ``last``). A crash between them leaves ``.last.old``, the previous
complete checkpoint, which :func:`recover_checkpoint` (run by the trainer before it reads or
writes) puts back; a crash anywhere else leaves either the old or the new folder whole. The
epoch's ``metrics.jsonl`` line is written before the checkpoint that claims the epoch, and a
resumed run drops the lines of epochs its checkpoint does not hold, so every finished epoch has
exactly one line. :func:`remove_run_temporaries` clears what a killed process left behind.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
import yaml

from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.run_lock import LOCK_FILE
from pmgsam.engine.saved_config import (  # noqa: F401 (re-exported: callers import them here)
    CONFIG_FILE,
    with_legacy_fields,
)
from pmgsam.modeling.checkpoint import (  # noqa: F401 (run layout re-exported)
    CHECKPOINTS,
    MODEL_FILE,
    checkpoint_dir,
    resolve_weights,
    save_model,
)
from pmgsam.modeling.weights import CheckpointError, safe_torch_load
from pmgsam.utils.config import (
    ConfigError,
    apply_overrides,
    from_dict,
    load_config,
    to_dict,
)
from pmgsam.utils.config_files import read_config_file
from pmgsam.utils.io import (
    TMP_MARKER,
    TMP_SUFFIX,
    apply_umask,
    is_temporary,
    make_temporary,
    remove_stale_temporaries,
    sync_file,
    sync_folder,
    write_text_atomic,
)
from pmgsam.utils.messages import preview

PathLike = Union[str, Path]
STATE_FILE = "state.pt"
METRICS_FILE = "metrics.jsonl"
LOG_FILE = "train.log"
TB_DIR = "tb"
RUN_ENTRIES = (CONFIG_FILE, CHECKPOINTS, METRICS_FILE, LOG_FILE, TB_DIR, LOCK_FILE)
PACKAGE_LOGGER = "pmgsam"
STATE_FORMAT = "pmgsam-train-state"
STATE_VERSION = 1
OLD_SUFFIX = ".old"

logger = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> Dict[str, Any]:
    """RNG states of python, numpy, torch and CUDA as tensors / primitive containers."""
    np_state = np.random.get_state()
    state: Dict[str, Any] = {
        "python": random.getstate(),
        # numpy's key array becomes a tensor so that weights_only loading accepts it.
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        if len(state["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state["cuda"])


def _old_dir(directory: Path) -> Path:
    return directory.with_name(f".{directory.name}{OLD_SUFFIX}")


def recover_checkpoint(directory: PathLike) -> None:
    """Finish a checkpoint swap that a crash interrupted (see the module doc)."""
    directory = Path(directory)
    old = _old_dir(directory)
    if not old.is_dir():
        return
    if directory.is_dir():
        shutil.rmtree(old)  # the crash came after the new folder was in place
    else:
        os.rename(old, directory)  # between the two renames: the previous one is complete
        logger.warning("restored checkpoint '%s' after an interrupted save", directory)


def save_checkpoint(
    directory: PathLike,
    model: torch.nn.Module,
    state: Dict[str, Any],
    frozen_sha256: Optional[Dict[str, str]] = None,
) -> Path:
    """Write ``state.pt`` (``state`` + the trainable weights) and ``model.safetensors``.

    Both go into a temporary folder that then replaces ``directory`` as one unit.
    ``frozen_sha256``: the frozen branches' digests (see :func:`save_model`), computed if None.
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    recover_checkpoint(directory)
    payload = dict(state)
    payload["format"] = STATE_FORMAT
    payload["version"] = STATE_VERSION
    payload["model"] = {k: v.detach().cpu() for k, v in model.trainable_state_dict().items()}
    tmp = make_temporary(directory, directory=True)
    try:
        apply_umask(tmp, directory=True)
        torch.save(payload, tmp / STATE_FILE)
        save_model(model, tmp / MODEL_FILE, frozen_sha256)
        for name in (STATE_FILE, MODEL_FILE):
            sync_file(tmp / name)
        sync_folder(tmp)  # the two names inside, before the folder is swapped in
        old = _old_dir(directory)
        if directory.exists():
            os.rename(directory, old)
        os.rename(tmp, directory)
        sync_folder(directory.parent)  # the swap itself
        if old.exists():
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return directory


def remove_run_temporaries(run_dir: PathLike) -> List[Path]:
    """Delete the temporary files and folders a killed run left; finish interrupted swaps."""
    run_dir = Path(run_dir)
    ckpts = run_dir / CHECKPOINTS
    removed = remove_stale_temporaries(run_dir)
    if ckpts.is_dir():
        for which in ("last", "best"):
            recover_checkpoint(checkpoint_dir(run_dir, which))
            removed += remove_stale_temporaries(checkpoint_dir(run_dir, which))
        for tmp in ckpts.glob(f".*{TMP_MARKER}*{TMP_SUFFIX}"):
            if tmp.is_dir() and is_temporary(tmp.name):
                shutil.rmtree(tmp)
                removed.append(tmp)
        removed += remove_stale_temporaries(ckpts)
    if removed:
        logger.info("removed %d temporary file(s) of an interrupted run", len(removed))
    return removed


def _trained_nothing(path: Path) -> bool:
    """Whether the training state at ``path`` is the one saved before a run's first step."""
    try:
        state = safe_torch_load(path, "training state")
    except CheckpointError:
        return False  # unreadable: not ours to overwrite
    return isinstance(state, dict) and state.get("epoch") == 0 and state.get("global_step") == 0


def check_new_run_folder(run_dir: PathLike) -> None:
    """Refuse to start a run in ``run_dir`` unless it is new, empty or an unfinished attempt.

    A new run writes ``config.yaml`` and rewrites ``metrics.jsonl`` there and deletes its own
    hidden temporaries (``.<name>.pmgsam-<token>.tmp``), so a folder holding anything else (a
    dataset, another tool's output, a hand-written config.yaml) would lose files. An attempt
    that stopped before finishing its first epoch (e.g. on a wrong dataset path, or a bad file
    met in epoch 1) left run entries, its train.log and at most the checkpoint saved before its
    first step, which resuming would start from anyway; it is started afresh, with any config.
    """
    run_dir = Path(run_dir)
    last, best = checkpoint_dir(run_dir, "last"), checkpoint_dir(run_dir, "best")
    for folder in (last, _old_dir(last), best, _old_dir(best)):
        if (folder / STATE_FILE).is_file() and not _trained_nothing(folder / STATE_FILE):
            # A `best` without a trained `last` (deleted to save space) has no run to continue,
            # but the new run's first improving epoch would replace it.
            how = (
                f"continue it with --resume {run_dir}, or"
                if folder.name in (last.name, _old_dir(last).name)
                else f"its trained weights are in '{folder}', which a new run would replace:"
            )
            raise FileExistsError(
                f"run folder '{run_dir}' already holds a training run: {how} choose another "
                "output_dir / --output-dir"
            )
    if not run_dir.exists():
        return
    if not run_dir.is_dir():
        raise NotADirectoryError(f"output_dir '{run_dir}' is a file, not a folder")
    names = sorted(p.name for p in run_dir.iterdir())
    foreign = [n for n in names if n not in RUN_ENTRIES and not is_temporary(n)]
    if names and (foreign or LOG_FILE not in names):
        raise FileExistsError(
            f"output folder '{run_dir}' is not empty and holds no PMG-SAM run "
            f"({preview(foreign or names, 5)}): a run "
            f"writes {', '.join(RUN_ENTRIES)} there and would replace or delete files; "
            "choose a new or empty output_dir / --output-dir"
        )


def _cut_checkpoint(directory: Path) -> bool:
    """Whether ``directory`` is a run's checkpoint folder whose save was interrupted between
    its two renames: only its ``.<name>.old`` holds the state (the trainer restores it)."""
    return (
        directory.parent.name == CHECKPOINTS
        and not directory.exists()
        and (_old_dir(directory) / STATE_FILE).is_file()
    )


def load_training_state(directory: PathLike) -> Dict[str, Any]:
    """Read ``<directory>/state.pt`` (a checkpoint folder or a run folder's ``last``); of a
    checkpoint folder whose save was cut between its two renames, its ``.<name>.old``'s."""
    directory = Path(directory)
    path = directory / STATE_FILE
    if _cut_checkpoint(directory):
        path = _old_dir(directory) / STATE_FILE
    elif not path.is_file():
        path = checkpoint_dir(directory, "last") / STATE_FILE
    if not path.is_file() and (_old_dir(path.parent) / STATE_FILE).is_file():
        # A save was interrupted between its two renames; the trainer restores the folder.
        path = _old_dir(path.parent) / STATE_FILE
    if not path.is_file():
        raise CheckpointError(
            f"no training state at '{directory / STATE_FILE}' or '{path}': "
            "--resume needs a run folder (or one of its checkpoint folders)"
        )
    state = safe_torch_load(path, "training state")
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise CheckpointError(f"'{path}' is not a PMG-SAM training state")
    if state.get("version") != STATE_VERSION:
        raise CheckpointError(
            f"'{path}' has training-state version {state.get('version')}, "
            f"this pmgsam reads version {STATE_VERSION}"
        )
    state["path"] = str(path)
    if isinstance(state.get("config"), dict):
        state["config"] = with_legacy_fields(state["config"])
    return state


def write_config(run_dir: PathLike, config: ExperimentConfig) -> Path:
    """Write the resolved config to ``<run_dir>/config.yaml`` (atomically)."""
    path = Path(run_dir) / CONFIG_FILE
    write_text_atomic(path, yaml.safe_dump(to_dict(config), sort_keys=False))
    return path


def run_dir_of(path: PathLike) -> Path:
    """The run folder of a run folder or of one of its checkpoint folders."""
    path = Path(path)
    if ((path / STATE_FILE).is_file() and path.parent.name == CHECKPOINTS) or _cut_checkpoint(path):
        return path.parent.parent
    return path


def experiment_config(
    config_path: Optional[PathLike],
    overrides: Sequence[str] = (),
    output_dir: Optional[PathLike] = None,
    resume: Optional[PathLike] = None,
) -> ExperimentConfig:
    """The config of a new run (``config_path`` + overrides) or of a resumed one.

    Resuming without ``config_path`` reuses the run's saved ``config.yaml`` (overrides still
    apply); the output folder of a resumed run is always the run folder itself. The config is
    to train, so it must also pass :meth:`~pmgsam.engine.config.ExperimentConfig.validate_training`
    (loading a run's config to predict or evaluate does not ask that).
    """
    run_dir = run_dir_of(resume) if resume is not None else None
    if config_path is None and run_dir is None:
        raise ConfigError("give a config file (--config), or a run folder to --resume")
    if run_dir is not None and not run_dir.is_dir():
        missing = "does not exist" if not run_dir.exists() else "is a file, not a run folder"
        raise CheckpointError(f"--resume '{resume}' {missing}")
    if config_path is None:
        config_path = Path(run_dir) / CONFIG_FILE
    overrides = list(overrides)
    if run_dir is not None:
        if output_dir is not None and Path(output_dir).resolve() != run_dir.resolve():
            raise ConfigError(
                f"--output-dir '{output_dir}' differs from the resumed run folder '{run_dir}'"
            )
        output_dir = run_dir
    if output_dir is not None:
        overrides.append(f"output_dir={output_dir}")
    # The run's own file however it is named (absolute, via '..'): its '' paths and missing
    # legacy fields read as when it was saved.
    if run_dir is not None and Path(config_path).resolve() == (run_dir / CONFIG_FILE).resolve():
        data = with_legacy_fields(read_config_file(Path(config_path)))
        data = apply_overrides(data, overrides, config_path)
        try:
            config = from_dict(ExperimentConfig, data)
        except ConfigError as err:
            raise ConfigError(f"{err} ({config_path})") from None
    else:
        config = load_config(ExperimentConfig, config_path, overrides)
    try:
        config.validate_training()  # this config trains: the checks loading leaves out
    except ConfigError as err:
        given = [o for o in overrides if not o.startswith("output_dir=")]
        also = f" with override(s) {', '.join(repr(o) for o in given)}" if given else ""
        raise ConfigError(f"{err} ({config_path}{also})") from None
    return config
