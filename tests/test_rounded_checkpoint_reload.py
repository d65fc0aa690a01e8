"""load_pretrained of a checkpoint an older pmgsam saved after ``model.half().float()``: its
frozen-branch digests are of rounded weights. The warning (random branch) said this torch build
"initialises differently", and a branch from the right file was refused; both now say the
checkpoint recorded rounded weights, and load."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import pytest
import torch

import pmgsam
from pmgsam.modeling.checkpoint import branch_digests, save_model


def _saved_the_old_way(model: torch.nn.Module, path: Path, dtype: torch.dtype) -> Path:
    rounded = copy.deepcopy(model).to(dtype).float()
    return save_model(rounded, path, frozen_sha256=branch_digests(rounded))


def test_random_branches_rounded_when_saved_are_named_so(
    small_tiny_model, small_branches, tmp_path, caplog
) -> None:
    path = _saved_the_old_way(small_tiny_model, tmp_path / "m.safetensors", torch.bfloat16)
    with caplog.at_level(logging.WARNING, logger="pmgsam.modeling.build"):
        pmgsam.load_pretrained(path)
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "initialises differently" not in said
    for branch in ("Hiera", "U²-Net"):
        assert f"records its {branch} branch (fixed-seed random) rounded to torch.bfloat16" in said


@pytest.fixture
def on_u2net_file(small_tiny_model, small_branches, tmp_path) -> tuple:
    """(checkpoint saved the old way from a model on a U²-Net file, that model)."""
    torch.save(small_tiny_model.u2net.state_dict(), tmp_path / "u2netp.pth")
    config = small_tiny_model.config
    model = pmgsam.build_model(config, u2net_checkpoint=str(tmp_path / "u2netp.pth"))
    return _saved_the_old_way(model, tmp_path / "m.safetensors", torch.float16), model


def test_a_branch_file_rounded_when_saved_loads_with_a_warning(
    on_u2net_file, tmp_path, caplog
) -> None:
    path, model = on_u2net_file
    with caplog.at_level(logging.WARNING, logger="pmgsam.modeling.build"):
        reloaded = pmgsam.load_pretrained(path)  # was: refused, "not those ... trained on"
    said = " ".join(r.getMessage() for r in caplog.records)
    file = tmp_path / "u2netp.pth"
    assert f"U²-Net branch (the weights in '{file}') rounded to torch.float16" in said
    assert reloaded.frozen_digest(("u2net",)) == model.frozen_digest(("u2net",))


def test_another_file_is_still_refused(on_u2net_file, tmp_path) -> None:
    path, model = on_u2net_file
    other = {k: v.clone() for k, v in model.u2net.state_dict().items()}
    first = next(k for k, v in other.items() if v.is_floating_point())
    other[first] += 0.01
    torch.save(other, tmp_path / "other.pth")
    with pytest.raises(pmgsam.modeling.weights.CheckpointError, match="not those checkpoint"):
        pmgsam.load_pretrained(path, u2net_checkpoint=str(tmp_path / "other.pth"))
