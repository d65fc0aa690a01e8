"""SAM ViT-B/L/H (segment-anything): strict loading, point/box predictor, automatic generator."""

from __future__ import annotations

from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, Dict, Iterator, Mapping, Optional

import torch
from segment_anything import SamAutomaticMaskGenerator, SamPredictor
from segment_anything.modeling import (
    ImageEncoderViT,
    MaskDecoder,
    PromptEncoder,
    Sam,
    TwoWayTransformer,
)

from pmgsam.baselines.settings import MODEL_TYPES
from pmgsam.modeling.weights import check_state_dict, read_torch_checkpoint

# (embed dim, depth, heads, global-attention blocks) of segment-anything's build_sam_vit_*.
_ENCODERS = {
    "vit_b": (768, 12, 12, (2, 5, 8, 11)),
    "vit_l": (1024, 24, 16, (5, 11, 17, 23)),
    "vit_h": (1280, 32, 16, (7, 15, 23, 31)),
}
RELEASED_IMAGE_SIZE = 1024
PATCH = 16  # pixels per ViT patch side: the position embedding holds (side / PATCH)^2 tokens


def label(model_type: str) -> str:
    return f"SAM ViT-{model_type[-1].upper()}"


def build(model_type: str, image_size: int = RELEASED_IMAGE_SIZE) -> Sam:
    """segment-anything's ``_build_sam`` with the input side as a parameter (random weights).

    The released checkpoints are 1024; a smaller side gives a cheap model for CPU tests (its
    position embedding has a different shape, so it only loads checkpoints saved at that side).
    """
    if model_type not in MODEL_TYPES["sam"]:
        raise ValueError(f"SAM model type must be one of {MODEL_TYPES['sam']}, got {model_type!r}")
    dim, depth, heads, global_blocks = _ENCODERS[model_type]
    prompt_dim, grid = 256, image_size // PATCH
    return Sam(
        image_encoder=ImageEncoderViT(
            depth=depth,
            embed_dim=dim,
            img_size=image_size,
            mlp_ratio=4,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            num_heads=heads,
            patch_size=PATCH,
            qkv_bias=True,
            use_rel_pos=True,
            global_attn_indexes=global_blocks,
            window_size=14,
            out_chans=prompt_dim,
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=prompt_dim,
            image_embedding_size=(grid, grid),
            input_image_size=(image_size, image_size),
            mask_in_chans=16,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(
                depth=2, embedding_dim=prompt_dim, mlp_dim=2048, num_heads=8
            ),
            transformer_dim=prompt_dim,
            iou_head_depth=3,
            iou_head_hidden_dim=256,
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    ).eval()


@contextmanager
def parameters_on_meta() -> Iterator[None]:
    """Modules built inside get every parameter on the meta device, so their random
    initialisation costs nothing (seconds for ViT-H); buffers, and tensors ``__init__`` computes
    (SAM's ``pixel_mean``/``pixel_std``), stay real as in a normal build. Fill the parameters with
    :func:`assign_state`. Not thread-safe: it patches ``torch.nn.Module.register_parameter``
    while it lasts (a meta *device* context instead stops SAM2's Hiera, which calls ``.item()``
    in its ``__init__``, and would leave any buffer a factory call makes there without values)."""
    register = torch.nn.Module.register_parameter

    def register_on_meta(module, name, param):
        if param is not None:
            param = torch.nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)
        register(module, name, param)

    torch.nn.Module.register_parameter = register_on_meta
    try:
        yield
    finally:
        torch.nn.Module.register_parameter = register


def assign_state(model: torch.nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """``load_state_dict(strict=True)`` into a model built under :func:`parameters_on_meta`, taking
    the checkpoint's tensors as the parameters (no copy) with what a copying load gives: the
    model's dtype (a float16 file loads as float32), contiguous memory, one storage per tensor,
    the model's ``requires_grad``. Run :func:`~pmgsam.modeling.weights.check_state_dict` first."""
    expected = model.state_dict()
    taken: set = set()
    own: Dict[str, torch.Tensor] = {}
    for key, value in state.items():
        value = value.to(expected[key].dtype).contiguous()
        if value.untyped_storage().data_ptr() in taken:  # tied in the file: untie as a copy does
            value = value.clone()
        taken.add(value.untyped_storage().data_ptr())
        own[key] = value
    model.load_state_dict(own, strict=True, assign=True)
    left = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if left:  # a tensor of the model that neither the checkpoint nor __init__ gave values
        raise RuntimeError(f"{type(model).__name__} tensors left without values: {left}")


def side_hint(expected: Mapping[str, torch.Tensor], given: Mapping[str, torch.Tensor]) -> str:
    """``--model-image-size`` with the side a checkpoint was saved at, where its position
    embedding differs from the model's in the grid only (else ""): the mismatches alone list
    the relative-position tables first and may leave pos_embed out."""
    key = "image_encoder.pos_embed"
    own, saved = expected.get(key), given.get(key)
    if own is None or saved is None or saved.dim() != 4 or saved.shape == own.shape:
        return ""
    grid = tuple(saved.shape[1:3])
    if grid[0] != grid[1] or saved.shape[3] != own.shape[3]:  # another model type, not side
        return ""
    side = grid[0] * PATCH
    return (
        f"its {key} is a {grid[0]}x{grid[1]} grid of {PATCH}-pixel patches, so it was saved "
        f"for a {side}-pixel input, not {own.shape[1] * PATCH}: pass --model-image-size {side}"
    )


def model_type_hint(expected: Mapping[str, torch.Tensor], given: Mapping[str, torch.Tensor]) -> str:
    """``--model-type`` of the image encoder a checkpoint holds (its width and block count), where
    that is another model type than the model's (else ""): a ViT-B file given as ViT-H fails on
    hundreds of keys, none of which names the cause."""
    key = "image_encoder.patch_embed.proj.weight"
    own, saved = expected.get(key), given.get(key)
    if own is None or saved is None or saved.dim() != 4 or saved.shape[0] == own.shape[0]:
        return ""
    blocks = {int(k.split(".")[2]) for k in given if k.startswith("image_encoder.blocks.")}
    shape = (saved.shape[0], len(blocks))
    for model_type, (width, depth, _, _) in _ENCODERS.items():
        if (width, depth) == shape:
            return (
                f"it holds a {label(model_type)} image encoder (width {width}, {depth} blocks): "
                f"pass --model-type {model_type}"
            )
    return ""


def load(
    model_type: str,
    checkpoint: str | Path,
    device: Any = "cpu",
    image_size: Optional[int] = None,
) -> Sam:
    """A SAM from a plain state-dict file, strictly, in eval mode.

    Raises :class:`~pmgsam.modeling.checkpoint_files.CheckpointError` naming the file and its
    missing, unexpected or mis-shaped keys.
    """
    with parameters_on_meta():  # every parameter comes from the checkpoint
        sam = build(model_type, image_size or RELEASED_IMAGE_SIZE)
    state = read_torch_checkpoint(checkpoint)
    expected = sam.state_dict()
    hint = side_hint(expected, state) or model_type_hint(expected, state)
    check_state_dict(expected, state, str(checkpoint), hint)
    assign_state(sam, state)
    return sam.to(device).eval()


def predictor(model: Sam) -> SamPredictor:
    return SamPredictor(model)


def generator(model: Sam, settings: Mapping[str, Any]) -> SamAutomaticMaskGenerator:
    return SamAutomaticMaskGenerator(model, output_mode="binary_mask", **settings)
