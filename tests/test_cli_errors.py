"""Every CLI answers a bad input with one line and a non-zero exit, never a traceback (§4)."""

from __future__ import annotations

import copy
import importlib.util
import json
import re
from pathlib import Path
from typing import Callable, List

import cv2
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import pmgsam
from pmgsam.data import synthetic
from pmgsam.engine import inference
from pmgsam.modeling.checkpoint import save_model
from pmgsam.modeling.weights import CheckpointError, read_torch_checkpoint
from pmgsam.utils.cli import exit_status
from pmgsam.utils.messages import one_line
from pmgsam.utils.outputs import MANIFEST

REPO = Path(__file__).resolve().parents[1]
S = 64


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def saved(tmp_path_factory, seed0_tiny):
    model = seed0_tiny().eval()  # at S
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


def cli(main: Callable, argv: List, capsys) -> tuple:
    """(exit status, stderr) of ``main(argv)`` run the way ``python -m`` runs it."""
    code = exit_status(main, argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def one_error_line(err: str) -> str:
    """The single error line (progress bars may precede it on stderr, nothing may follow)."""
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error:" in ln]
    assert len(errors) == 1 and lines[-1] == errors[0], err
    # On a line of its own: not glued to a progress bar that the failure left open.
    assert re.match(r"[\w. -]+: error: ", errors[0]), err
    return errors[0]


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


def train_cli():
    """train.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("train_cli", REPO / "train.py")
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    return train


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_train_device_cuda_without_cuda(tmp_path, capsys):
    train = train_cli()
    argv = ["--config", str(REPO / "configs/demo.yaml"), "--output-dir", str(tmp_path / "r")]
    assert exit_status(train.main, [*argv, "train.device=cuda"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "train.device=cuda" in line and "CUDA is not available" in line


def test_train_takes_overrides_on_both_sides_of_an_option(tmp_path, capsys):
    train = train_cli()
    # A bad key after --output-dir is read as an override (and refused by name), not reported
    # by argparse as "unrecognized arguments".
    argv = ["--config", str(REPO / "configs/demo.yaml"), "data.num_workers=0"]
    argv += ["--output-dir", str(tmp_path / "r"), "optim.lrr=1"]
    assert exit_status(train.main, argv) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "optim.lrr" in line and "unrecognized" not in line


@pytest.mark.parametrize(
    "args,expected",
    [
        (["model.patch_size=0"], "config key 'model.patch_size'"),
        (["optim.lr=.inf"], "config key 'optim.lr'"),
        (["train.seed=99999999999999999999"], "config key 'train.seed'"),
        (["model.fusion_channels=[1,"], "override 'model.fusion_channels=[1,'"),
        (["--config", "latin1.yaml"], "latin1.yaml' is not UTF-8 text"),
        (["--config", "model5.yaml", "model.image_size=64"], "model5.yaml': config key 'model'"),
    ],
)
def test_train_bad_config_is_one_line(tmp_path, capsys, args, expected):
    train = train_cli()
    (tmp_path / "latin1.yaml").write_bytes(b"\xff\xfem\x00")
    (tmp_path / "model5.yaml").write_text("model: 5\n")
    args = [str(tmp_path / a) if a.endswith(".yaml") else a for a in args]
    config = [] if "--config" in args else ["--config", str(REPO / "configs/demo.yaml")]
    argv = [*config, "--output-dir", str(tmp_path / "r"), *args]
    code, err = cli(train.main, argv, capsys)
    assert code == 2 and expected in one_error_line(err)


def test_train_refuses_to_write_over_its_own_config_file(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    config = run / "config.yaml"
    text = f"base: {REPO / 'configs/demo.yaml'}\n# my notes\n"
    config.write_text(text)
    assert exit_status(train_cli().main, ["--config", config, "--output-dir", run]) == 2
    assert "would be replaced" in one_error_line(capsys.readouterr().err)
    assert config.read_text() == text and sorted(run.iterdir()) == [config]


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
    assert text.startswith(f"cannot read checkpoint '{path}': not a PyTorch checkpoint")
    assert not text.endswith(": 101")


def test_load_pretrained_accepts_run_folder_and_names_empty_one(saved, tmp_path):
    path, model = saved
    run = path.parents[2]
    loaded = pmgsam.load_pretrained(run)
    for key, value in model.trainable_state_dict().items():
        assert torch.equal(loaded.trainable_state_dict()[key], value)
    with pytest.raises(CheckpointError, match="no PMG-SAM weights in the folder") as err:
        pmgsam.load_pretrained(tmp_path)
    assert "does not exist" not in str(err.value)


def test_synthetic_cli(tmp_path, capsys):
    (tmp_path / "DIS5K").mkdir()
    (tmp_path / "DIS5K" / "mine.txt").write_text("user data")
    argv = ["--layout", "dis5k", "--out", tmp_path, "--num", 2, "--no-progress"]
    code, err = cli(synthetic.main, argv, capsys)
    assert code == 2 and "not made by this generator" in one_error_line(err)
    assert (tmp_path / "DIS5K" / "mine.txt").read_text() == "user data"
    code, err = cli(synthetic.main, [*argv[:4], "--num", 0], capsys)
    assert code == 2 and "--num must be at least 2" in err
    code, err = cli(synthetic.main, [*argv[:4], "--size", "20x30"], capsys)
    assert code == 2 and "size must be at least 24x24, got '20x30'" in err


def test_synthetic_cli_names_its_own_overwrite_option(tmp_path, capsys):
    argv = ["--layout", "nc4k", "--out", tmp_path, "--num", 2, "--size", "24x24", "--no-progress"]
    assert cli(synthetic.main, argv, capsys)[0] == 0
    code, err = cli(synthetic.main, [*argv, "--seed", 1], capsys)
    assert code == 2 and one_error_line(err).endswith("other parameters; pass --overwrite"), err


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


def test_commands_log_the_package_info_lines_in_one_dated_format():
    import subprocess
    import sys

    code = (
        "import logging\n"
        "from pmgsam.utils.cli import run_cli\n"
        "def main():\n"
        "    logging.getLogger('pmgsam.engine.x').info('predicting 3 images')\n"
        "    logging.getLogger('otherlib').info('chatter')\n"
        "    logging.getLogger('otherlib').warning('worth seeing')\n"
        "run_cli(main, 'prog')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    lines = done.stderr.splitlines()
    assert done.returncode == 0 and len(lines) == 2, done.stderr
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
    assert re.fullmatch(rf"{stamp} INFO pmgsam.engine.x: predicting 3 images", lines[0])
    assert re.fullmatch(rf"{stamp} WARNING otherlib: worth seeing", lines[1])


@pytest.mark.parametrize(
    "argv, refused",
    [
        (["--config", "c.yaml", "--checkpoint", "w", "--limit", "3"], "--limit is not used by"),
        (["--pred-dir", "p", "--gt-dir", "g", "--out", "o.json", "--threshold", "0.9",
          "--limit", "2"], "--threshold, --limit are not used by DIS scoring"),
        (["--task", "cos", "--pred-dir", "p", "--gt-json", "g", "--out", "o", "--no-hce"],
         "--no-hce is not used by COS scoring"),
        (["--baseline", "sam-box", "--config", "c", "--checkpoint", "w", "--batch-size", "3"],
         "--batch-size is not used by baseline mode"),
        (["--config", "c.yaml", "--checkpoint", "w", "--task", "cos"], "--task is not used"),
    ],
)  # fmt: skip
def test_evaluate_refuses_options_its_mode_would_ignore(argv, refused, capsys):
    # Before, e.g. --limit 3 in benchmark mode silently scored every image of the split.
    import evaluate

    assert exit_status(evaluate.main, argv) == 2
    assert refused in capsys.readouterr().err


@pytest.mark.parametrize(
    "config, option, refused",
    [
        ("demo.yaml", ["--threshold", "0.3"], "--threshold is not used by benchmark mode on DIS"),
        ("demo.yaml", ["--protocol", "matched"], "--protocol is not used by benchmark mode on DIS"),
        ("pmgsam_cod10k_ft.yaml", ["--no-hce"], "--no-hce is not used by benchmark mode on COS"),
        ("pmgsam_cod10k_ft.yaml", ["--task", "dis"], "--task is not used by benchmark mode"),
    ],
)
def test_benchmark_mode_refuses_the_other_protocols_options(config, option, refused, capsys):
    # The dataset decides the protocol: DIS5K scored with --protocol matched, or COD10K with
    # --no-hce or --task dis, ran as if they were not given and recorded nothing of them.
    import evaluate

    argv = ["--config", str(REPO / "configs" / config), "--checkpoint", "w", *option]
    assert exit_status(evaluate.main, argv) == 2
    assert refused in capsys.readouterr().err


def test_help_shows_defaults_that_are_set_and_none_that_are_not():
    import evaluate

    text = " ".join(evaluate.build_parser().format_help().split())
    assert "COS: foreground = prob > t (default: 0.5)" in text
    assert "(default: None)" not in text and "(default: False)" not in text


@pytest.mark.parametrize("module", ["pmgsam.ablate", "pmgsam.engine.inference"])
def test_modules_run_as_commands_log_under_the_package(module):
    # Run with `python -m`, a module's __name__ is "__main__": a logger named after it would
    # sit outside the "pmgsam" logger that run_cli shows, and its INFO lines would be lost.
    import ast

    # Read, not run: as "__main__" the module would run its command.
    source = (REPO / (module.replace(".", "/") + ".py")).read_text()
    names = [
        node.value.args[0]
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Assign)
        and [getattr(t, "id", None) for t in node.targets] == ["logger"]
        and isinstance(node.value, ast.Call)
    ]
    assert len(names) == 1 and isinstance(names[0], ast.Constant) and names[0].value == module
