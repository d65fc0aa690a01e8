"""Prediction commands never write over user files (issue 11 §1): every input byte is unchanged."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Dict

import cv2
import numpy as np
import pytest

from pmgsam.baselines.runner import run_baseline
from pmgsam.engine import inference
from pmgsam.engine.inference import main as inference_main
from pmgsam.engine.inference import predict_split
from pmgsam.modeling.checkpoint import save_model
from pmgsam.utils.cli import exit_status
from pmgsam.utils.config import to_dict
from pmgsam.utils.outputs import MANIFEST, OutputError, prepare_output_dir

S = 64


def tree_digest(root: Path) -> Dict[str, str]:
    """sha256 of every file under ``root`` (relative path -> digest)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# The frozen Hiera is conftest's small one (small_branches for any build): nothing here depends on
# its size, and each load copied and ran Hiera-T's 27 M weights.
pytestmark = pytest.mark.usefixtures("one_thread", "small_branches")


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory, small_tiny_model):
    model = small_tiny_model.eval()  # at S
    return save_model(model, tmp_path_factory.mktemp("w") / "model.safetensors"), model


@pytest.fixture
def weights(saved, monkeypatch: pytest.MonkeyPatch) -> Path:
    # Building the frozen branches takes seconds: every load returns a copy of one model.
    path, model = saved
    monkeypatch.setattr(inference, "load_pretrained", lambda p, **kw: copy.deepcopy(model))
    return path


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.jpg"):
        cv2.imwrite(str(folder / name), rng.integers(0, 255, (30, 40, 3), dtype=np.uint8))
    return folder


def run(argv) -> tuple:
    """Exit status of the inference CLI (through the CLI wrapper) for ``argv``."""
    return exit_status(inference_main, argv)


@pytest.mark.filterwarnings("ignore:image folder .* has 1 subfolder")
def test_inference_refuses_out_equal_to_input_folder(weights, images, capsys) -> None:
    before = tree_digest(images)
    # The same folder, however spelled (a path through a subfolder and back up included).
    (images / "sub").mkdir()
    for out in (images, images / "sub" / ".."):
        for extra in ([], ["--overwrite"]):  # --overwrite never lifts this refusal
            code = run(["--checkpoint", weights, "--input", images, "--out", out, *extra])
            err = capsys.readouterr().err
            assert code == 2 and "is the input folder" in err and str(images) in err
            assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert tree_digest(images) == before


def test_inference_writes_into_a_new_subfolder_of_the_input_folder(weights, images, capsys):
    # The input folder is listed without its subfolders: maps in images/pred can replace no
    # input file and are never read as images, by this run or a rerun (which used to be
    # refused: "could replace your input files").
    before = tree_digest(images)
    out = images / "pred"
    argv = ["--checkpoint", weights, "--input", images, "--num-workers", "0"]
    assert run([*argv, "--out", out, "--premask-out", images / "pre"]) == 0
    assert sorted(p.name for p in out.glob("*.png")) == ["a.png", "b.png"]
    assert sorted(p.name for p in (images / "pre").glob("*.png")) == ["a.png", "b.png"]
    after = tree_digest(images)
    assert {k: after[k] for k in before} == before
    capsys.readouterr()
    # A rerun lists the same two images (the maps are not inputs): all kept, none predicted.
    # Its own --out is not named as an unread subfolder; the Pre-Mask folder, not given now, is.
    with pytest.warns(UserWarning, match=r"subfolder\(s\) \(pre\): only the files directly"):
        assert run([*argv, "--out", out, "--skip-existing"]) == 0
    assert "wrote 0 probability maps" in capsys.readouterr().out
    with pytest.warns(UserWarning, match="only the files directly in it are read"):
        assert run([*argv, "--out", out]) == 0
    assert "wrote 2 probability maps" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "a.png", "b.png"]


def test_inference_refuses_foreign_files_unless_overwrite(weights, images, tmp_path, capsys):
    out = tmp_path / "gt"
    out.mkdir()
    # A GT folder: same stems as the images, so maps would replace the masks.
    cv2.imwrite(str(out / "a.png"), np.full((30, 40), 255, np.uint8))
    (out / "notes.txt").write_text("mine")
    before = tree_digest(out)
    code = run(["--checkpoint", weights, "--input", images, "--out", out])
    err = capsys.readouterr().err
    assert code == 2 and "did not write" in err and "a.png" in err and "--overwrite" in err
    assert tree_digest(out) == before
    code = run(
        [
            "--checkpoint",
            weights,
            "--input",
            images,
            "--out",
            out,
            "--overwrite",
            "--num-workers",
            "0",
        ]
    )
    assert code == 0
    after = tree_digest(out)
    assert after["notes.txt"] == before["notes.txt"] and after["a.png"] != before["a.png"]


def test_rerun_into_own_folder_needs_no_overwrite(weights, images, tmp_path) -> None:
    out = tmp_path / "pred"
    assert (
        run(["--checkpoint", weights, "--input", images, "--out", out, "--num-workers", "0"]) == 0
    )
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["files"] == ["a.png", "b.png"]
    assert sorted(p.name for p in out.glob("*.png")) == ["a.png", "b.png"]
    assert run(["--checkpoint", weights, "--input", images, "--out", out]) == 0
    (out / "c.png").write_bytes(b"user file")
    assert run(["--checkpoint", weights, "--input", images, "--out", out]) == 2


def test_benchmark_prediction_refuses_dataset_folders(
    weights, dis5k_root, data_config, tmp_path
) -> None:
    before = tree_digest(dis5k_root)
    data = to_dict(data_config("dis5k", dis5k_root))
    from pmgsam.engine.config import ExperimentConfig
    from pmgsam.utils.config import from_dict

    exp = from_dict(ExperimentConfig, {"data": data})
    for folder in ("DIS-TE1/gt", "DIS-TE1/im", "DIS-TE1/gt/sub"):
        with pytest.raises(OutputError, match="input folder"):
            predict_split(exp, weights, "DIS-TE1", dis5k_root / folder, device="cpu")
    assert tree_digest(dis5k_root) == before


def test_baseline_refuses_foreign_prediction_folder(dis5k_root, data_config, tmp_path) -> None:
    from pmgsam.data import build_dataset

    dataset = build_dataset(data_config("dis5k", dis5k_root), "DIS-TE1", S, train=False)
    pred = tmp_path / "run" / "pred" / "DIS-TE1"
    pred.mkdir(parents=True)
    (pred / f"{dataset.names[0]}.png").write_bytes(b"somebody's map")
    before = tree_digest(tmp_path / "run")
    # The guard runs before SAM is touched, so no SAM model is needed to see the refusal.
    with pytest.raises(OutputError, match="did not write"):
        run_baseline(None, dataset, tmp_path / "run", "DIS-TE1", progress=False)
    assert tree_digest(tmp_path / "run") == before


def test_guard_rules_on_plain_folders(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    with pytest.raises(OutputError, match="is the input folder"):
        prepare_output_dir(src, ["x.png"], [src])
    with pytest.raises(OutputError, match="lies inside the input folder"):
        prepare_output_dir(src / "a" / "b", ["x.png"], [None, src])
    # Inputs read without their subfolders: only the folder itself is refused.
    with pytest.raises(OutputError, match="is the input folder"):
        prepare_output_dir(src, ["x.png"], [src], flat_inputs=True)
    assert prepare_output_dir(src / "a" / "b", ["x.png"], [src], flat_inputs=True).is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        prepare_output_dir(tmp_path / "file", ["x.png"])
    out = prepare_output_dir(tmp_path / "new", ["x.png"], [src])
    assert json.loads((out / MANIFEST).read_text())["files"] == ["x.png"]
    # A later run adds names; the earlier ones stay ours.
    prepare_output_dir(out, ["y.png"], [src])
    assert json.loads((out / MANIFEST).read_text())["files"] == ["x.png", "y.png"]
    # A corrupt manifest vouches for nothing.
    (out / "x.png").write_bytes(b"")
    (out / MANIFEST).write_text("{")
    with pytest.raises(OutputError, match="did not write"):
        prepare_output_dir(out, ["x.png"])
