"""Inference details the end-to-end tests leave open: CPU precision, write failures, and the
output-folder guards of ``predict_split`` and ``--premask-out``, plus the model reuse key."""

from __future__ import annotations

import dataclasses
import json

import cv2
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from pmgsam.engine import inference
from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.inference import Predictor, predict_split, write_probability_png
from pmgsam.modeling import checkpoint
from pmgsam.utils.cli import exit_status
from pmgsam.utils.config import from_dict, to_dict
from pmgsam.utils.outputs import OutputError

pytestmark = pytest.mark.usefixtures("one_thread")

# The model here has conftest's small frozen branches (small_tiny_model): the precision, the
# folders refused and the loads reused do not depend on the branches' size, and Hiera-T's
# copy and forwards took most of this file's time.


@pytest.fixture
def loads(small_tiny_model, monkeypatch, tmp_path):
    """Every ``load_pretrained`` call's keyword arguments; each returns the tiny model. The
    checkpoint "w" is a stand-in file in the working directory (hashed before each load)."""
    monkeypatch.chdir(tmp_path)
    frozen = json.dumps({"hiera": "0" * 64, "u2net": "1" * 64})
    save_file({"x": torch.zeros(1)}, "w", metadata={"frozen_sha256": frozen})
    calls = []

    def load(path, **kwargs):
        calls.append(kwargs)
        return small_tiny_model

    monkeypatch.setattr(inference, "load_pretrained", load)
    # The checkpoint "w" was trained on frozen-branch files, which the config may relocate.
    trained_on = dataclasses.replace(
        small_tiny_model.config, hiera_checkpoint="old.pth", u2net_checkpoint="old.pth"
    )
    monkeypatch.setattr(checkpoint, "resolve_weights", lambda path: path)
    monkeypatch.setattr(checkpoint, "read_model_config", lambda path: trained_on)
    return calls


@pytest.fixture
def experiment(dis5k_root, data_config):
    return from_dict(ExperimentConfig, {"data": to_dict(data_config("dis5k", dis5k_root))})


def test_auto_amp_on_cpu_is_full_precision(small_tiny_model):
    # --amp auto means float32 on the CPU: bf16 autocast moves these probabilities by ~1e-3.
    torch.manual_seed(1)
    images = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        expected = torch.sigmoid(small_tiny_model(images)["mask"])
    predictor = Predictor(small_tiny_model, "cpu")
    assert predictor.amp == "none"
    assert (predictor.predict_batch(images) - expected).abs().max() < 1e-5


def test_unwritable_prediction_raises(tmp_path):
    # Missing folders are created (maps are written whole through a temporary file); a folder
    # that cannot exist, below a file, is an error naming the map.
    (tmp_path / "a_file").write_text("mine")
    with pytest.raises(OSError, match="could not write prediction '.*a.png'"):
        write_probability_png(torch.zeros(4, 4), tmp_path / "a_file" / "a.png")
    assert (tmp_path / "a_file").read_text() == "mine"


def test_predict_split_refuses_foreign_files_in_both_folders(loads, experiment, tmp_path):
    for option in ("out_dir", "premask_dir"):
        folders = {"out_dir": tmp_path / f"{option}-out", "premask_dir": tmp_path / f"{option}-pre"}
        folders[option].mkdir()
        (folders[option] / "notes.txt").write_text("mine")
        with pytest.raises(OutputError, match="did not write"):
            predict_split(experiment, "w", "DIS-TE1", device="cpu", progress=False, **folders)
        assert [p.name for p in folders[option].iterdir()] == ["notes.txt"]
    # --overwrite lets the maps in and keeps the user's file.
    predict_split(experiment, "w", "DIS-TE1", device="cpu", progress=False, overwrite=True,
                  out_dir=folders["out_dir"], premask_dir=folders["premask_dir"])  # fmt: skip
    assert (folders["premask_dir"] / "notes.txt").read_text() == "mine"
    assert len(list(folders["premask_dir"].glob("*.png"))) == 2


def test_predict_split_reuses_the_model_only_for_the_same_weights(loads, experiment, tmp_path):
    # The frozen-branch files come from the config and its overrides: a reused model loaded
    # with other files would silently predict with the wrong weights.
    experiment.model.hiera_checkpoint = "hiera.pth"
    reuse: dict = {}
    for i, u2net in enumerate(["a.pth", "a.pth", "b.pth"]):
        overrides = [f"model.u2net_checkpoint={u2net}"]
        predict_split(experiment, "w", "DIS-TE1", tmp_path / str(i), device="cpu",
                      overrides=overrides, progress=False, reuse=reuse)  # fmt: skip
    assert loads == [
        {"hiera_checkpoint": "hiera.pth", "u2net_checkpoint": "a.pth"},
        {"hiera_checkpoint": "hiera.pth", "u2net_checkpoint": "b.pth"},
    ]


def test_cli_refuses_foreign_files_in_premask_out(loads, tmp_path, capsys):
    images, pre = tmp_path / "images", tmp_path / "pre"
    images.mkdir()
    pre.mkdir()
    cv2.imwrite(str(images / "a.png"), np.zeros((20, 30, 3), np.uint8))
    (pre / "a.png").write_bytes(b"user map")
    argv = ["--checkpoint", "w", "--input", images, "--out", tmp_path / "out",
            "--premask-out", pre, "--num-workers", "0"]  # fmt: skip
    assert exit_status(inference.main, argv) == 2
    err = capsys.readouterr().err
    assert "--premask-out" in err and "did not write" in err
    assert (pre / "a.png").read_bytes() == b"user map"
    assert exit_status(inference.main, [*argv, "--overwrite"]) == 0
    assert cv2.imread(str(pre / "a.png"), cv2.IMREAD_UNCHANGED).shape == (20, 30)


@pytest.mark.parametrize("inside", ["", "pre"])
def test_predict_split_refuses_a_premask_dir_in_the_output_folder(
    loads, experiment, tmp_path, inside
) -> None:
    # The Pre-Mask map of an image has its final map's name: in one folder it replaces it.
    out = tmp_path / "out"
    with pytest.raises(OutputError, match=r"Pre-Mask folder '.*' (is|overlaps) output folder"):
        predict_split(experiment, "w", "DIS-TE1", out, device="cpu", progress=False,
                      premask_dir=out / inside)  # fmt: skip
    assert not out.exists()  # refused before anything is written


def test_predict_split_names_the_premask_folder_as_its_caller_does(
    loads, experiment, tmp_path
) -> None:
    # premask's folders are fixed by --run: its messages must say so, not name a parameter.
    pre = tmp_path / "pre"
    pre.mkdir()
    (pre / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match=r"^--run's Pre-Mask map folder '.*' already holds 1"):
        predict_split(experiment, "w", "DIS-TE1", tmp_path / "out", device="cpu",
                      progress=False, premask_dir=pre,
                      premask_option="--run's Pre-Mask map folder")  # fmt: skip
    assert (pre / "notes.txt").read_text() == "mine"


def test_predict_split_names_a_shared_premask_folder_as_its_caller_does(
    loads, experiment, tmp_path
) -> None:
    name = "--run's Pre-Mask map folder"
    out = tmp_path / "out"
    with pytest.raises(OutputError, match=rf"^{name} '.*' is --output-dir '.*': both receive"):
        predict_split(experiment, "w", "DIS-TE1", out, device="cpu", progress=False,
                      premask_dir=out, option="--output-dir", premask_option=name)  # fmt: skip
    assert not out.exists()


def test_cli_refuses_the_folder_of_a_single_input_image(loads, tmp_path, capsys):
    # --input one image: its folder is an input too. With --overwrite, a map named after a
    # PNG image would replace the image itself.
    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "a.png"), np.full((20, 30, 3), 7, np.uint8))
    before = (images / "a.png").read_bytes()
    argv = ["--checkpoint", "w", "--input", images / "a.png", "--out", images, "--overwrite"]
    assert exit_status(inference.main, [*argv, "--num-workers", "0"]) == 2
    assert str(images) in capsys.readouterr().err
    assert (images / "a.png").read_bytes() == before
