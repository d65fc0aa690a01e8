"""Builders of PMG-SAM models (``create_model``-style), from a name of the registry
(:mod:`pmgsam.modeling.registry`, whose ``MODEL_REGISTRY`` and ``list_models`` are also here), a
config or a checkpoint."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any, Callable, List, Mapping, Union

import torch

from pmgsam.modeling.checkpoint import (
    load_model_weights,
    read_frozen_digests,
    read_model_config,
    resolve_weights,
)
from pmgsam.modeling.checkpoint_rounding import rounded_to
from pmgsam.modeling.config import ModelConfig
from pmgsam.modeling.pmgsam import PMGSAM
from pmgsam.modeling.registry import MODEL_REGISTRY, list_models
from pmgsam.modeling.weights import CheckpointError, load_sam_into_decoder, load_u2net_checkpoint
from pmgsam.utils.config import ConfigError, from_dict, to_dict
from pmgsam.utils.config_files import did_you_mean

logger = logging.getLogger(__name__)


def model_config(name_or_config: Union[str, ModelConfig, dict], **overrides: Any) -> ModelConfig:
    """The :class:`ModelConfig` of a registry name, a config or a plain dict, with overrides.

    Arguments:
      name_or_config (str, ModelConfig or dict): a name of :func:`list_models` (e.g.
        ``pmgsam_hiera_b+``), a config, or a dict of :class:`ModelConfig` fields (those
        missing keep their defaults).
      **overrides: :class:`ModelConfig` fields that replace the config's; an unknown one is
        refused (:class:`ConfigError`).
    """
    if isinstance(name_or_config, str):
        if name_or_config not in MODEL_REGISTRY:
            raise ValueError(
                f"unknown model {name_or_config!r}{_weights_hint(name_or_config)}; "
                f"{did_you_mean(name_or_config, list_models())}available: {list_models()}"
            )
        base = to_dict(MODEL_REGISTRY[name_or_config]())
    elif isinstance(name_or_config, ModelConfig):
        base = to_dict(name_or_config)
    elif isinstance(name_or_config, dict):
        base = dict(name_or_config)
    else:
        raise TypeError(
            f"expected a model name, ModelConfig or dict, got {type(name_or_config)}"
            f"{_weights_hint(name_or_config)}"
        )
    known = {f.name for f in dataclasses.fields(ModelConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        hints = "".join(
            f"{key!r}: {_NOT_FIELDS[key]}; "
            if key in _NOT_FIELDS
            else did_you_mean(key, known, key)
            for key in unknown
        )
        raise ConfigError(f"unknown model config key(s) {unknown}; {hints}known: {sorted(known)}")
    base.update(overrides)
    return from_dict(ModelConfig, base, prefix="model")


# Keywords other model builders take (timm, from_pretrained) that are no ModelConfig field.
_MOVE_AFTER = "the model is built on the CPU in float32: move or convert it after, e.g. "
_NOT_FIELDS = {
    "device": f"{_MOVE_AFTER}model.to('cuda') (Predictor(model, device=...) moves it too)",
    "dtype": f"{_MOVE_AFTER}model.to(torch.bfloat16)",
    "pretrained": "the files named by hiera_checkpoint / u2net_checkpoint are loaded, and "
    "pmgsam.load_pretrained(PATH) loads a PMG-SAM checkpoint",
    "checkpoint": "pmgsam.load_pretrained(PATH) loads a PMG-SAM checkpoint",
}


def _weights_hint(given: Any) -> str:
    """Where a weights file was given for a model name: load_pretrained reads those."""
    if isinstance(given, (str, Path)) and (
        Path(given).suffix.lower() in (".safetensors", ".pth", ".pt") or Path(given).exists()
    ):
        return " (a PMG-SAM checkpoint file or run folder loads with pmgsam.load_pretrained)"
    return ""


# Where each branch file comes from, said in the messages themselves: weights/README.md, with
# the full table, is in the source release only, not in what pip installs.
def branch_file_source(config: ModelConfig, field: str) -> str:
    """What the file of ``field`` (``hiera_checkpoint``, ``u2net_checkpoint``,
    ``sam_checkpoint``) must be for ``config``, and where to get it."""
    if field == "hiera_checkpoint":
        return (
            f"hiera-transformer's MAE ImageNet-1K Hiera-{config.hiera} file, "
            f"https://dl.fbaipublicfiles.com/hiera/mae_hiera_{config.hiera}_224.pth"
        )
    if field == "u2net_checkpoint":
        return (
            f"the official {config.u2net}.pth of github.com/xuebinqin/U-2-Net (its README "
            f"links saved_models/{config.u2net}/{config.u2net}.pth)"
        )
    return (
        "a segment-anything checkpoint, e.g. "
        "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth"
    )


def _refuse_missing_branch_files(config: ModelConfig, trained_on: Path | None = None) -> None:
    """Name the config field of a pretrained file that is not there: the paper configs give
    ``weights/...`` paths, read from the current folder, which a new user may not have filled
    (or runs from elsewhere). ``trained_on``: the PMG-SAM checkpoint whose recorded branch
    files these are (then only their new location helps: another file, or none, is refused)."""
    for field in ("hiera_checkpoint", "u2net_checkpoint", "sam_checkpoint"):
        path = getattr(config, field)
        if not path or Path(path).exists():
            continue
        where = "" if Path(path).is_absolute() else f", read from the current folder '{Path.cwd()}'"
        if trained_on is not None:
            raise CheckpointError(
                f"checkpoint '{trained_on}' was trained on the "
                f"{FROZEN_CHECKPOINT_FIELDS.get(field, field)} weights '{path}', which do not "
                f"exist{where}: give where that file is now with model.{field}=PATH"
            )
        without = (
            "a decoder trained from its random init"
            if field == "sam_checkpoint"
            else "a fixed-seed random branch (tests and demos only)"
        )
        raise CheckpointError(
            f"model.{field}: checkpoint file '{path}' does not exist{where}; it should be "
            f"{branch_file_source(config, field)}. Put it there, give its path with "
            f"model.{field}=PATH, or model.{field}=null for {without} (weights/README.md of "
            "the source release lists every file)"
        )


def build_model(name_or_config: Union[str, ModelConfig, dict], **overrides: Any) -> PMGSAM:
    """Build a PMG-SAM model and load the pretrained files its config names (Hiera, U²-Net,
    and SAM's decoder into the guided mask decoder); a frozen branch (Hiera, U²-Net) without
    a file keeps a fixed-seed random init, with a warning.

    Arguments:
      name_or_config (str, ModelConfig or dict): a name of :func:`list_models`, a config or a
        dict of :class:`ModelConfig` fields (as :func:`model_config` takes it).
      **overrides: :class:`ModelConfig` fields, e.g. ``build_model("pmgsam_tiny",
        image_size=128)``.

    Under ``with torch.device("meta")`` it builds the model without weights' values (to count
    parameters) and reads no file.
    """
    config = model_config(name_or_config, **overrides)
    if torch.empty(0).device.type == "meta":
        # Under `with torch.device("meta")` (counting parameters without allocating them) the
        # weights hold no values: the files are neither needed nor read.
        return PMGSAM(config)
    _refuse_missing_branch_files(config)
    model = PMGSAM(config)
    if config.hiera_checkpoint:
        report = model.hiera.load_checkpoint(config.hiera_checkpoint)
        logger.info(
            "Hiera weights from %s (%d MAE/classifier keys not used)",
            config.hiera_checkpoint,
            len(report["ignored"]),
        )
    if config.u2net_checkpoint:
        load_u2net_checkpoint(model.u2net, config.u2net_checkpoint)
        logger.info("U²-Net weights from %s", config.u2net_checkpoint)
    random_branches = [field for field in FROZEN_CHECKPOINT_FIELDS if not getattr(config, field)]
    if random_branches:
        logger.warning(
            "%s branch(es) have no pretrained checkpoint and keep a fixed-seed random init: "
            "fine for tests and the demo, meaningless for real results. Give %s",
            " and ".join(FROZEN_CHECKPOINT_FIELDS[field] for field in random_branches),
            "; ".join(
                f"model.{field}: {branch_file_source(config, field)}" for field in random_branches
            ),
        )
    if config.sam_checkpoint:
        report = load_sam_into_decoder(model.decoder, config.sam_checkpoint)
        # Tensors left at their random init where SAM's have other shapes: worth a warning.
        level = logging.WARNING if report["shape_mismatch"] else logging.INFO
        logger.log(
            level,
            "decoder initialised from SAM %s: %d tensors taken (%s); %d shape mismatches (%s); "
            "%d without a SAM counterpart; %d SAM decoder tensors unused (%s)",
            config.sam_checkpoint,
            len(report["loaded"]),
            ", ".join(report["loaded"]),
            len(report["shape_mismatch"]),
            ", ".join(report["shape_mismatch"]) or "none",
            len(report["not_in_sam"]),
            len(report["unused"]),
            ", ".join(report["unused"]) or "none",
        )
    return model


def load_pretrained(path: Union[str, Path], **overrides: Any) -> PMGSAM:
    """Build the model described by a PMG-SAM checkpoint and load its trainable weights.

    Arguments:
      path (str or Path): a ``.safetensors`` file, a checkpoint folder or a training run
        folder (its ``best`` weights).
      **overrides: may only change where frozen weights come from (``hiera_checkpoint``,
        ``u2net_checkpoint``: another path for the file it was trained on, not a file where
        it was trained on a random branch, nor the reverse); architecture changes are
        refused by :func:`load_model_weights`.
    """
    path = resolve_weights(path)
    config = read_model_config(path)
    _check_frozen_sources(path, config, overrides)
    moved = {k: v for k, v in overrides.items() if k in FROZEN_CHECKPOINT_FIELDS}
    _refuse_missing_branch_files(dataclasses.replace(config, sam_checkpoint=None, **moved), path)
    model = build_model(config, **{"sam_checkpoint": None, **overrides})
    load_model_weights(model, path)
    _check_frozen_weights(path, model)
    return model


FROZEN_CHECKPOINT_FIELDS = {"hiera_checkpoint": "Hiera", "u2net_checkpoint": "U²-Net"}


def _check_frozen_sources(path: Path, config: ModelConfig, overrides: Mapping[str, Any]) -> None:
    """Refuse a new frozen-branch file where the checkpoint was trained on a random branch, or
    a random branch where it was trained on a file: either gives another model than was trained.
    Another path for a trained-on file is allowed (the weights moved)."""
    for field, branch in FROZEN_CHECKPOINT_FIELDS.items():
        if field not in overrides:
            continue
        stored, given = getattr(config, field), overrides[field]
        if not stored and given:
            raise CheckpointError(
                f"checkpoint '{path}' was trained on a fixed-seed random {branch} branch "
                f"({field}: null); loading '{given}' into it gives another model: leave "
                f"{field} unset"
            )
        if stored and not given:
            raise CheckpointError(
                f"checkpoint '{path}' was trained on the {branch} weights '{stored}'; "
                f"{field}=null would put a random branch in their place: give that file's "
                "location instead"
            )


def _check_frozen_weights(path: Path, model: PMGSAM) -> None:
    """Refuse frozen-branch files whose weights are not those the checkpoint was trained on
    (another Hiera variant, MAE instead of fine-tuned weights): the trained parts would read
    other features than they learned on, and the maps would be silently wrong.

    A fixed-seed random branch (a demo or test model) that this build does not reproduce (a
    torch or hiera-transformer release that initialises otherwise) gets a warning, not an
    error: no file can restore it, and the checkpoint still loads as it would have before."""
    for field in other_frozen_weights(path, lambda name: model.frozen_digest((name,))):
        branch = FROZEN_CHECKPOINT_FIELDS[field]
        source = getattr(model.config, field)
        name = field.split("_")[0]
        rounding = rounded_to(model, name, read_frozen_digests(path)[name])
        if rounding is not None:  # the right weights, recorded rounded by an older save_model
            logger.warning(
                "checkpoint '%s' records its %s branch (%s) rounded to %s: it was saved from "
                "a model converted to %s and back (model.half().float()) by a pmgsam before "
                "save_model refused that. Loaded unrounded, as its %s rebuilds it, so its maps "
                "differ slightly from those of the model saved; save_model(load_pretrained("
                "path), new_path) writes a copy that loads without this warning",
                path,
                branch,
                f"the weights in '{source}'" if source else "fixed-seed random",
                rounding,
                rounding,
                "file" if source else "seed",
            )
            continue
        if not source:
            logger.warning(
                "checkpoint '%s' was trained on a fixed-seed random %s branch that this "
                "torch / hiera-transformer build initialises differently (its SHA-256 "
                "differs): its maps will differ from those of its training",
                path,
                branch,
            )
            continue
        raise CheckpointError(
            f"the {branch} weights in '{source}' are not those checkpoint '{path}' was "
            f"trained on (their SHA-256 differs): give {field} the file it was trained on"
        )


def other_frozen_weights(path: Path, digest_of: Callable[[str], str]) -> List[str]:
    """The frozen-branch fields (``hiera_checkpoint``, ...) whose weights differ from those the
    checkpoint ``path`` records. ``digest_of(branch)``: the SHA-256 of the model's branch
    (``hiera``, ``u2net``), asked only where the checkpoint records one (one written before
    the digests were recorded is checked for nothing)."""
    recorded = read_frozen_digests(path)
    changed = []
    for field in FROZEN_CHECKPOINT_FIELDS:
        name = field.split("_")[0]  # hiera_checkpoint -> hiera
        if name in recorded and digest_of(name) != recorded[name]:
            changed.append(field)
    return changed


def warn_other_frozen_weights(
    path: Path, config: ModelConfig, digest_of: Callable[[str], str]
) -> None:
    """Warn, for ``train.init_from``, about each frozen branch whose weights differ from those
    the checkpoint ``path`` was trained on. Training may mean it (a new Hiera file, a demo
    model's weights as a start), so it goes on, but its trainable parts start from features
    they never saw: not the fine-tune of that checkpoint that the config seems to describe."""
    stored = read_model_config(path)

    def described(source: Any) -> str:
        return f"the weights in '{source}'" if source else "a fixed-seed random branch"

    for field in other_frozen_weights(path, digest_of):
        branch, trained_on = FROZEN_CHECKPOINT_FIELDS[field], getattr(stored, field)
        fix = (
            f"model.{field}=null" if not trained_on else f"model.{field} the file it was trained on"
        )
        logger.warning(
            "train.init_from '%s' was trained on %s as its %s branch; this run's, %s, differs "
            "(SHA-256), so its trained parts start from features they were not trained on. To "
            "fine-tune it, give %s (unless another %s branch is meant)",
            path,
            described(trained_on),
            branch,
            described(getattr(config, field)),
            fix,
            branch,
        )
