"""A plain ViT is not taken for a Hiera: both have ``patch_embed.proj`` and ``blocks.*``, but
only a Hiera's stage-opening blocks project to a new width (``blocks.<i>.proj``), and only a
ViT has a class token. The state dicts are made by the reference packages themselves (timm's
ViT, DeiT, EVA-02, DINOv2 and Hiera; hiera-transformer's Hiera), on the meta device or narrow,
so nothing large is built."""

from __future__ import annotations

from pathlib import Path
from typing import Dict

import pytest
import torch

from pmgsam.modeling.checkpoint_files import identify_checkpoint
from pmgsam.modeling.weights import CheckpointError, load_hiera_checkpoint

timm = pytest.importorskip("timm")
hiera = pytest.importorskip("hiera")

VIT = "ViT checkpoint (a plain vision transformer, such as timm's ViT or DeiT)"
# Hiera-T's stages (1, 2, 7, 2) at width 8: its key layout, few weights.
NARROW_TINY = dict(embed_dim=8, num_heads=1, stages=(1, 2, 7, 2))


def _timm_keys(name: str) -> Dict[str, torch.Tensor]:
    with torch.device("meta"):
        return timm.create_model(name, pretrained=False).state_dict()


@pytest.mark.parametrize(
    "name",
    [
        "vit_tiny_patch16_224",
        "deit_tiny_patch16_224",
        "deit_tiny_distilled_patch16_224",
        "eva02_tiny_patch14_224",
        "vit_small_patch14_dinov2",
    ],
)
def test_a_timm_vit_is_named_a_vit(name: str) -> None:
    # Before: "Hiera checkpoint (hiera-transformer, classifier)", sent to model.hiera_checkpoint.
    found = identify_checkpoint(_timm_keys(name))
    assert found is not None and (found.slot, found.label) == ("vit", VIT)


def test_each_hiera_is_still_a_hiera() -> None:
    classifier = hiera.Hiera(num_classes=3, **NARROW_TINY).state_dict()
    mae = hiera.MaskedAutoencoderHiera(
        decoder_embed_dim=8, decoder_depth=1, decoder_num_heads=1, **NARROW_TINY
    ).state_dict()
    kinds = {
        "classifier": identify_checkpoint({"model_state": classifier}),
        "mae": identify_checkpoint({"model_state": mae}),
        "timm": identify_checkpoint(_timm_keys("hiera_tiny_224")),
    }
    assert {k: (v.slot, v.label) for k, v in kinds.items()} == {
        "classifier": ("hiera", "Hiera checkpoint (hiera-transformer, classifier)"),
        "mae": ("hiera", "Hiera checkpoint (hiera-transformer, MAE)"),
        "timm": ("hiera", "Hiera checkpoint (timm)"),
    }


def _trunk() -> torch.nn.Module:
    trunk = hiera.Hiera(input_size=(64, 64), **NARROW_TINY)
    del trunk.norm, trunk.head  # as the Hiera branch holds it
    return trunk


def test_a_vit_given_as_the_hiera_checkpoint_is_named_in_the_refusal(tmp_path: Path) -> None:
    path = tmp_path / "deit.pth"
    vit = timm.models.vision_transformer.VisionTransformer(
        img_size=32, patch_size=16, embed_dim=8, depth=2, num_heads=1, num_classes=3
    )
    torch.save(vit.state_dict(), path)
    with pytest.raises(CheckpointError) as refused:
        load_hiera_checkpoint(_trunk(), path)
    message = str(refused.value)
    assert f"model.hiera_checkpoint '{path}' is a {VIT}, not a Hiera checkpoint" in message
    assert "takes no plain ViT weights" in message


def test_a_timm_hiera_file_loads_into_the_hiera_branch(tmp_path: Path) -> None:
    # Why timm's Hiera is named for model.hiera_checkpoint: its weights fit the branch.
    from timm.models.hiera import Hiera

    path = tmp_path / "timm_hiera.pth"
    torch.save(Hiera(num_classes=3, **NARROW_TINY).state_dict(), path)
    trunk = _trunk()
    loaded = load_hiera_checkpoint(trunk, path)
    assert sorted(loaded["ignored"]) == sorted(
        f"head.{k}" for k in ("fc.bias", "fc.weight", "norm.bias", "norm.weight")
    )
    blocks = torch.load(path, weights_only=True)["blocks.10.mlp.fc2.weight"]
    assert torch.equal(trunk.state_dict()["blocks.10.mlp.fc2.weight"], blocks)
