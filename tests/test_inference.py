"""Inference: folder prediction writes original-size PNGs equal to the model's probabilities."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

import pmgsam
from pmgsam.data import EvalTransform, unpad_and_resize
from pmgsam.engine.inference import ImageFolder, Predictor, main, resolve_weights
from pmgsam.modeling.checkpoint import save_model
from pmgsam.modeling.weights import CheckpointError

S = 64


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    model = pmgsam.build_model("pmgsam_tiny", image_size=S)
    root = tmp_path_factory.mktemp("weights")
    torch.save({"model_state": model.hiera.trunk.state_dict()}, root / "hiera.pth")
    torch.save(model.u2net.state_dict(), root / "u2netp.pth")
    model = pmgsam.build_model(
        model.config,
        hiera_checkpoint=str(root / "hiera.pth"),
        u2net_checkpoint=str(root / "u2netp.pth"),
    )
    path = save_model(model, root / "run" / "checkpoints" / "best" / "model.safetensors")
    return path, model.eval()


@pytest.fixture()
def image_dir(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    folder.mkdir()
    cv2.imwrite(str(folder / "wide.jpg"), rng.integers(0, 255, (40, 90, 3), dtype=np.uint8))
    cv2.imwrite(str(folder / "tall.png"), rng.integers(0, 255, (120, 50), dtype=np.uint8))
    cv2.imwrite(str(folder / "img10.png"), rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    cv2.imwrite(str(folder / "img2.png"), rng.integers(0, 255, (33, 31, 3), dtype=np.uint8))
    return folder


def test_predictions_match_model_at_original_size(weights, image_dir, tmp_path):
    path, model = weights
    dataset = ImageFolder(image_dir, S)
    assert dataset.names == ["img2", "img10", "tall", "wide"]  # natural order
    out = Predictor(model, "cpu").predict_dataset(dataset, tmp_path / "pred", batch_size=3)
    for name, image_path in zip(dataset.names, dataset.image_paths):
        written = cv2.imread(str(out / f"{name}.png"), cv2.IMREAD_UNCHANGED)
        original = cv2.imread(str(image_path), cv2.IMREAD_UNCHANGED)
        assert written.dtype == np.uint8 and written.shape == original.shape[:2]
        sample = dataset[dataset.names.index(name)]
        with torch.no_grad():
            prob = torch.sigmoid(model(sample["image"][None])["mask"])[0, 0]
        expected = unpad_and_resize(prob, sample["orig_size"], S)
        expected = np.rint(expected.numpy() * 255).astype(np.uint8)
        assert np.abs(written.astype(int) - expected.astype(int)).max() <= 1


def test_cli_accepts_run_directory(weights, image_dir, tmp_path, capsys):
    path, _ = weights
    run_dir = path.parent.parent.parent
    assert resolve_weights(run_dir) == path
    main(["--checkpoint", str(run_dir), "--input", str(image_dir), "--out", str(tmp_path / "o")])
    assert "wrote 4 probability maps" in capsys.readouterr().out
    assert sorted(p.stem for p in (tmp_path / "o").glob("*.png")) == sorted(
        ["img2", "img10", "tall", "wide"]
    )


def test_bad_inputs(tmp_path, weights):
    with pytest.raises(CheckpointError, match="nope.safetensors"):
        resolve_weights(tmp_path / "nope.safetensors")
    with pytest.raises(CheckpointError, match="no PMG-SAM weights"):
        resolve_weights(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no images"):
        ImageFolder(empty, S)
    with pytest.raises(ValueError, match="amp must be"):
        Predictor(weights[1], "cpu", amp="fp8")


def test_eval_transform_is_what_the_model_sees(weights):
    # A 2:1 image is resized to S×S/2 and padded: the padded half must be zeros.
    image = np.full((20, 40, 3), 255, np.uint8)
    sample = EvalTransform(S)(image)
    assert torch.all(sample["image"][:, : S // 2] == 1.0)
    assert torch.all(sample["image"][:, S // 2 :] == 0.0)
