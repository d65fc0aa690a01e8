"""SAM2.1 (Meta's optional ``sam2`` package): strict loading, image predictor, automatic generator.

The only module of pmgsam that imports ``sam2``; install it with ``pip install -e ".[sam2]"``
(without nvcc: ``SAM2_BUILD_CUDA=0 pip install --no-build-isolation sam2``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional

import torch

from pmgsam.baselines.settings import MODEL_TYPES
from pmgsam.utils.cli import MissingDependencyError

INSTALL_HINT = (
    "the SAM2 baselines need Meta's 'sam2' package, which is not installed: run "
    'pip install -e ".[sam2]" (on a machine without nvcc: '
    "SAM2_BUILD_CUDA=0 pip install --no-build-isolation sam2)"
)
try:
    from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator
    from sam2.build_sam import build_sam2
    from sam2.sam2_image_predictor import SAM2ImagePredictor
except ImportError as err:  # the optional extra is missing
    raise MissingDependencyError(f"{INSTALL_HINT} ({err})") from err

# SAM2.1 model type -> config inside the sam2 package.
CONFIGS = {
    "tiny": "configs/sam2.1/sam2.1_hiera_t.yaml",
    "small": "configs/sam2.1/sam2.1_hiera_s.yaml",
    "base_plus": "configs/sam2.1/sam2.1_hiera_b+.yaml",
    "large": "configs/sam2.1/sam2.1_hiera_l.yaml",
}
assert tuple(CONFIGS) == MODEL_TYPES["sam2"]
RELEASED_IMAGE_SIZE = 1024


def label(model_type: str) -> str:
    return f"SAM2.1 {model_type}"


def build(
    model_type: str, image_size: Optional[int] = None, device: str = "cpu"
) -> torch.nn.Module:
    """``build_sam2`` of a SAM2.1 config on ``device``, random weights (``image_size``: see
    sam.py); ``load`` builds on "meta" (every buffer SAM2 has is in its state dict)."""
    if model_type not in CONFIGS:
        raise ValueError(f"SAM2.1 model type must be one of {tuple(CONFIGS)}, got {model_type!r}")
    extra = [f"++model.image_size={image_size}"] if image_size else []
    return build_sam2(CONFIGS[model_type], None, device=device, hydra_overrides_extra=extra)


def load(
    model_type: str,
    checkpoint: str | Path,
    device: Any = "cpu",
    image_size: Optional[int] = None,
) -> torch.nn.Module:
    """A SAM2.1 model from a checkpoint (``{"model": state}`` as released, or a bare state dict),
    strictly, in eval mode; :class:`~pmgsam.modeling.checkpoint_files.CheckpointError` names
    bad keys."""
    from pmgsam.baselines.sam import assign_state, parameters_on_meta
    from pmgsam.modeling.weights import check_state_dict, read_torch_checkpoint

    with parameters_on_meta():  # every parameter comes from the checkpoint
        model = build(model_type, image_size, device="meta")
    state = read_torch_checkpoint(checkpoint, key="model")
    check_state_dict(model.state_dict(), state, str(checkpoint))
    assign_state(model, state)
    return model.to(device).eval()


def _follow_image_size(pred: SAM2ImagePredictor, model: torch.nn.Module) -> SAM2ImagePredictor:
    # sam2 hard-codes the backbone feature sizes of a 1024 input; follow the model's side.
    side = model.image_size
    pred._bb_feat_sizes = [(side // 4, side // 4), (side // 8, side // 8), (side // 16, side // 16)]
    return pred


def predictor(model: torch.nn.Module) -> SAM2ImagePredictor:
    return _follow_image_size(SAM2ImagePredictor(model), model)


def generator(model: torch.nn.Module, settings: Mapping[str, Any]) -> SAM2AutomaticMaskGenerator:
    gen = SAM2AutomaticMaskGenerator(model, output_mode="binary_mask", **settings)
    _follow_image_size(gen.predictor, model)
    return gen
