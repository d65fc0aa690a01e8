"""PMG-SAM's own checkpoints: trainable weights + the config that built them, as safetensors.

Frozen branches are not stored: they come from their own official files named in the config.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Callable, Dict, NamedTuple, Optional, Sequence, Tuple, Union

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from pmgsam.modeling.checkpoint_files import (
    FOREIGN_FIELDS,
    CheckpointError,
    foreign_file_kind,
    refuse_empty,
    starts_as_safetensors,
)
from pmgsam.modeling.config import (
    EMPTY_MEANT_NONE,
    LEGACY_FIELDS,
    WEIGHT_SOURCE_FIELDS,
    ModelConfig,
)
from pmgsam.utils.config import ConfigError, apply_overrides, diff, from_dict, to_dict
from pmgsam.utils.io import atomic_path, file_sha256

logger = logging.getLogger(__name__)

FORMAT = "pmgsam"
FORMAT_VERSION = "1"
CHECKPOINTS = "checkpoints"
MODEL_FILE = "model.safetensors"


def checkpoint_dir(run_dir: str | Path, which: str) -> Path:
    """``<run_dir>/checkpoints/<which>`` (``which`` is ``last`` or ``best``)."""
    return Path(run_dir) / CHECKPOINTS / which


def resolve_weights(path: str | Path) -> Path:
    """A PMG-SAM weights file from a file, a checkpoint folder or a run folder (its best)."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.exists():
        raise CheckpointError(f"checkpoint '{path}' does not exist")
    candidates = [path / MODEL_FILE, checkpoint_dir(path, "best") / MODEL_FILE]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    looked = ", ".join(f"'{c}'" for c in candidates)
    last = checkpoint_dir(path, "last")
    if (last / MODEL_FILE).is_file():
        # A run folder all the same: one whose validation loss was never finite, or that was
        # stopped before its first validation, has only its latest weights.
        raise CheckpointError(
            f"the training run '{path}' has no best weights (looked for {looked}): no finite "
            f"validation loss was recorded yet; its latest weights are '{last}': give that"
        )
    held = [f"'{path / w}'" for w in ("best", "last") if (path / w / MODEL_FILE).is_file()]
    if path.name == CHECKPOINTS and held:  # a run's checkpoints/, one level above its weights
        # The run folder means its best: offered only where there is one (else it is refused).
        run = (
            f" or the run folder '{path.parent}' (its best)"
            if (path / "best" / MODEL_FILE).is_file()
            else f" (the run folder '{path.parent}' has no best weights yet)"
        )
        raise CheckpointError(
            f"'{path}' holds checkpoint folders, not weights: give one of them ("
            f"{' or '.join(held)}){run}"
        )
    raise CheckpointError(
        f"no PMG-SAM weights in the folder '{path}' (looked for {looked}); "
        "give a .safetensors file, a checkpoint folder or a training run folder"
    )


def weights_digest(path: str | Path) -> str:
    """SHA-256 of the PMG-SAM weights file that ``path`` (file, checkpoint or run folder) names:
    tells whether a run's ``best`` weights changed since maps were predicted from them."""
    return file_sha256(resolve_weights(path))


class HashedWeights(NamedTuple):
    """A weights file's SHA-256 and the version of the file it was taken of
    (:func:`hash_weights`; :func:`check_loaded` proves the model loaded is that version).

    Arguments:
      path (Path): the weights file (a checkpoint or run folder resolved to its file).
      sha256 (str): the file's SHA-256, hex.
      stamp (tuple of 4 int): the file's (device, inode, size, mtime_ns) before hashing.
    """

    path: Path
    sha256: str
    stamp: Tuple[int, int, int, int]  # (device, inode, size, mtime_ns) before hashing


def _stamp(path: Path) -> Tuple[int, int, int, int]:
    # A replaced file (a new file renamed over it) has another inode; one rewritten in place
    # another size or modification time.
    st = path.stat()
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def hash_weights(path: str | Path) -> HashedWeights:
    """The SHA-256 of the weights file ``path`` names (a file; for PMG-SAM also a checkpoint
    or run folder), with the file's identity and version taken before it is read. Load the
    model after this, then call :func:`check_loaded`: the hash is then provably of the bytes
    loaded, without reading the file twice into memory."""
    file = Path(resolve_weights(path))
    stamp = _stamp(file)
    return HashedWeights(file, file_sha256(file), stamp)


def check_loaded(weights: HashedWeights) -> None:
    """Call once the model is loaded from ``weights.path``: raise :class:`CheckpointError`
    naming the file if it was replaced or rewritten since it was hashed (the SHA-256 recorded
    would then describe another file than the weights loaded: a prediction's maps, a
    fine-tuning record's source). The message suits every caller: it names no maps."""
    try:
        now = _stamp(weights.path)
    except OSError as err:
        change = f"it can no longer be read: {err.strerror or err}"
    else:
        if now == weights.stamp:
            return
        same_file = now[:2] == weights.stamp[:2]
        change = "rewritten in place" if same_file else "replaced by another file"
    raise CheckpointError(
        f"weights file '{weights.path}' changed between hashing and loading ({change}): the "
        "SHA-256 to record would not be of the weights loaded, so nothing was done with them. "
        "Run again once nothing writes that file (a training run replaces its best weights as "
        "it improves: use a copy, or wait until it finishes)"
    )


def load_hashed(
    load_model: Callable[[], Any],
    checkpoint: Union[str, Path],
    weights: Optional[HashedWeights] = None,
) -> Tuple[Any, HashedWeights]:
    """``(model, the hash of the file it was loaded from)``: ``load_model()`` after the weights
    file is hashed (or with ``weights``, a hash taken earlier), refused with a
    :class:`CheckpointError` naming the file if it was replaced or
    rewritten in between (:func:`check_loaded`)."""
    weights = weights or hash_weights(checkpoint)
    model = load_model()
    check_loaded(weights)
    return model, weights


def save_model(
    model: torch.nn.Module, path: str | Path, frozen_sha256: Optional[Dict[str, str]] = None
) -> Path:
    """Write ``model.trainable_state_dict()`` and ``model.config`` atomically to ``path``
    (safetensors); returns ``path``.

    The file is safetensors, so ``path`` must end in ``.safetensors``: another name (``.pt``)
    would say it is a pickle for ``torch.load`` and is refused. Files written under other names
    before this check still load.

    Arguments:
      model (PMGSAM): the model to save, in float32 (a model converted to bfloat16 or
        float16 is refused: the frozen-branch digests would be of converted weights, which the
        float32 branches load_pretrained rebuilds never match); so is one converted and
        back (``model.half().float()``), whose frozen branches stay rounded.
      path (str or Path): the checkpoint file to write, ending in ``.safetensors`` (replaced
        when it exists; its folder is created when missing).
      frozen_sha256 (dict, optional): ``{branch: SHA-256}`` of each frozen branch's weights
        (:func:`branch_digests`, computed when not given). They go along, so loading the
        checkpoint with other frozen weights is refused.
    """
    path = Path(path)
    if not (hasattr(model, "trainable_state_dict") and hasattr(model, "config")):
        inner = getattr(model, "module", None)  # DistributedDataParallel, DataParallel
        hint = " (pass its .module, the PMG-SAM inside)" if hasattr(inner, "config") else ""
        raise TypeError(
            f"save_model saves a PMG-SAM model (pmgsam.build_model / load_pretrained), got "
            f"{type(model).__name__}{hint}"
        )
    dtypes = {p.dtype for p in model.parameters()}
    if dtypes != {torch.float32}:
        # load_pretrained rebuilds the frozen branches in float32 from their files and checks
        # them against the digests stored here: those of converted weights never match.
        raise CheckpointError(
            f"save_model stores float32 models, and this one's weights are "
            f"{', '.join(sorted(str(d) for d in dtypes))}: save it before converting it (or "
            "convert a copy: copy.deepcopy(model).to(torch.bfloat16)); reloaded, its frozen "
            "branches would not match their files"
        )
    if path.is_dir():
        raise CheckpointError(
            f"'{path}' is a folder: give save_model a file to write in it, e.g. "
            f"'{path / MODEL_FILE}' (load_pretrained takes that folder then)"
        )
    if path.suffix.lower() != ".safetensors":
        raise CheckpointError(
            f"save_model writes safetensors, not a torch.save pickle, so '{path}' would be "
            f"misnamed: give a path ending in .safetensors (e.g. "
            f"'{path.with_suffix('.safetensors')}')"
        )
    state = {k: v.detach().cpu().contiguous() for k, v in model.trainable_state_dict().items()}
    if frozen_sha256 is None:
        _refuse_rounded_branches(model)
        frozen_sha256 = branch_digests(model)
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": json.dumps(to_dict(model.config)),
        "frozen_sha256": json.dumps(frozen_sha256),
    }
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=metadata)
    return path


def _refuse_rounded_branches(model: torch.nn.Module) -> None:
    """Refuse a model whose frozen branches went through float16 or bfloat16 and back
    (``model.half().float()``): their weights are no longer those of their files (or seed),
    which load_pretrained rebuilds, so the digests recorded would match no reload. Weights that
    all happen to fit a 16-bit format are taken for that: float32 initialisations and
    checkpoints do not."""
    from pmgsam.modeling.pmgsam import FROZEN_BRANCHES

    for branch in FROZEN_BRANCHES:
        weights = [p.detach() for p in getattr(model, branch).parameters()]
        for dtype in (torch.float16, torch.bfloat16):
            if weights and all(torch.equal(w, w.to(dtype).to(w.dtype)) for w in weights):
                raise CheckpointError(
                    f"the frozen {branch} branch holds weights rounded to {dtype} (the model "
                    f"went through model.to({dtype}) and back?), not those of its file or "
                    "seed, which load_pretrained rebuilds: reloaded, the model would differ "
                    "from the one saved. Save it before converting it (or convert a copy). "
                    "To save this one, put its trainable weights in a new build: fresh = "
                    "pmgsam.build_model(model.config); fresh.load_trainable_state_dict("
                    "model.trainable_state_dict(), 'model'); save_model(fresh, path)"
                )


def branch_digests(model: torch.nn.Module) -> Dict[str, str]:
    """``{branch: SHA-256 of its weights}`` for each frozen branch of ``model``."""
    from pmgsam.modeling.pmgsam import FROZEN_BRANCHES

    return {branch: model.frozen_digest((branch,)) for branch in FROZEN_BRANCHES}


def read_frozen_digests(path: str | Path) -> Dict[str, str]:
    """The frozen branches' SHA-256 a checkpoint file records; empty for files written before
    they were recorded."""
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata() or {}
    return json.loads(metadata.get("frozen_sha256", "{}"))


def read_model_config(path: str | Path) -> ModelConfig:
    """The :class:`ModelConfig` stored in a PMG-SAM checkpoint file, read from its header only
    (what a run was evaluated with, without loading the weights)."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(
            f"'{path}' is a folder, not a checkpoint file; give its model.safetensors "
            "(or use pmgsam.load_pretrained, which also accepts checkpoint and run folders)"
        )
    if not path.is_file():
        raise CheckpointError(f"checkpoint file '{path}' does not exist")
    refuse_empty(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except (SafetensorError, OSError) as err:
        found = foreign_file_kind(path)
        if found is not None:
            raise CheckpointError(f"'{path}' is {found}") from err
        hint = ""
        if starts_as_safetensors(path):
            hint = (
                "; it starts as a safetensors file does, so it is damaged or cut short (an "
                "interrupted copy or download?): copy it again"
            )
        elif path.suffix in (".pt", ".pth"):  # e.g. a run's state.pt, or a foreign checkpoint
            hint = (
                f"; PMG-SAM weights are the {MODEL_FILE} beside it, or give the run folder"
                f"{FOREIGN_FIELDS}"
            )
        raise CheckpointError(f"cannot read '{path}' as safetensors: {err}{hint}") from err
    if metadata.get("format") != FORMAT or "config" not in metadata:
        found = foreign_file_kind(path)
        raise CheckpointError(
            f"'{path}' is {found}"
            if found
            else f"'{path}' is not a PMG-SAM checkpoint (no pmgsam config metadata)"
        )
    stored = json.loads(metadata["config"])
    stored = {**LEGACY_FIELDS, **stored}  # checkpoints written before those fields existed
    # Written before an empty path was refused: '' was then read as no file.
    stored = {k: None if k in EMPTY_MEANT_NONE and v == "" else v for k, v in stored.items()}
    try:
        return from_dict(ModelConfig, stored)
    except ConfigError as err:
        raise CheckpointError(f"'{path}' carries an invalid model config: {err}") from err


def read_model_file(path: str | Path) -> Tuple[Dict[str, torch.Tensor], ModelConfig]:
    """Return the state dict and the :class:`ModelConfig` stored in a PMG-SAM checkpoint."""
    config = read_model_config(path)
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"cannot read '{path}' as safetensors: {err}") from err
    return state, config


def architecture_diff(a: ModelConfig, b: ModelConfig) -> list:
    """Config differences that change the architecture (weight file locations excluded)."""
    return [d for d in diff(a, b) if d.split(":")[0] not in WEIGHT_SOURCE_FIELDS]


def load_model_weights(model: torch.nn.Module, path: str | Path) -> None:
    """Load a PMG-SAM checkpoint's trainable weights into ``model``.

    Arguments:
      model (PMGSAM): a model built with the checkpoint's config; a checkpoint whose config
        differs in architecture (weight file locations aside) is refused.
      path (str or Path): a PMG-SAM checkpoint file (``.safetensors``).
    """
    state, config = read_model_file(path)
    differences = architecture_diff(config, model.config)
    if differences:
        fields = [d.split(":")[0] for d in differences]
        stored = ", ".join(f"model.{f}={_override_text(getattr(config, f))}" for f in fields)
        # S is among them though no trainable weight's shape depends on it: a Hiera built at
        # another S has another position embedding (and a random one other weights throughout),
        # and the frozen digests the checkpoint records would not hold.
        size = (
            f"; images of any size are resized to its S={config.image_size} for prediction"
            if "image_size" in fields
            else ""
        )
        raise CheckpointError(
            f"checkpoint '{path}' was built with another model config; differences "
            f"(checkpoint vs model): {'; '.join(differences)}. Its weights load only into the "
            f"model they were trained in: leave those fields as it has them ({stored}){size}"
        )
    model.load_trainable_state_dict(state, source=str(path))


def _override_text(value: Any) -> str:
    """``value`` as a ``key=value`` override gives it (text bare, lists and flags as YAML;
    no spaces, so that each pastes into a shell as one argument)."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def checkpoint_model_fields(
    checkpoint: Union[str, Path],
    config_model: ModelConfig,
    overrides: Sequence[str],
    config_name: str = "the config",
) -> Dict[str, Any]:
    """The model fields :func:`~pmgsam.modeling.build.load_pretrained` gets when a checkpoint
    is run with a config.

    The checkpoint defines the model. ``model.*`` overrides are passed on, so one that changes
    the architecture is an error; the config's frozen-branch files replace the checkpoint's
    only where it was trained on such a file (they moved). What else of the config's ``model``
    section differs is not used, and a warning names it.
    """
    stored = read_model_config(resolve_weights(checkpoint))
    explicit = [o for o in overrides if o.split("=", 1)[0].strip().startswith("model.")]
    fields: Dict[str, Any] = apply_overrides({}, explicit).get("model", {})
    unused = [d for d in architecture_diff(stored, config_model) if d.split(":")[0] not in fields]
    for name in ("hiera_checkpoint", "u2net_checkpoint"):
        path = getattr(config_model, name)
        if name in fields or not path:
            continue
        if getattr(stored, name):
            fields[name] = path
        else:
            unused.append(f"{name}: null != {path}")
    if unused:
        logger.warning(
            "%s describes another model than checkpoint '%s'; the checkpoint's is used "
            "(checkpoint vs config: %s)",
            config_name,
            checkpoint,
            "; ".join(unused),
        )
    return fields
