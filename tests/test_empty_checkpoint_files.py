"""A checkpoint or training state of 0 bytes (a save cut off, a full disk) is named as empty:
the readers said "header too small" (safetensors) or "a damaged one (EOFError)" (torch)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pmgsam.modeling.checkpoint import read_model_config
from pmgsam.modeling.checkpoint_files import CheckpointError, safe_torch_load

EMPTY = "the file is empty (0 bytes: a save or copy that was interrupted, or a full disk?)"


@pytest.mark.parametrize("name", ["model.safetensors", "state.pt", "u2netp.pth"])
def test_empty_file_is_named_empty(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"")
    with pytest.raises(CheckpointError) as err:
        safe_torch_load(path, "training state")
    assert str(err.value) == f"cannot read training state '{path}': {EMPTY}"


def test_empty_weights_file_is_named_empty_when_its_config_is_read(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"")
    with pytest.raises(CheckpointError) as err:
        read_model_config(path)
    assert str(err.value) == f"cannot read checkpoint '{path}': {EMPTY}"
