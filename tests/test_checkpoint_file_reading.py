"""Reading a checkpoint file (``checkpoint_files``): what a message says of a path that is no
file, of a wrapper without the entry asked for, of a damaged file; which keys lose a
DataParallel prefix; which layouts are recognised, and which are not guessed. The published
layouts themselves are in tests/test_checkpoint_slots.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pmgsam.modeling.checkpoint_files import (
    CheckpointError,
    identify_checkpoint,
    read_torch_checkpoint,
)


def test_a_folder_or_a_missing_path_is_named_as_such(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=f"checkpoint file '{tmp_path}' is a folder, not a"):
        read_torch_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="checkpoint file '.*gone.pth' does not exist"):
        read_torch_checkpoint(tmp_path / "gone.pth")


def test_a_file_without_the_entry_asked_for_lists_its_top_level_keys(tmp_path: Path) -> None:
    path = tmp_path / "run.pth"
    torch.save({"epoch": 3, "config": {"lr": 0.1}}, path)  # a trainer's file without weights
    with pytest.raises(CheckpointError) as err:
        read_torch_checkpoint(path, key="model_state")
    assert str(err.value) == (
        f"checkpoint '{path}' has no 'model_state' entry (nor 'state_dict' / 'model') and no "
        "tensors at its top level, so it holds no state dict to load; top-level keys: "
        "['config', 'epoch']"
    )


def test_damaged_files_keep_their_readers_reason(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    torch.save({"w": torch.ones(64)}, tmp_path / "whole.pth")
    save_file({"w": torch.ones(64)}, str(tmp_path / "whole.safetensors"))
    for name in ("whole.pth", "whole.safetensors"):
        data = (tmp_path / name).read_bytes()
        (tmp_path / f"cut_{name}").write_bytes(data[: len(data) - 40])
    with pytest.raises(CheckpointError, match=r"or a damaged one \(RuntimeError: \w"):
        read_torch_checkpoint(tmp_path / "cut_whole.pth")
    with pytest.raises(CheckpointError, match=r"a damaged safetensors file \(\w"):
        read_torch_checkpoint(tmp_path / "cut_whole.safetensors")


def test_only_a_leading_module_prefix_is_removed(tmp_path: Path) -> None:
    path = tmp_path / "dp.pth"
    torch.save({"module.head.weight": torch.zeros(1), "fpn.module.bias": torch.ones(1)}, path)
    assert sorted(read_torch_checkpoint(path)) == ["fpn.module.bias", "head.weight"]


def test_a_state_dict_under_state_dict_is_recognised() -> None:
    # Lightning-style files wrap their weights in "state_dict".
    sam = {"image_encoder.patch_embed.proj.weight": 0, "mask_decoder.iou_token.weight": 0}
    found = identify_checkpoint({"state_dict": sam, "epoch": 3})
    assert found is not None and found.slot == "sam"


@pytest.mark.parametrize(
    "keys",
    [
        ["decoder.conv.weight", "encoder.conv.weight"],  # an encoder-decoder, no FPN neck
        ["outconv.weight", "conv.weight"],  # U²-Net's head name alone
        ["patch_embed.proj.weight", "pos_embed", "head.weight"],  # a patch embedding, no blocks
    ],
)
def test_a_layout_sharing_one_mark_of_a_known_one_is_not_guessed(keys) -> None:
    assert identify_checkpoint({k: torch.zeros(1) for k in keys}) is None
