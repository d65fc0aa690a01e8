"""Reading foreign checkpoints and remapping them onto PMG-SAM modules, in one place.

Nothing here drops a tensor silently: every key that is not loaded is either on an explicit
ignore list or reported back to the caller.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

# Re-exported: callers import CheckpointError and the readers from here.
from pmgsam.modeling.checkpoint_files import (  # noqa: F401
    CHECKPOINT_SLOTS,
    NOT_A_BRANCH,
    CheckpointError,
    CheckpointKind,
    identify_checkpoint,
    read_torch_checkpoint,
    safe_torch_load,
    u2net_variant,
)
from pmgsam.utils.messages import preview


def check_state_dict(
    expected: Mapping[str, torch.Tensor],
    given: Mapping[str, torch.Tensor],
    source: str,
    hint: str = "",
) -> None:
    """Raise :class:`CheckpointError` listing missing, unexpected, non-tensor and mis-shaped
    keys, then ``hint`` (what to do about them), if any."""
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    common = sorted(set(expected) & set(given))
    # A list or number under a weight's key would otherwise stop here with an AttributeError
    # that names neither the file nor the key.
    not_tensors = [
        f"{k} ({type(given[k]).__name__})" for k in common if not torch.is_tensor(given[k])
    ]
    shapes = [
        f"{k}: checkpoint {tuple(given[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in common
        if torch.is_tensor(given[k]) and tuple(given[k].shape) != tuple(expected[k].shape)
    ]
    problems = []
    for title, items in (
        ("missing keys", missing),
        ("unexpected keys", unexpected),
        ("values that are not tensors", not_tensors),
        ("shape mismatches", shapes),
    ):
        if items:
            problems.append(f"{title} ({len(items)}): {preview(items)}")
    if problems:
        raise CheckpointError(
            f"checkpoint '{source}' does not fit the model; "
            + "; ".join(problems + ([hint] if hint else []))
        )


def interpolate_pos_embed(pos_embed: torch.Tensor, grid: Tuple[int, int]) -> torch.Tensor:
    """Resize a (1, h·w, C) raster-order position embedding to ``grid`` bicubically.

    Plain bicubic without antialiasing, as MAE's and SAM2's resampling (timm's
    ``resample_abs_pos_embed`` with ``antialias=False``). The stored grid is assumed square
    (hiera-transformer's image models are trained at 224).
    """
    if pos_embed.dim() != 3:  # SAM2's Hiera keeps a (1, C, h, w) windowed embedding
        raise CheckpointError(
            f"pos_embed of shape {tuple(pos_embed.shape)} is not hiera-transformer's (1, tokens, "
            "C): a SAM2 image encoder's Hiera? The Hiera branch takes hiera-transformer's "
            "MAE / ImageNet checkpoints (e.g. "
            "https://dl.fbaipublicfiles.com/hiera/mae_hiera_base_plus_224.pth)"
        )
    n, c = pos_embed.shape[1], pos_embed.shape[2]
    side = int(round(n**0.5))
    if side * side != n:
        raise CheckpointError(f"pos_embed with {n} tokens is not a square grid")
    if (side, side) == tuple(grid):
        return pos_embed
    pe = pos_embed.reshape(1, side, side, c).permute(0, 3, 1, 2).float()
    pe = F.interpolate(pe, size=tuple(grid), mode="bicubic", align_corners=False)
    return pe.permute(0, 2, 3, 1).reshape(1, grid[0] * grid[1], c).to(pos_embed.dtype)


# Keys of hiera-transformer checkpoints that the encoder-only Hiera branch does not use: the MAE
# decoder and fusion heads of ``mae_in1k`` checkpoints, and the classification norm/head of
# ``mae_in1k_ft_in1k`` ones. Anything else missing or unexpected is an error.
HIERA_IGNORED_PREFIXES = (
    "norm.",
    "head.",
    "encoder_norm.",
    "mask_token",
    "decoder_",
    "multi_scale_fusion_heads.",
)


def hiera_checkpoint_filter(state: Mapping[str, torch.Tensor], trunk: nn.Module) -> Dict:
    """Adapt a 224-pixel hiera-transformer state dict to ``trunk``'s input size."""
    state = dict(state)
    if "pos_embed" in state and hasattr(trunk, "pos_embed"):
        grid = tuple(trunk.tokens_spatial_shape)
        state["pos_embed"] = interpolate_pos_embed(state["pos_embed"], grid)
    return state


def load_hiera_checkpoint(
    trunk: nn.Module, path: str | Path, variants: Optional[Mapping[str, Tuple[int, int]]] = None
) -> Dict[str, List[str]]:
    """Load a hiera-transformer checkpoint (``model_state``) into a ``hiera.Hiera`` trunk.

    The position embedding is resampled to the trunk's token grid; keys under
    :data:`HIERA_IGNORED_PREFIXES` are skipped and returned as ``{"ignored": [...]}``; any
    other missing, unexpected or mis-shaped key raises :class:`CheckpointError`.

    Arguments:
      trunk (nn.Module): the ``hiera.Hiera`` trunk to load into (strictly).
      path (str or Path): the hiera-transformer checkpoint file.
      variants (dict, optional): ``{name: (embed dim, blocks)}`` of the known Hiera variants;
        when the file's matches another one than the trunk's, the error names it
        (``model.hiera: <name>``).
    """
    state = read_torch_checkpoint(path, key="model_state", slot="hiera")
    state = hiera_checkpoint_filter(state, trunk)
    ignored = [k for k in state if k.startswith(HIERA_IGNORED_PREFIXES)]
    state = {k: v for k, v in state.items() if k not in ignored}
    found = _hiera_variant(state, variants or {})
    own = trunk.state_dict()
    hint = ""
    if found and found != _hiera_variant(own, variants or {}):
        hint = f"the file holds Hiera {found} weights: set model.hiera: {found}"
    check_state_dict(own, state, source=str(path), hint=hint)
    trunk.load_state_dict(state, strict=True)
    return {"ignored": ignored}


def _hiera_variant(
    state: Mapping[str, torch.Tensor], variants: Mapping[str, Tuple[int, int]]
) -> Optional[str]:
    """The variant whose (embed dim, number of blocks) a Hiera state dict has, if one does."""
    proj = state.get("patch_embed.proj.weight")
    blocks = {int(k.split(".")[1]) for k in state if k.startswith("blocks.")}
    if proj is None or not blocks:
        return None
    shape = (int(proj.shape[0]), max(blocks) + 1)
    return next((name for name, spec in variants.items() if tuple(spec) == shape), None)


def load_u2net_checkpoint(model: nn.Module, path: str | Path) -> nn.Module:
    """Load an official-layout U²-Net ``.pth`` into ``model`` strictly; return ``model``.

    Arguments:
      model (nn.Module): the U²-Net (or U²-Netp) to load into.
      path (str or Path): the official checkpoint file (``u2net.pth`` or ``u2netp.pth``).

    A state dict wrapped as training code saves it (``{"state_dict": ...}``,
    ``{"model": ...}``) is read from its wrapper, and a leading ``module.`` (from
    ``nn.DataParallel``) is stripped from every key, each said in a log line
    (:func:`~pmgsam.modeling.checkpoint_files.read_torch_checkpoint`). Keys and
    shapes are compared before loading, and any missing key, unexpected key or shape
    mismatch raises :class:`CheckpointError` (a ``ValueError``) naming the file, so no weight
    is ever silently dropped. The only tolerated gap is a missing BatchNorm
    ``num_batches_tracked`` counter (absent in checkpoints saved before PyTorch 0.4.1); it is
    filled with 0, exactly as PyTorch does for such legacy checkpoints, and it has no effect on
    eval-mode outputs.
    """
    state = read_torch_checkpoint(path, slot="u2net")
    expected = model.state_dict()
    for key, value in expected.items():
        if key.endswith(".num_batches_tracked") and key not in state:
            state[key] = torch.zeros_like(value)
    found, own = (u2net_variant(s) for s in (state, expected))
    hint = (
        f"the file holds {found} weights: set model.u2net: {found}"
        if found and found != own
        else ""
    )
    check_state_dict(expected, state, source=str(path), hint=hint)
    model.load_state_dict(state, strict=True)
    return model


def sam_decoder_filter(sam_state: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Rename a segment-anything checkpoint's mask decoder keys to PMG-SAM decoder keys.

    The decoder transformer keeps segment-anything's names, so most keys only lose their
    ``mask_decoder.`` prefix. The first SAM mask token becomes our output token and the first
    hypernetwork MLP our single one. IoU head, IoU token and the image/prompt encoders have no
    counterpart and are not returned.
    """
    out: Dict[str, torch.Tensor] = {}
    for key, value in sam_state.items():
        if key.startswith("mask_decoder.transformer."):
            out[key[len("mask_decoder.") :]] = value
        elif key.startswith("mask_decoder.output_upscaling."):
            out[key[len("mask_decoder.") :]] = value
        elif key.startswith("mask_decoder.output_hypernetworks_mlps.0."):
            rest = key[len("mask_decoder.output_hypernetworks_mlps.0.") :]
            out[f"output_hypernetwork_mlp.{rest}"] = value
        elif key == "mask_decoder.mask_tokens.weight":
            out["output_token.weight"] = value[:1]
        elif key == "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix":
            out["pe_layer.positional_encoding_gaussian_matrix"] = value
    return out


def load_sam_into_decoder(decoder: torch.nn.Module, path: str | Path) -> Dict[str, List[str]]:
    """Initialise ``decoder`` from a SAM checkpoint where names and shapes agree.

    Arguments:
      decoder (nn.Module): PMG-SAM's guided mask decoder (its transformer, output token,
        upscaling, hypernetwork MLP and positional encoding take SAM's tensors, renamed by
        :func:`sam_decoder_filter`).
      path (str or Path): a segment-anything checkpoint (``sam_vit_*.pth``).

    Returns ``{"loaded": [...], "shape_mismatch": [...], "not_in_sam": [...], "unused": [...]}``
    (decoder keys; ``unused``: SAM decoder tensors with no counterpart here, e.g. its second
    block's when ``decoder_depth`` is 1) so the caller can report exactly what was taken.
    """
    sam_state = read_torch_checkpoint(path, slot="sam")
    if not any(k.startswith("mask_decoder.") for k in sam_state):
        raise CheckpointError(f"'{path}' is not a segment-anything checkpoint (no mask_decoder.*)")
    candidates = sam_decoder_filter(sam_state)
    own = decoder.state_dict()
    loaded, mismatch, unused = [], [], []
    for key, value in candidates.items():
        if key not in own:
            unused.append(key)
            continue
        if tuple(own[key].shape) == tuple(value.shape):
            own[key] = value.to(own[key].dtype)
            loaded.append(key)
        else:
            mismatch.append(f"{key} (sam {tuple(value.shape)} vs ours {tuple(own[key].shape)})")
    if not loaded:
        example = f", e.g. {mismatch[0]}" if mismatch else ""
        raise CheckpointError(
            f"'{path}': none of SAM's mask-decoder tensors fits this decoder ({len(mismatch)} "
            f"of other shapes{example}); a variant narrower than SAM cannot start from it: "
            "leave model.sam_checkpoint unset"
        )
    decoder.load_state_dict(own, strict=True)
    not_in_sam = sorted(set(own) - set(loaded) - {m.split(" ")[0] for m in mismatch})
    return {
        "loaded": sorted(loaded),
        "shape_mismatch": mismatch,
        "not_in_sam": not_in_sam,
        "unused": sorted(unused),
    }
