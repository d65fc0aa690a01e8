"""Every CLI answers a bad input with one line and a non-zero exit, never a traceback (§4):
inference, the checkpoints it reads, and benchmark mode's prediction through it (train.py,
evaluate.py, the generator and the log format: test_cli_errors_train_evaluate.py)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from cli_cases import cli, one_error_line
from safetensors.torch import save_file

import pmgsam
from pmgsam.engine import inference
from pmgsam.modeling.checkpoint import save_model
from pmgsam.modeling.weights import CheckpointError, read_torch_checkpoint
from pmgsam.utils.cli import exit_status
from pmgsam.utils.messages import one_line
from pmgsam.utils.outputs import MANIFEST

REPO = Path(__file__).resolve().parents[1]
S = 64


# The frozen Hiera is conftest's small one (small_branches for any build): nothing here depends on
# its size, and each load copied and ran Hiera-T's 27 M weights.
pytestmark = pytest.mark.usefixtures("one_thread", "small_branches")


@pytest.fixture(scope="module")
def saved(tmp_path_factory, small_tiny_model):
    model = small_tiny_model.eval()  # at S
    run = tmp_path_factory.mktemp("run")
    return save_model(model, run / "checkpoints" / "best" / "model.safetensors"), model


@pytest.fixture
def cached(saved, monkeypatch):
    """Loading returns a copy of one model (the checkpoint is still resolved and read)."""
    path, model = saved
    original = inference.load_pretrained

    def load(p, **kw):
        pmgsam.modeling.checkpoint.read_model_file(pmgsam.modeling.checkpoint.resolve_weights(p))
        return copy.deepcopy(model)

    monkeypatch.setattr(inference, "load_pretrained", load)
    yield path
    monkeypatch.setattr(inference, "load_pretrained", original)


def good_images(folder: Path, n: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        cv2.imwrite(str(folder / f"ok{i}.png"), rng.integers(0, 255, (40, 50, 3), np.uint8))
    return folder


def test_inference_names_unreadable_images_and_skips_them_with_keep_going(cached, tmp_path, capsys):
    images = good_images(tmp_path / "in")
    (images / "zero.png").write_bytes(b"")
    (images / "text.jpg").write_text("not an image")
    out = tmp_path / "out"
    argv = ["--checkpoint", cached, "--input", images, "--out", out, "--num-workers", 0]
    # Every header is read before anything is predicted: all bad files named, nothing written.
    code, err = cli(inference.main, argv, capsys)
    line = one_error_line(err)
    assert code == 2 and "2 input file(s) in" in line and "cannot be read" in line
    assert "zero.png" in line and "text.jpg" in line and "--keep-going" in line
    assert not out.exists()
    code, err = cli(inference.main, [*argv, "--keep-going"], capsys)
    line = one_error_line(err)
    assert code == 2 and "2 input file(s) of --input" in line and "could not be read" in line
    assert "text.jpg, zero.png (first: " in line
    assert sorted(p.name for p in out.glob("*.png")) == ["ok0.png", "ok1.png"]
    # The manifest vouches only for maps written: a user's later zero.png there is not ours.
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["files"] == ["ok0.png", "ok1.png"]
    assert sorted(manifest["failed"]) == ["text", "zero"]


def test_worker_error_is_one_line(cached, tmp_path, capsys):
    images = good_images(tmp_path / "in", 1)
    data = cv2.imencode(".png", np.random.default_rng(1).integers(0, 255, (64, 64, 3), np.uint8))
    (images / "cut.png").write_bytes(data[1].tobytes()[:300])  # header fine, pixels cut
    argv = ["--checkpoint", cached, "--input", images, "--out", tmp_path / "o"]
    code, err = cli(inference.main, [*argv, "--num-workers", 1, "--batch-size", 1], capsys)
    line = one_error_line(err)
    # The worker hands the failure back by name: one line saying how to resume or go on.
    assert code == 2 and "cut.png" in line and "the run stopped there" in line
    assert "--skip-existing" in line and "--keep-going" in line


def test_one_line_of_a_worker_traceback():
    text = (
        "Caught DataError in DataLoader worker process 0.\nOriginal Traceback (most recent call "
        'last):\n  File "x.py", line 3, in f\n    raise DataError(msg)\n'
        "pmgsam.data.io.DataError: cannot read image file 'a.png': truncated\n"
    )
    assert one_line(ValueError(text)) == (
        "cannot read image file 'a.png': truncated (raised in a data-loading worker)"
    )


@pytest.mark.parametrize(
    "case, expected",
    [
        ("missing", "does not exist"),
        ("text", "as safetensors"),
        ("foreign", "not a PMG-SAM checkpoint"),
        ("empty_dir", "no PMG-SAM weights in the folder"),
    ],
)
def test_inference_bad_checkpoints(cached, tmp_path, capsys, case, expected):
    ckpt = tmp_path / "ckpt.safetensors"
    if case == "text":
        ckpt.write_text("hello")
    elif case == "foreign":
        save_file({"w": torch.zeros(2)}, str(ckpt))
    elif case == "empty_dir":
        ckpt = tmp_path / "run"
        ckpt.mkdir()
    images = good_images(tmp_path / "in", 1)
    argv = ["--checkpoint", ckpt, "--input", images, "--out", tmp_path / "o"]
    code, err = cli(inference.main, argv, capsys)
    assert code == 2 and expected in one_error_line(err) and str(ckpt) in err


@pytest.mark.parametrize(
    "case, expected",
    [("missing", "does not exist"), ("empty", "no images"), ("file", "neither a folder nor an")],
)
def test_inference_bad_input_folder(cached, tmp_path, capsys, case, expected):
    folder = tmp_path / "in"
    if case == "empty":
        folder.mkdir()
    elif case == "file":
        folder.write_text("x")
    argv = ["--checkpoint", cached, "--input", folder, "--out", tmp_path / "o"]
    code, err = cli(inference.main, argv, capsys)
    assert code == 2 and expected in one_error_line(err)


def test_inference_bad_options(cached, tmp_path, capsys):
    images = good_images(tmp_path / "in", 1)
    argv = ["--checkpoint", cached, "--input", images, "--out", tmp_path / "o"]
    code, err = cli(inference.main, [*argv, "--batch-size", 0], capsys)
    assert code == 2 and "--batch-size: must be at least 1" in err
    if not torch.cuda.is_available():
        code, err = cli(inference.main, [*argv, "--device", "cuda"], capsys)
        line = one_error_line(err)
        assert code == 2 and "--device=cuda" in line and "train.device" not in line
    code, err = cli(inference.main, [*argv, "--device", "tpu9"], capsys)
    assert code == 2 and "--device: 'tpu9' is not a device" in one_error_line(err)


def test_refused_pickle_gets_our_advice(tmp_path):
    path = tmp_path / "ckpt.pth"
    torch.save({"w": torch.zeros(2), "opt": argparse_namespace()}, path)
    with pytest.raises(CheckpointError) as err:
        read_torch_checkpoint(path)
    text = str(err.value)
    assert "not a safe checkpoint" in text and "safetensors" in text
    assert "weights_only" not in text and "\n" not in text
    assert "argparse.Namespace" in text  # names what was refused


def argparse_namespace():
    import argparse

    return argparse.Namespace(lr=1)


@pytest.mark.parametrize("content", [b"hello world", b"", b"e"])
def test_non_checkpoint_file_is_named_not_numbered(tmp_path, content):
    path = tmp_path / "ckpt.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as err:
        read_torch_checkpoint(path)
    text = str(err.value)
    said = "the file is empty (0 bytes" if not content else "not a PyTorch checkpoint"
    assert text.startswith(f"cannot read checkpoint '{path}': {said}")
    assert not text.endswith(": 101")


def test_load_pretrained_accepts_run_folder_and_names_empty_one(saved, tmp_path):
    path, model = saved
    run = path.parents[2]
    loaded = pmgsam.load_pretrained(run).trainable_state_dict()
    for key, value in model.trainable_state_dict().items():
        assert torch.equal(loaded[key], value)
    with pytest.raises(CheckpointError, match="no PMG-SAM weights in the folder") as err:
        pmgsam.load_pretrained(tmp_path)
    assert "does not exist" not in str(err.value)


def test_benchmark_bug_keeps_its_traceback_bad_checkpoint_is_one_line(
    tmp_path, monkeypatch, capsys, dis5k_root, saved
):
    import evaluate

    argv = ["--config", REPO / "configs/demo.yaml", "--checkpoint", tmp_path / "nope.safetensors"]
    argv += ["--dataset", "dis5k", "--splits", "DIS-TE1", "--output-dir", tmp_path / "run"]
    # The splits are checked before prediction: they must exist to reach the checkpoint.
    argv += ["--data-root", dis5k_root, f"data.split_dir={tmp_path / 'splits'}"]
    code, err = cli(evaluate.main, argv, capsys)
    assert code == 2 and "nope.safetensors" in one_error_line(err) and "does not exist" in err

    def broken_prediction(*args, **kwargs):
        raise ValueError("an internal bug")

    # evaluate.py once caught every ValueError of this mode: the bug read as a user error.
    monkeypatch.setattr(inference, "predict_split", broken_prediction)
    argv[3] = saved[0]  # a checkpoint that exists, so that prediction is reached
    with pytest.raises(ValueError, match="an internal bug"):
        exit_status(evaluate.main, argv)
    assert "error:" not in capsys.readouterr().err
