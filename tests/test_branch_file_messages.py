"""A frozen-branch file named by the config but absent is refused naming the config field,
the folder a relative path is read from, and the ways out."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pmgsam.modeling.build import build_model
from pmgsam.modeling.weights import CheckpointError


@pytest.mark.parametrize("field", ["hiera_checkpoint", "u2net_checkpoint", "sam_checkpoint"])
def test_a_missing_relative_branch_file_names_its_field_and_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, field: str
) -> None:
    monkeypatch.chdir(tmp_path)  # as a user running the paper config away from the repo
    with pytest.raises(CheckpointError) as err:
        build_model("pmgsam_tiny", **{field: "weights/missing.pth"})
    message = str(err.value)
    assert message.startswith(f"model.{field}: checkpoint file 'weights/missing.pth' does not")
    assert f"read from the current folder '{tmp_path}'" in message
    assert f"model.{field}=null" in message and "weights/README.md" in message


def test_an_absolute_path_is_not_said_to_be_read_from_the_current_folder(tmp_path: Path) -> None:
    missing = tmp_path / "u2netp.pth"
    with pytest.raises(CheckpointError, match=re.escape(f"'{missing}' does not exist; it should")):
        build_model("pmgsam_tiny", u2net_checkpoint=str(missing))


def test_a_checkpoints_moved_branch_file_asks_for_its_new_place_only(
    small_tiny_model, small_branches, tmp_path: Path
) -> None:
    # A checkpoint trained on a U²-Net file refuses a random branch (=null) in its place: the
    # message must not offer that way out. (conftest's small Hiera: the U²-Net file is the
    # subject.)
    import torch

    from pmgsam.modeling.build import load_pretrained
    from pmgsam.modeling.checkpoint import save_model

    u2net = tmp_path / "u2netp.pth"
    torch.save(small_tiny_model.u2net.state_dict(), u2net)
    model = build_model("pmgsam_tiny", image_size=64, u2net_checkpoint=str(u2net))
    weights = save_model(model, tmp_path / "model.safetensors")
    moved = u2net.rename(tmp_path / "elsewhere.pth")
    with pytest.raises(CheckpointError) as err:
        load_pretrained(weights)
    message = str(err.value)
    assert f"was trained on the U²-Net weights '{u2net}', which do not exist" in message
    assert message.endswith("model.u2net_checkpoint=PATH") and "=null" not in message
    assert load_pretrained(weights, u2net_checkpoint=str(moved)).config.image_size == 64
