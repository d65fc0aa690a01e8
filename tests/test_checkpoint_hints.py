"""A checkpoint given to the wrong place says what it holds and where it goes.

Built from files the reference code lays out (the official U²-Net key layout, hiera-transformer's
own models), so the hint names what the file really is, not what this package calls it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from pmgsam.modeling.checkpoint import read_model_config
from pmgsam.modeling.image_encoder import HieraBranch
from pmgsam.modeling.u2net import build_u2net
from pmgsam.modeling.weights import CheckpointError, interpolate_pos_embed, load_u2net_checkpoint

LAYOUT = Path(__file__).parent / "fixtures" / "u2net_state_dict_layout.json"


def _official(variant: str) -> dict:
    """Zero tensors of the official ``variant``'s key layout (model/u2net.py)."""
    shapes = json.loads(LAYOUT.read_text())[variant]["state_dict"]
    return {k: torch.zeros(shape) for k, shape in shapes.items()}


@pytest.mark.parametrize("given, model", [("u2netp", "u2net"), ("u2net", "u2netp")])
def test_the_other_u2net_is_named(tmp_path, given, model) -> None:
    path = tmp_path / f"{given}.pth"
    torch.save(_official(given), path)
    with pytest.raises(CheckpointError, match=f"holds {given} weights: set model.u2net: {given}"):
        load_u2net_checkpoint(build_u2net(model), path)


def test_a_broken_file_of_the_right_u2net_gets_no_variant_hint(tmp_path) -> None:
    state = _official("u2netp")
    state["outconv.weight"] = torch.zeros(1, 6, 3, 3)  # wrong shape, right variant
    torch.save(state, tmp_path / "u2netp.pth")
    with pytest.raises(CheckpointError, match="shape mismatches") as err:
        load_u2net_checkpoint(build_u2net("u2netp"), tmp_path / "u2netp.pth")
    assert "set model.u2net" not in str(err.value)


def test_another_hiera_variant_is_named(tmp_path) -> None:
    hiera = pytest.importorskip("hiera")
    path = tmp_path / "hiera_small.pth"
    torch.save({"model_state": hiera.hiera_small_224(pretrained=False).state_dict()}, path)
    branch = HieraBranch("tiny", 224)
    with pytest.raises(CheckpointError, match="holds Hiera small weights: set model.hiera: small"):
        branch.load_checkpoint(path)


def test_a_sam2_position_embedding_is_named() -> None:
    # SAM2's Hiera keeps a (1, C, 7, 7) background embedding, not hiera-transformer's tokens.
    with pytest.raises(CheckpointError, match="SAM2 image encoder"):
        interpolate_pos_embed(torch.zeros(1, 96, 7, 7), (8, 8))


def test_a_pth_given_as_pmgsam_weights_points_at_the_fields_for_foreign_files(tmp_path) -> None:
    path = tmp_path / "sam_vit_b.pth"
    torch.save({"mask_decoder.x": torch.zeros(1)}, path)
    with pytest.raises(CheckpointError, match="SAM checkpoint .*give it as model.sam_checkpoint"):
        read_model_config(path)
    # A file of no known kind gets the list of where foreign checkpoints go.
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="a SAM checkpoint goes to model.sam_checkpoint"):
        read_model_config(tmp_path / "other.pth")


def test_a_broken_file_of_the_right_hiera_gets_no_variant_hint(tmp_path) -> None:
    hiera = pytest.importorskip("hiera")
    state = hiera.hiera_tiny_224(pretrained=False).state_dict()
    # Right variant (tiny: 96 wide, 1+2+7+2 blocks), one tensor of a wrong shape.
    state["blocks.0.norm1.weight"] = torch.zeros(7)
    torch.save({"model_state": state}, tmp_path / "hiera_tiny.pth")
    with pytest.raises(CheckpointError, match="shape mismatches") as err:
        HieraBranch("tiny", 64).load_checkpoint(tmp_path / "hiera_tiny.pth")
    assert "set model.hiera" not in str(err.value)


def test_a_folder_or_missing_file_given_as_a_checkpoint_file_is_named(tmp_path) -> None:
    with pytest.raises(CheckpointError, match=r"is a folder, not a checkpoint file; give its mod"):
        read_model_config(tmp_path)
    with pytest.raises(CheckpointError, match=r"checkpoint file '.*none.safetensors' does not ex"):
        read_model_config(tmp_path / "none.safetensors")


def test_a_foreign_checkpoint_without_a_state_dict_or_square_position_grid_is_named(
    tmp_path,
) -> None:
    from pmgsam.modeling.weights import read_torch_checkpoint

    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(CheckpointError, match=r"'.*list.pth' does not hold a state dict"):
        read_torch_checkpoint(tmp_path / "list.pth")
    # 50 tokens: no side s with s * s = 50, so the grid to resize cannot be known.
    with pytest.raises(CheckpointError, match="pos_embed with 50 tokens is not a square grid"):
        interpolate_pos_embed(torch.zeros(1, 50, 8), (8, 8))
