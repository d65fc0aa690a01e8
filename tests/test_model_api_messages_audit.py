"""Model-API messages the first tests leave open: a run folder or Path given to build_model,
the pretrained= keyword, a model only partly converted to bfloat16 given to save_model, and the
configs/ hint only for a path that starts in configs/."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

import pmgsam
from pmgsam.engine.config import ExperimentConfig
from pmgsam.modeling.checkpoint import save_model
from pmgsam.modeling.weights import CheckpointError
from pmgsam.utils.config import ConfigError, load_config

LOADS = "loads with pmgsam.load_pretrained"


def test_a_run_folder_or_a_path_given_to_build_model_points_to_load_pretrained(tmp_path):
    run = tmp_path / "runs" / "cod"  # no weights extension: it is named for existing
    run.mkdir(parents=True)
    with pytest.raises(ValueError, match=LOADS):
        pmgsam.build_model(str(run))
    with pytest.raises(TypeError, match=f"got <class 'pathlib.*Path'>.*{LOADS}"):
        pmgsam.build_model(Path("weights/model.safetensors"))
    with pytest.raises(ValueError) as plain:  # a typo, no file: no load_pretrained hint
        pmgsam.build_model("pmgsam_tinny")
    assert LOADS not in str(plain.value)


def test_pretrained_keyword_says_which_files_load():
    with pytest.raises(ConfigError, match=r"'pretrained': the files named by hiera_checkpoint"):
        pmgsam.build_model("pmgsam_tiny", pretrained=True)


def test_save_model_refuses_a_model_only_partly_converted(small_tiny_model, tmp_path):
    # model.decoder.to(torch.bfloat16) alone still has float32 weights elsewhere: refused all
    # the same, naming both dtypes.
    mixed = copy.deepcopy(small_tiny_model)
    mixed.decoder.to(torch.bfloat16)
    with pytest.raises(CheckpointError, match=r"weights are torch\.bfloat16, torch\.float32"):
        save_model(mixed, tmp_path / "mixed.safetensors")
    assert not (tmp_path / "mixed.safetensors").exists()


def test_the_configs_hint_is_only_for_a_path_starting_in_configs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as inner:
        load_config(ExperimentConfig, "mine/configs/demo.yaml")
    assert str(inner.value) == "config file 'mine/configs/demo.yaml' does not exist"
    with pytest.raises(ConfigError, match="not with the installed package"):
        load_config(ExperimentConfig, "./configs/demo.yaml")
