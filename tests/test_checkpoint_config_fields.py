"""Which model a checkpoint is run as, when a config comes with it (evaluate.py benchmark mode,
``predict_split``): the checkpoint's, with the config's frozen-branch files only where the
checkpoint was trained on such a file, and ``model.*`` overrides checked, never ignored."""

from __future__ import annotations

import copy
import dataclasses
import logging

import pytest
import yaml
from cli_cases import evaluate_main
from small_branches import use_small_branches

import pmgsam
from pmgsam.modeling.checkpoint import checkpoint_model_fields, save_model
from pmgsam.modeling.weights import CheckpointError
from pmgsam.utils.config import to_dict

S = 64

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module", autouse=True)
def small_frozen_hiera():
    """conftest's small Hiera as "tiny" for the whole module, :func:`tiny` included: which
    fields a checkpoint is run with does not depend on the branch's size, and the loads and the
    benchmark run rebuild it (Hiera-T's 27 M weights took most of their time)."""
    with pytest.MonkeyPatch.context() as mp:
        use_small_branches(mp)
        yield


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, small_tiny_model):
    model = copy.deepcopy(small_tiny_model)  # at S; its config is changed below
    root = tmp_path_factory.mktemp("ckpt_fields")
    random_branches = save_model(model, root / "random.safetensors")
    # The same weights, recorded as trained on a Hiera file that lives elsewhere now.
    model.config = dataclasses.replace(model.config, hiera_checkpoint="/old/place/hiera.pth")
    on_file = save_model(model, root / "on_file.safetensors")
    return {"random": random_branches, "on_file": on_file, "config": model.config}


def test_a_random_branch_checkpoint_refuses_a_branch_file(tiny, tmp_path):
    # Refused before the file is opened: it need not exist.
    with pytest.raises(CheckpointError, match=r"random Hiera branch.*leave hiera_checkpoint"):
        pmgsam.load_pretrained(tiny["random"], hiera_checkpoint=str(tmp_path / "hiera.pth"))


def test_a_file_trained_checkpoint_refuses_a_random_branch(tiny):
    with pytest.raises(CheckpointError, match=r"Hiera weights '/old/place/hiera.pth'"):
        pmgsam.load_pretrained(tiny["on_file"], hiera_checkpoint=None)


def test_the_config_file_moves_only_files_the_checkpoint_was_trained_on(tiny, caplog):
    config = dataclasses.replace(
        tiny["config"], hiera_checkpoint="/new/hiera.pth", u2net_checkpoint="/new/u2net.pth"
    )
    with caplog.at_level(logging.WARNING, logger="pmgsam.engine.inference"):
        fields = checkpoint_model_fields(tiny["on_file"], config, [])
    # Hiera was trained on a file (moved); U²-Net was random, so the config's file is not used.
    assert fields == {"hiera_checkpoint": "/new/hiera.pth"}
    assert "u2net_checkpoint: null != /new/u2net.pth" in caplog.text


def test_the_config_files_other_model_is_named_and_not_used(tiny, caplog):
    config = dataclasses.replace(
        tiny["config"], hiera_checkpoint=None, decoder_depth=7, image_size=128
    )
    with caplog.at_level(logging.WARNING, logger="pmgsam.engine.inference"):
        fields = checkpoint_model_fields(tiny["random"], config, [])
    assert fields == {}
    assert "decoder_depth" in caplog.text and "image_size" in caplog.text


def test_model_overrides_reach_the_loader(tiny):
    fields = checkpoint_model_fields(
        tiny["random"], tiny["config"], ["data.num_workers=0", "model.decoder_depth=7"]
    )
    assert fields == {"decoder_depth": 7}
    with pytest.raises(CheckpointError, match="decoder_depth"):
        pmgsam.load_pretrained(tiny["random"], **fields)


def test_an_explicit_frozen_file_override_wins_over_the_configs_file(tiny):
    # The checkpoint was trained on a Hiera file; the config names one place for it and the
    # command line another: what the user typed is what loads (the docstring's "passed on").
    config = dataclasses.replace(tiny["config"], hiera_checkpoint="/config/hiera.pth")
    given = ["model.hiera_checkpoint=/given/hiera.pth"]
    assert checkpoint_model_fields(tiny["on_file"], config, given) == {
        "hiera_checkpoint": "/given/hiera.pth"
    }


def test_benchmark_mode_with_a_paper_config_and_a_random_branch_checkpoint(
    tiny, dis5k_root, tmp_path
):
    """A paper config names weight files this machine lacks; the checkpoint was trained
    without them, so they are not needed. A model override that changes the model is refused."""
    model = to_dict(dataclasses.replace(tiny["config"], hiera_checkpoint=None))
    model.update(hiera_checkpoint="weights/absent_hiera.pth", decoder_depth=5)
    cfg = {"model": model, "data": {"root": str(dis5k_root), "num_workers": 0,
           "split_dir": str(tmp_path / "splits")}, "train": {"device": "cpu"}}  # fmt: skip
    config = tmp_path / "paper_like.yaml"
    config.write_text(yaml.safe_dump(cfg))
    run = tmp_path / "run"
    args = ["--config", config, "--checkpoint", tiny["random"], "--device", "cpu", "--quiet",
            "--dataset", "dis5k", "--splits", "DIS-TE1", "--workers", "1", "--no-hce"]  # fmt: skip
    assert evaluate_main(args + ["--output-dir", run]) == 0
    assert len(list((run / "pred" / "DIS-TE1").glob("*.png"))) == 2
    with pytest.raises(CheckpointError, match="image_size"):
        evaluate_main(args + ["--output-dir", tmp_path / "other", f"model.image_size={2 * S}"])
