"""rounded_to: a checkpoint that an older pmgsam saved after ``model.half().float()`` records
frozen-branch digests of rounded weights; reloaded, the rebuilt branch rounded the same way
gives that digest, and nothing else does (another seed, or no rounding)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from pmgsam.modeling.checkpoint import branch_digests, read_frozen_digests, save_model
from pmgsam.modeling.checkpoint_rounding import rounded_digest, rounded_to
from pmgsam.modeling.pmgsam import FROZEN_BRANCHES


@pytest.mark.parametrize("branch", FROZEN_BRANCHES)
def test_unrounded_digest_is_the_models_own(small_tiny_model: torch.nn.Module, branch: str) -> None:
    # The two must hash alike, or no recorded digest would ever be recognised.
    assert rounded_digest(small_tiny_model, branch, None) == small_tiny_model.frozen_digest(
        (branch,)
    )


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_digests_saved_after_a_round_trip_name_it(
    small_tiny_model: torch.nn.Module, tmp_path: Path, dtype: torch.dtype
) -> None:
    rounded = copy.deepcopy(small_tiny_model).to(dtype).float()
    path = tmp_path / "old.safetensors"
    # As pmgsam wrote it before save_model refused rounded branches.
    save_model(rounded, path, frozen_sha256=branch_digests(rounded))
    recorded = read_frozen_digests(path)
    for branch in FROZEN_BRANCHES:
        assert recorded[branch] != small_tiny_model.frozen_digest((branch,))
        assert rounded_to(small_tiny_model, branch, recorded[branch]) == dtype


def test_other_weights_are_not_taken_for_rounded_ones(small_tiny_model: torch.nn.Module) -> None:
    # Other weights (another torch build's initialisation, another file's), even barely
    # different: no 16-bit round trip of them gives the recorded digest.
    other = copy.deepcopy(small_tiny_model)
    with torch.no_grad():
        for p in other.hiera.parameters():
            p.mul_(1 + 1e-3)
    recorded = branch_digests(small_tiny_model)
    assert rounded_to(other, "hiera", recorded["hiera"]) is None
    # Nor is an unrounded match (the caller asks only where digests differ, but this is safe).
    assert rounded_to(small_tiny_model, "hiera", recorded["hiera"]) is None
