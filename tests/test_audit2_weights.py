"""Audit of the checkpoint hints: a broken file of the right Hiera variant is not sent
elsewhere. Built from hiera-transformer's own model, not from this package's trunk."""

from __future__ import annotations

import pytest
import torch

from pmgsam.modeling.image_encoder import HieraBranch
from pmgsam.modeling.weights import CheckpointError


def test_a_broken_file_of_the_right_hiera_gets_no_variant_hint(tmp_path) -> None:
    hiera = pytest.importorskip("hiera")
    state = hiera.hiera_tiny_224(pretrained=False).state_dict()
    # Right variant (tiny: 96 wide, 1+2+7+2 blocks), one tensor of a wrong shape.
    state["blocks.0.norm1.weight"] = torch.zeros(7)
    torch.save({"model_state": state}, tmp_path / "hiera_tiny.pth")
    with pytest.raises(CheckpointError, match="shape mismatches") as err:
        HieraBranch("tiny", 64).load_checkpoint(tmp_path / "hiera_tiny.pth")
    assert "set model.hiera" not in str(err.value)
