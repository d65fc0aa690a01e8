"""Every ModelConfig field reaches the model it builds (timm-style sweep over the fields).

A field the build dropped would either build the default's weight shapes or, where the field
changes only the arithmetic, load a checkpoint trained with it and compute something else. Each
non-default value below must therefore change a weight shape, or, with the default model's
weights loaded, the output on a fixed input. Which arithmetic each value selects is checked
elsewhere (DESIGN / segment-anything / SAM2 references); this only proves it is not lost.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict

import pytest
import torch

from pmgsam.modeling.build import build_model, model_config
from pmgsam.modeling.config import ModelConfig

SMALL = 64
# A value other than pmgsam_tiny's for every field (its 256 px at 64, as the other model tests).
OTHER: Dict[str, Any] = {
    "image_size": 96,
    "u2net": "u2net",
    "fpn_dim": 32,
    "fpn_top_down_levels": [1, 2, 3],
    "fusion": "residual",
    "fusion_channels": [8, 8, 16, 16, 32, 16],
    "fusion_growth": [4, 8, 8, 16, 16, 8],
    "drfm_blocks": 2,
    "srb_iterations": 3,
    "residual_scale": 0.5,
    "srb_output_norm": False,
    "refiner_dim": 16,
    "patch_size": 32,
    "decoder_depth": 2,
    "decoder_heads": 2,
    "decoder_mlp_dim": 128,
    "decoder_activation": "gelu",
    "attention_downsample": 1,
    "bidirectional": False,
    "high_res": "u2net",
}
# Not swept: weights files to load (tests/test_weights*.py load each into a built model), and the
# Hiera variant, whose registry entries are built and checked against hiera-transformer.
NOT_SWEPT = {"hiera", "hiera_checkpoint", "u2net_checkpoint", "sam_checkpoint"}


def test_every_field_is_swept() -> None:
    fields = {f.name for f in dataclasses.fields(ModelConfig)}
    assert set(OTHER) | NOT_SWEPT == fields
    base = model_config("pmgsam_tiny")
    assert all(getattr(base, name) != value for name, value in OTHER.items())


@pytest.fixture(scope="module")
def reference(small_tiny_model: torch.nn.Module) -> Dict[str, Any]:
    torch.manual_seed(1)
    images = torch.rand(1, 3, SMALL, SMALL)
    model = small_tiny_model.eval()
    with torch.no_grad():
        out = model(images)
    return {"model": model, "images": images, "out": out}


@pytest.mark.parametrize("name", sorted(OTHER))
def test_a_non_default_field_changes_the_model(
    name: str, small_branches, reference: Dict[str, Any]
) -> None:
    base = reference["model"]
    size = OTHER[name] if name == "image_size" else SMALL
    changes = {"image_size": size, name: OTHER[name]} if name != "image_size" else {name: size}
    torch.manual_seed(0)
    model = build_model("pmgsam_tiny", **changes).eval()
    assert getattr(model.config, name) == OTHER[name]
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    if shapes != {k: v.shape for k, v in base.state_dict().items()}:
        return  # the field shapes the weights: a checkpoint of the other value does not load
    model.load_state_dict(base.state_dict())
    images = reference["images"]
    if size != SMALL:
        images = torch.nn.functional.interpolate(images, size=(size, size), mode="bilinear")
    with torch.no_grad():
        out = model(images)
    same = out["mask"].shape == reference["out"]["mask"].shape and torch.allclose(
        out["mask"], reference["out"]["mask"], atol=1e-6
    )
    assert not same, f"model.{name}={OTHER[name]!r} built the default model"
