"""Reading checkpoint files safely, and knowing what they are.

:func:`safe_torch_load` never unpickles code (``weights_only``) and reads safetensors files with
their own reader; :func:`identify_checkpoint` tells from its keys which project a checkpoint
comes from, so that a file given to the wrong branch is refused in one line that says what it
is and where it goes. :mod:`pmgsam.modeling.weights` remaps what is read onto PMG-SAM modules.
"""

from __future__ import annotations

import logging
import pickle
import re
from pathlib import Path
from typing import Any, Dict, Mapping, NamedTuple, Optional

import torch

from pmgsam.utils.command_names import command_name

logger = logging.getLogger(__name__)


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, or does not fit the module it is loaded into."""


def read_torch_checkpoint(
    path: str | Path, key: Optional[str] = None, slot: Optional[str] = None
) -> Dict[str, torch.Tensor]:
    """``torch.load`` with ``weights_only=True``; unwraps ``key`` (e.g. ``model_state``) if given.

    A file whose top level holds no tensors but one of :data:`STATE_DICT_WRAPPERS` (a training
    loop's ``{"model": ..., "optimizer": ...}``, a Lightning ``{"state_dict": ...}``) is read
    from that entry, said in a log line; two of them, or none, are refused naming the file and
    its keys. A leading ``module.`` (DataParallel) prefix is stripped, said in a log line too.
    ``slot`` (a key of :data:`CHECKPOINT_SLOTS`): the kind of checkpoint expected; a file that
    :func:`identify_checkpoint` recognises as another kind is refused in one line that says
    what it is and where it goes.
    """
    path = Path(path)
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise CheckpointError(f"checkpoint file '{path}' {what}")
    obj = safe_torch_load(path)
    if slot is not None:
        _refuse_other_kind(obj, path, slot)
    if key is not None and isinstance(obj, Mapping) and key in obj:
        obj = obj[key]
    elif isinstance(obj, Mapping) and not any(torch.is_tensor(v) for v in obj.values()):
        obj = _unwrap(obj, path, key)
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"checkpoint '{path}' does not hold a state dict")
    return _without_module_prefix(obj, path)


# Keys under which training code commonly saves a model's state dict beside other entries
# (epoch, optimizer): hiera-transformer's ``model_state``, SAM2's and many training loops'
# ``model``, PyTorch Lightning's and mmcv's ``state_dict``.
STATE_DICT_WRAPPERS = ("state_dict", "model", "model_state")


def _unwrap(obj: Mapping, path: Path, key: Optional[str]) -> Mapping:
    """The state dict inside ``obj``, a mapping without tensors at its top level: the one
    :data:`STATE_DICT_WRAPPERS` entry that holds a mapping, else a :class:`CheckpointError`
    naming the file and its top-level keys."""
    found = [w for w in STATE_DICT_WRAPPERS if isinstance(obj.get(w), Mapping)]
    keys = sorted(map(str, obj))
    if len(found) > 1:
        raise CheckpointError(
            f"checkpoint '{path}' holds a state dict under each of {found}: which one is the "
            "model's is ambiguous; save the one to load as a plain state dict"
        )
    if not found:
        wanted = [key] if key is not None else []
        wanted += [w for w in STATE_DICT_WRAPPERS if w not in wanted]
        nor = " / ".join(repr(w) for w in wanted[1:])
        raise CheckpointError(
            f"checkpoint '{path}' has no '{wanted[0]}' entry (nor {nor}) and no tensors at its "
            f"top level, so it holds no state dict to load; top-level keys: {keys[:10]}"
        )
    others = [k for k in keys if k != found[0]]
    logger.info(
        "checkpoint '%s': weights read from its '%s' entry%s",
        path, found[0], f" (other entries, not weights: {others[:10]})" if others else "",
    )  # fmt: skip
    return obj[found[0]]


def _without_module_prefix(state: Mapping, path: Path) -> Dict[str, torch.Tensor]:
    """``state`` with a leading ``module.`` (nn.DataParallel's) taken off its keys; refused
    when two keys would then be one (one tensor would be lost)."""
    out = {_strip_module(k): v for k, v in state.items()}
    if len(out) < len(state):
        clash = next(k for k in state if k.startswith("module.") and k[len("module.") :] in state)
        raise CheckpointError(
            f"checkpoint '{path}' holds both '{clash}' and '{clash[len('module.') :]}': "
            "two tensors of one weight, with and without nn.DataParallel's 'module.' prefix"
        )
    if any(isinstance(k, str) and k.startswith("module.") for k in state):
        logger.info(
            "checkpoint '%s': the 'module.' prefix (nn.DataParallel) taken off its keys", path
        )
    return out


def _is_safetensors(path: str | Path) -> bool:
    """Whether ``path`` starts as a safetensors file does: an 8-byte little-endian header
    length that fits the file, then the header's JSON ``{`` (a torch zip starts ``PK``, a legacy
    pickle with byte 0x80)."""
    try:
        with open(path, "rb") as f:
            head = f.read(9)
            f.seek(0, 2)
            size = f.tell()
    except OSError:
        return False
    return len(head) == 9 and head[8:9] == b"{" and 0 < int.from_bytes(head[:8], "little") < size


def _starts_as_torch_save(path: str | Path) -> bool:
    """Whether ``path`` starts as ``torch.save`` writes: a zip (``PK``), or a legacy pickle
    (protocol 2+, byte 0x80). Any other start fails in the unpickler with an "unsupported
    operand" that says nothing of pickled objects."""
    try:
        with open(path, "rb") as f:
            head = f.read(2)
    except OSError:
        return True  # let the load's own error stand
    return head == b"PK" or head[:1] == b"\x80"


def refuse_empty(path: str | Path, what: str = "checkpoint") -> None:
    """Raise :class:`CheckpointError` for a file of 0 bytes: the readers' own errors ("header
    too small", EOFError) do not say that the file holds nothing."""
    if Path(path).is_file() and Path(path).stat().st_size == 0:
        raise CheckpointError(
            f"cannot read {what} '{path}': the file is empty (0 bytes: a save or copy that was "
            "interrupted, or a full disk?)"
        )


def safe_torch_load(path: str | Path, what: str = "checkpoint") -> Any:
    """``torch.load(weights_only=True)`` on CPU, or safetensors' reader for a safetensors file;
    failures become one :class:`CheckpointError`.

    Safetensors files are read by their own reader whatever the torch version (torch.load
    reads them only in recent releases), so a converted branch file loads, and a PMG-SAM
    ``model.safetensors`` given as a branch's file is named as such. PyTorch's refusal of a
    pickle that holds more than tensors suggests re-running with ``weights_only=False``, which
    lets the file run code: we never relay that advice.
    """
    refuse_empty(path, what)
    if _is_safetensors(path):
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except Exception as err:  # a damaged header or truncated data
            raise CheckpointError(
                f"cannot read {what} '{path}': a damaged safetensors file ({err})"
            ) from err
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if not _starts_as_torch_save(path):  # a text or HTML page read as pickle opcodes
            raise CheckpointError(
                f"cannot read {what} '{path}': not a PyTorch checkpoint, or a damaged one (it "
                "starts neither as a torch.save zip nor as a pickle; a download that saved an "
                "error page?)"
            ) from None
        found = re.search(r"Unsupported (global: GLOBAL [\w.]+|operand \d+)", str(err))
        detail = f" ({found.group(1)})" if found else ""
        raise CheckpointError(
            f"'{path}' is not a safe {what}: it holds pickled Python objects beyond tensors"
            f"{detail}, which pmgsam refuses to load because unpickling them can run code; "
            "convert it to safetensors (a plain dict of tensors) where it was made"
        ) from None
    except Exception as err:  # not a zip / pickle at all, truncated, ...
        text = str(err).strip().splitlines()[0][:120] if str(err).strip() else ""
        reason = f"{type(err).__name__}: {text}" if len(text) > 8 else type(err).__name__
        raise CheckpointError(
            f"cannot read {what} '{path}': not a PyTorch checkpoint, or a damaged one ({reason})"
        ) from err


def _strip_module(key: str) -> str:
    return key[len("module.") :] if key.startswith("module.") else key


# Width of the first RSU block's inner convolutions: what tells the two official U²-Nets apart.
U2NET_VARIANT_BY_WIDTH = {32: "u2net", 16: "u2netp"}


def u2net_variant(state: Mapping[str, torch.Tensor]) -> Optional[str]:
    """``u2net`` or ``u2netp`` from a U²-Net state dict's first block width (None if unknown)."""
    inner = state.get("stage1.rebnconv1.conv_s1.weight")
    return None if inner is None else U2NET_VARIANT_BY_WIDTH.get(int(inner.shape[0]))


class CheckpointKind(NamedTuple):
    """What :func:`identify_checkpoint` found.

    Arguments:
      slot (str): a key of :data:`CHECKPOINT_SLOTS` (the branch that takes such a file), or of
        :data:`NOT_A_BRANCH` (a file no branch takes: SAM2, PMG-SAM's own weights).
      label (str): what the file is, for messages, e.g. ``Hiera checkpoint (hiera-transformer,
        MAE)``.
    """

    slot: str
    label: str


# slot -> (the model config field that takes such a file, what the branch expects).
CHECKPOINT_SLOTS = {
    "hiera": ("model.hiera_checkpoint", "a Hiera checkpoint (hiera-transformer)"),
    "u2net": ("model.u2net_checkpoint", "a U²-Net checkpoint"),
    "sam": ("model.sam_checkpoint", "a SAM checkpoint (segment-anything)"),
}
# Where a file no branch takes belongs instead ({train}: training as where_it_goes names it).
NOT_A_BRANCH = {
    "sam2": "PMG-SAM takes no SAM2 weights (SAM2 is only a baseline, pmgsam.baselines)",
    "pmgsam": "load it with pmgsam.load_pretrained (or --checkpoint / train.init_from)",
    "pmgsam_state": "its weights are the model.safetensors beside it: load that, or the run "
    "folder, with pmgsam.load_pretrained (or --checkpoint / train.init_from; {train} --resume "
    "takes the run folder to continue the run itself)",
    "vit": "PMG-SAM takes no plain ViT weights (model.hiera_checkpoint takes a Hiera's: "
    "hiera-transformer's, or timm's hiera_* models)",
}


def identify_checkpoint(obj: Any) -> Optional[CheckpointKind]:
    """The kind of checkpoint ``obj`` (what ``torch.load`` / ``safetensors`` gave) is, from its
    keys; None if unrecognised.

    Knows hiera-transformer's Hiera (``{"model_state": ...}``, MAE or classifier) and timm's,
    the official U²-Net / U²-Net† layout, segment-anything's SAM, SAM2 (``{"model": ...}``, or
    its image encoder's Hiera trunk alone), PMG-SAM's own weights (``model.safetensors``) and
    training state (``state.pt``), and a plain ViT (timm's ViT or DeiT), which no branch takes.
    """
    if not isinstance(obj, Mapping):
        return None
    if obj.get("format") == "pmgsam-train-state":  # engine/state.py's STATE_FORMAT
        return CheckpointKind("pmgsam_state", "PMG-SAM training state (state.pt)")
    for wrapper in ("model_state", "model", "state_dict"):
        if isinstance(obj.get(wrapper), Mapping):
            return identify_checkpoint(obj[wrapper])
    keys = {_strip_module(k) for k in obj if isinstance(k, str)}
    roots = {k.split(".")[0] for k in keys}
    if "mask_decoder" in roots:
        return CheckpointKind("sam", "SAM checkpoint (segment-anything)")
    if roots & {"sam_mask_decoder", "memory_attention", "memory_encoder"}:
        return CheckpointKind("sam2", "SAM2 checkpoint (sam2)")
    if {"decoder", "neck"} <= roots:  # always trained; a parameter-free fusion leaves none
        return CheckpointKind("pmgsam", "PMG-SAM checkpoint")
    if {"stage1.rebnconvin.conv_s1.weight", "outconv.weight"} <= keys:
        variant = u2net_variant({_strip_module(k): v for k, v in obj.items()})
        name = {"u2net": "U²-Net", "u2netp": "U²-Net† (u2netp)"}.get(variant or "", "U²-Net")
        return CheckpointKind("u2net", f"{name} checkpoint")
    if "patch_embed.proj.weight" in keys and "blocks" in roots:
        return _patch_transformer_kind(keys, roots)
    return None


# A Hiera block that starts a stage projects to the stage's width (``blocks.<i>.proj``); a ViT's
# blocks keep one width and hold no such key (their ``attn.proj`` is the attention's output).
_STAGE_PROJECTION = re.compile(r"blocks\.\d+\.proj\.weight")
# Tokens only a ViT has (timm's ViT and DeiT, DINO, EVA: a class, distillation or register token).
_VIT_TOKENS = {"cls_token", "dist_token", "reg_token"}


def _patch_transformer_kind(keys: set, roots: set) -> Optional[CheckpointKind]:
    """A state dict with a patch embedding and ``blocks``: a Hiera (hiera-transformer's, timm's,
    SAM2's trunk) or a plain ViT (timm's ViT or DeiT), told apart by the keys only a Hiera has."""
    if "pos_embed_window" in keys:
        return CheckpointKind("sam2", "SAM2 image encoder's Hiera trunk (sam2)")
    mae = bool(roots & {"encoder_norm", "decoder_embed", "multi_scale_fusion_heads"})
    hiera_head = "head.projection.weight" in keys  # hiera-transformer's classifier head
    stages = any(_STAGE_PROJECTION.fullmatch(k) for k in keys)
    if not roots & _VIT_TOKENS and (mae or hiera_head or stages):
        if mae or hiera_head:
            form = "MAE" if mae else "classifier"
            return CheckpointKind("hiera", f"Hiera checkpoint (hiera-transformer, {form})")
        source = " (timm)" if "head.fc.weight" in keys else ""
        return CheckpointKind("hiera", f"Hiera checkpoint{source}")
    if roots & _VIT_TOKENS or "blocks.0.attn.qkv.weight" in keys:
        return CheckpointKind(
            "vit", "ViT checkpoint (a plain vision transformer, such as timm's ViT or DeiT)"
        )
    return None


def _refuse_other_kind(obj: Any, path: Path, slot: str) -> None:
    """Raise one :class:`CheckpointError` line if ``obj`` is a checkpoint of another kind than
    the ``slot`` it was given to."""
    found = identify_checkpoint(obj)
    if found is None or found.slot == slot:
        return
    field, expected = CHECKPOINT_SLOTS[slot]
    raise CheckpointError(
        f"{field} '{path}' is a {found.label}, not {expected}: {where_it_goes(found)}"
    )


def where_it_goes(found: CheckpointKind) -> str:
    """Where a checkpoint of ``found``'s kind is given instead: the config field of its branch,
    or what to do with a file no branch takes."""
    if found.slot in CHECKPOINT_SLOTS:
        return f"give it as {CHECKPOINT_SLOTS[found.slot][0]}"
    return NOT_A_BRANCH[found.slot].format(train=command_name("train"))


FOREIGN_FIELDS = (
    "; a SAM checkpoint goes to model.sam_checkpoint, Hiera / U²-Net ones to "
    "model.hiera_checkpoint / model.u2net_checkpoint"
)


def starts_as_safetensors(path: Path) -> bool:
    """An 8-byte header length, then the header's JSON: what safetensors files start with."""
    try:
        with open(path, "rb") as f:
            return f.read(10)[8:] in (b'{"', b"{}")
    except OSError:
        return False


def foreign_file_kind(path: Path) -> Optional[str]:
    """``a <what the file is>, not PMG-SAM weights: <where it goes>`` for a checkpoint of a
    branch (or a training state) given where PMG-SAM weights were expected, or what else a
    readable file of tensors is; None otherwise. Read only on that error path."""
    try:
        obj = safe_torch_load(path)
    except CheckpointError:
        return None
    found = identify_checkpoint(obj)
    if found is not None and found.slot == "pmgsam":
        # A trainable state dict saved with safetensors' save_file or torch.save: the weights
        # are there but not the config that says which model they fit.
        return (
            "not a PMG-SAM checkpoint: it holds PMG-SAM weights without the metadata (format, "
            "model config) that pmgsam's save_model stores beside them: save the model with "
            "pmgsam.modeling.checkpoint.save_model, or load these into a model built as they "
            "were trained with model.load_trainable_state_dict(state, source=PATH), state "
            "being its tensors"
        )
    if found is not None:
        return f"a {found.label}, not PMG-SAM weights: {where_it_goes(found)}"
    if isinstance(obj, Mapping) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        keys = ", ".join(repr(k) for k in list(obj)[:3])
        return (
            f"not a PMG-SAM checkpoint but a state dict of {len(obj)} tensors (keys such as "
            f"{keys}) of no model pmgsam knows (PMG-SAM weights are the .safetensors files "
            f"that save_model and training write){FOREIGN_FIELDS}"
        )
    return None
