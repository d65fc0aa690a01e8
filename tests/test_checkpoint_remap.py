"""PMG-SAM's own weight files: which folder entries resolve to which file, what counts as an
architecture change, what is refused as not ours, and that a failed save keeps the old file."""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest
from safetensors.torch import save_file

from pmgsam.modeling import checkpoint as checkpoint_mod
from pmgsam.modeling.checkpoint import (
    load_model_weights,
    read_model_file,
    resolve_weights,
    save_model,
)
from pmgsam.modeling.weights import CheckpointError
from pmgsam.utils.config import to_dict


@pytest.fixture
def saved(tmp_path, tiny_model):
    return save_model(tiny_model, tmp_path / "run" / "checkpoints" / "last" / "model.safetensors")


def test_checkpoint_folder_resolves_to_its_own_weights(saved) -> None:
    best = saved.parents[1] / "best" / "model.safetensors"
    best.parent.mkdir()
    best.write_bytes(saved.read_bytes())
    assert resolve_weights(saved.parent) == saved  # the `last` folder: its file, not `best`
    assert resolve_weights(saved.parents[2]) == best  # the run folder: its best weights


def test_weight_file_locations_are_not_architecture(saved, tiny_model) -> None:
    # The frozen branches' files may move (another machine); only the architecture must match.
    model = copy.deepcopy(tiny_model)
    model.config = dataclasses.replace(
        tiny_model.config,
        hiera_checkpoint="/elsewhere/hiera.pth",
        u2net_checkpoint="/elsewhere/u2netp.pth",
        sam_checkpoint="/elsewhere/sam.pth",
    )
    load_model_weights(model, saved)
    model.config = dataclasses.replace(tiny_model.config, image_size=128)
    with pytest.raises(CheckpointError, match="image_size: 64 != 128"):
        load_model_weights(model, saved)


def test_other_safetensors_are_not_read_as_ours(saved, tmp_path) -> None:
    state, config = read_model_file(saved)
    config_json = json.dumps(to_dict(config))
    foreign = tmp_path / "foreign.safetensors"
    save_file(state, str(foreign), metadata={"format": "pt", "config": config_json})
    with pytest.raises(CheckpointError, match="not a PMG-SAM checkpoint"):
        read_model_file(foreign)
    bad = tmp_path / "bad.safetensors"
    broken = json.dumps({**to_dict(config), "image_size": -64})
    save_file(state, str(bad), metadata={"format": "pmgsam", "config": broken})
    with pytest.raises(CheckpointError, match=r"bad\.safetensors' carries an invalid model config"):
        read_model_file(bad)


def test_failed_save_keeps_the_previous_weights(saved, tiny_model, monkeypatch) -> None:
    before = saved.read_bytes()

    def half_written(state, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"\x00" * 16)
        raise OSError("No space left on device")

    monkeypatch.setattr(checkpoint_mod, "save_file", half_written)
    with pytest.raises(OSError, match="No space"):
        save_model(tiny_model, saved)
    assert saved.read_bytes() == before
    assert [p.name for p in saved.parent.iterdir()] == ["model.safetensors"]
