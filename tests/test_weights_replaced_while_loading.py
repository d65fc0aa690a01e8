"""The SHA-256 a prediction run records (output-folder manifests, run.json) is of the weights file
the model was loaded from: a file replaced between hashing and loading is refused, naming it.

Inference used to hash after loading (or before, with --skip-existing), and benchmark and
baseline mode once before loading, so a training run replacing its best weights in between
left maps recorded under another file's SHA-256. Each test's loader replaces the file (another
file renamed over it, as a training run's checkpoint writes do) right when it loads.
"""

from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path
from typing import Any, List

import numpy as np
import pytest
import torch
import yaml
from cli_cases import evaluate_main
from mask_cases import BoxPredictor
from PIL import Image

from pmgsam.baselines import sam as sam_family
from pmgsam.engine import inference
from pmgsam.modeling.checkpoint import check_loaded, hash_weights
from pmgsam.modeling.weights import CheckpointError
from pmgsam.utils.config import to_dict

CHANGED = "changed between hashing and loading"

pytestmark = [
    pytest.mark.usefixtures("one_thread"),
    pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
]


def replace(path: Path) -> None:
    """Rename another file over ``path``: its bytes with the last one changed (a tensor byte,
    so the safetensors header still reads)."""
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    tmp = path.with_name(f".{path.name}.new")
    tmp.write_bytes(bytes(data))
    os.replace(tmp, path)


@pytest.fixture
def weights(small_model_file, tmp_path: Path) -> Path:
    """A copy of the small PMG-SAM weights file (each test replaces it)."""
    return Path(shutil.copy(small_model_file[0], tmp_path / "model.safetensors"))


def replacing_loader(monkeypatch, model: torch.nn.Module, path: Path, when: str) -> List[str]:
    """Make inference load a copy of ``model``, replacing ``path`` ``before`` or ``after``."""
    calls: List[str] = []

    def load(checkpoint: Any, **fields: Any) -> torch.nn.Module:
        calls.append(str(checkpoint))
        if when == "before":
            replace(path)
        loaded = copy.deepcopy(model)
        if when == "after":
            replace(path)
        return loaded

    monkeypatch.setattr(inference, "load_pretrained", load)
    return calls


@pytest.mark.parametrize(
    "when, extra", [("after", []), ("before", ["--skip-existing"])], ids=["straight", "resumed"]
)
def test_inference_refuses_weights_replaced_while_loading(
    weights, small_model_file, tmp_path: Path, monkeypatch, when: str, extra: list
) -> None:
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.full((24, 32, 3), 90, np.uint8)).save(images / "a.png")
    calls = replacing_loader(monkeypatch, small_model_file[1], weights, when)
    out = tmp_path / "out"
    argv = ["--checkpoint", weights, "--input", images, "--out", out, "--device", "cpu",
            "--num-workers", 0, *extra]  # fmt: skip
    with pytest.raises(CheckpointError, match=CHANGED) as err:
        inference.main([str(a) for a in argv])
    assert (
        calls and f"'{weights}'" in str(err.value) and "replaced by another file" in str(err.value)
    )
    assert not list(out.glob("*.png"))


@pytest.fixture
def config(small_model_file, dis5k_root: Path, tmp_path: Path) -> Path:
    data = {"dataset": "dis5k", "root": str(dis5k_root), "train_split": "DIS-TR",
            "val_split": "DIS-VD", "test_splits": ["DIS-TE1"], "num_workers": 0,
            "split_dir": str(tmp_path / "splits")}  # fmt: skip
    cfg = {"model": to_dict(small_model_file[1].config), "data": data, "train": {"device": "cpu"}}
    path = tmp_path / "dis5k.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_benchmark_refuses_weights_replaced_after_hashing(
    weights, small_model_file, config: Path, tmp_path: Path, monkeypatch
) -> None:
    calls = replacing_loader(monkeypatch, small_model_file[1], weights, "before")
    run = tmp_path / "run"
    with pytest.raises(CheckpointError, match=CHANGED) as err:
        evaluate_main(["--config", config, "--checkpoint", weights, "--device", "cpu",
                       "--quiet", "--output-dir", run, "--workers", 1])  # fmt: skip
    assert calls and f"'{weights}'" in str(err.value)
    assert not list(run.rglob("*.png")) and not (run / "run.json").exists()


def test_baseline_refuses_a_checkpoint_replaced_after_hashing(
    config: Path, tmp_path: Path, monkeypatch
) -> None:
    checkpoint = tmp_path / "sam_vit_b.pth"
    checkpoint.write_bytes(b"stand-in SAM weights")

    def load(*args: Any, **kwargs: Any) -> torch.nn.Module:
        replace(checkpoint)
        return torch.nn.Linear(2, 2)

    monkeypatch.setattr(sam_family, "load", load)
    monkeypatch.setattr(sam_family, "predictor", lambda model: BoxPredictor())
    run = tmp_path / "run"
    with pytest.raises(CheckpointError, match=CHANGED) as err:
        evaluate_main(["--baseline", "sam-box", "--model-type", "vit_b", "--checkpoint",
                       checkpoint, "--config", config, "--device", "cpu", "--quiet",
                       "--output-dir", run, "--speed-iters", 0])  # fmt: skip
    assert f"'{checkpoint}'" in str(err.value)
    assert not list(run.rglob("*.png")) and not (run / "run.json").exists()


def test_check_loaded_passes_an_unchanged_file_and_names_an_in_place_rewrite(
    tmp_path: Path,
) -> None:
    path = tmp_path / "w.pth"
    path.write_bytes(b"abc")
    hashed = hash_weights(path)
    # sha256(b"abc"), as hashlib and sha256sum give it.
    assert hashed.sha256 == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    check_loaded(hashed)
    with open(path, "r+b") as f:  # same inode, one more byte
        f.seek(0, 2)
        f.write(b"d")
    with pytest.raises(CheckpointError, match=rf"'{path}' {CHANGED} \(rewritten in place\)"):
        check_loaded(hashed)


def test_check_loaded_names_a_same_size_rewrite_and_a_same_time_replacement(
    tmp_path: Path,
) -> None:
    """A checkpoint keeps its size from one save to the next: an in-place rewrite shows only in
    the modification time, and a file of another origin renamed over it with the old time
    (``rsync -t``, ``cp -p``) only in the inode."""
    path = tmp_path / "w.pth"
    path.write_bytes(b"abc")
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    hashed = hash_weights(path)
    with open(path, "r+b") as f:  # same inode, same size, other bytes
        f.write(b"abd")
    os.utime(path, ns=(2_000_000_000, 2_000_000_000))
    with pytest.raises(CheckpointError, match=r"\(rewritten in place\)"):
        check_loaded(hashed)
    path.write_bytes(b"abc")
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    hashed = hash_weights(path)
    other = tmp_path / "other.pth"
    other.write_bytes(b"xyz")
    os.utime(other, ns=(1_000_000_000, 1_000_000_000))
    os.replace(other, path)  # size and time as hashed: only the inode differs
    with pytest.raises(CheckpointError, match=r"\(replaced by another file\)"):
        check_loaded(hashed)
    path.unlink()  # gone (a training run rotating its weights): named, not a raw OSError
    with pytest.raises(CheckpointError, match=rf"'{path}' {CHANGED} \(it can no longer be read"):
        check_loaded(hashed)


def test_a_file_rewritten_while_it_is_hashed_is_refused(tmp_path: Path, monkeypatch) -> None:
    """The version is taken before the bytes are read: one taken after would match a file
    rewritten during the read, whose hash is then of neither version."""
    from pmgsam.modeling import checkpoint
    from pmgsam.utils.io import file_sha256

    path = tmp_path / "w.pth"
    path.write_bytes(b"abc")
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))

    def hash_then_rewrite(file: Path) -> str:
        digest = file_sha256(file)
        file.write_bytes(b"abd")  # as if written while being read
        os.utime(file, ns=(2_000_000_000, 2_000_000_000))
        return digest

    monkeypatch.setattr(checkpoint, "file_sha256", hash_then_rewrite)
    hashed = hash_weights(path)
    with pytest.raises(CheckpointError, match=CHANGED):
        check_loaded(hashed)


def test_load_hashed_refuses_a_file_replaced_while_the_model_loads(weights: Path) -> None:
    from pmgsam.modeling.checkpoint import load_hashed

    def load_model() -> torch.nn.Module:
        replace(weights)
        return torch.nn.Linear(2, 2)

    with pytest.raises(CheckpointError, match=rf"'{weights}' {CHANGED} \(replaced"):
        load_hashed(load_model, weights)


def test_the_producer_is_read_from_the_version_hashed(
    weights: Path, small_model_file, tmp_path: Path
) -> None:
    """The manifests' producer (image size, frozen branches' SHA-256) is read from the file's
    header once the model is loaded: a file replaced after the load's own check but before
    that read is refused too."""
    from pmgsam.engine.resume_plan import load_and_plan
    from pmgsam.modeling.checkpoint import load_hashed

    def load(hashed: Any) -> Any:
        loaded = load_hashed(lambda: copy.deepcopy(small_model_file[1]), weights, hashed)
        replace(weights)
        return loaded

    outputs = [(tmp_path / "out", "--out", "final")]
    with pytest.raises(CheckpointError, match=rf"'{weights}' {CHANGED}"):
        load_and_plan(outputs, weights, "none", {}, False, load)


def test_benchmark_goes_on_when_the_file_is_replaced_after_the_model_loaded(
    weights, small_model_file, config: Path, tmp_path: Path, monkeypatch
) -> None:
    """The model, loaded once for every split, is the version hashed: a training run replacing
    its best weights while the first split is predicted changes none of the maps of the next
    splits, which record the SHA-256 of the weights that made them."""
    import hashlib

    from pmgsam.utils.outputs import read_manifest

    first = hashlib.sha256(weights.read_bytes()).hexdigest()
    calls = replacing_loader(monkeypatch, small_model_file[1], weights, "none")
    predict_split = inference.predict_split

    def predict_then_replace(*args: Any, **kwargs: Any) -> Path:
        folder = predict_split(*args, **kwargs)
        replace(weights)  # a new best checkpoint, once the first split is done
        return folder

    monkeypatch.setattr(inference, "predict_split", predict_then_replace)
    run = tmp_path / "run"
    argv = ["--config", config, "--checkpoint", weights, "--device", "cpu", "--quiet",
            "--output-dir", run, "--workers", 1, "--splits", "DIS-TE1,DIS-TE2"]  # fmt: skip
    assert evaluate_main(argv) == 0
    assert len(calls) == 1
    for split in ("DIS-TE1", "DIS-TE2"):
        assert read_manifest(run / "pred" / split)["producer"]["weights_sha256"] == first
    assert yaml.safe_load((run / "run.json").read_text())["meta"]["weights_sha256"] == first


def test_the_hash_covers_every_byte_of_a_file_larger_than_one_read_block(tmp_path: Path) -> None:
    # Weights files are hundreds of MiB, read in 1 MiB blocks: two that differ only past the
    # first block must hash apart (a stale skip would reuse maps of other weights). hashlib on
    # the whole bytes is the reference.
    import hashlib

    from pmgsam.modeling.checkpoint import weights_digest

    data = bytearray(np.random.default_rng(0).bytes((3 << 20) + 5))
    file = tmp_path / "w.safetensors"
    file.write_bytes(bytes(data))
    first = hash_weights(file).sha256
    assert first == weights_digest(file) == hashlib.sha256(data).hexdigest()
    data[-1] ^= 1  # the last byte, in the fourth block
    file.write_bytes(bytes(data))
    assert hash_weights(file).sha256 == hashlib.sha256(data).hexdigest() != first
