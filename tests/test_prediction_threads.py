"""CPU prediction (inference, benchmark mode, ablation scoring) runs on as many torch threads
as leave a CPU to each loader worker, or on the count the user set (--threads,
train.num_threads), and puts torch's count back afterwards
(pmgsam.engine.predictor.prediction_threads)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Dict, List

import cv2
import numpy as np
import pytest
import torch
import yaml

from pmgsam.engine import inference, predictor
from pmgsam.engine.config import ExperimentConfig
from pmgsam.utils.config import from_dict, to_dict


@pytest.fixture
def forward_threads(stubbed_prediction: Dict[str, list]) -> List[int]:
    """torch's thread count at each forward pass (the model itself is skipped: maps of zeros);
    the loaders load in this process whatever worker count they were given."""
    return stubbed_prediction["threads"]


def _images(folder: Path) -> Path:
    folder.mkdir()
    for name in ("a", "b"):
        cv2.imwrite(str(folder / f"{name}.png"), np.full((20, 30, 3), 90, np.uint8))
    return folder


@pytest.mark.parametrize(
    "extra, expected",
    [
        ([], 1),  # 2 CPUs, 1 for the loader worker: 1 thread (torch's default: 4)
        (["--num-workers", "0"], 2),  # no worker: both CPUs
        (["--threads", "3"], 3),  # the user's count, even above the CPUs
    ],
)
def test_inference_cli_threads(
    two_cpus: None,
    torch_default: int,
    small_model_file,
    forward_threads,
    tmp_path,
    caplog,
    extra,
    expected,
) -> None:
    argv = ["--checkpoint", str(small_model_file[0]), "--input", str(_images(tmp_path / "im"))]
    argv += ["--out", str(tmp_path / "out"), "--num-workers", "1", *extra]
    with caplog.at_level("INFO"):
        assert inference.main(argv) == 0
    assert forward_threads == [expected]
    assert torch.get_num_threads() == torch_default  # put back for the rest of the process
    said = [r.getMessage() for r in caplog.records if "torch thread(s)" in r.getMessage()]
    if not extra:
        assert said == [
            "predicting on 1 torch thread(s): this process may use 2 CPU(s), 1 of them for "
            "image-loading workers (set --threads to choose)"
        ]


@pytest.mark.parametrize("num_threads, expected", [(None, 1), (3, 3)])
def test_predict_split_honours_train_num_threads(
    two_cpus: None,
    torch_default: int,
    small_model_file,
    forward_threads,
    dis5k_root: Path,
    tmp_path: Path,
    num_threads,
    expected,
) -> None:
    # Benchmark mode once ran on torch's default whatever the config's train.num_threads said.
    data = {"dataset": "dis5k", "root": str(dis5k_root), "num_workers": 1,
            "split_dir": str(tmp_path / "splits")}  # fmt: skip
    cfg = {"model": to_dict(small_model_file[1].config), "data": data, "output_dir": str(tmp_path)}
    cfg["train"] = {"device": "cpu", "num_threads": num_threads}
    from_dict(ExperimentConfig, cfg)
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump(cfg))
    inference.predict_split(
        config, small_model_file[0], "DIS-TE1", tmp_path / "p", "cpu", 2, progress=False
    )
    assert forward_threads == [expected] and torch.get_num_threads() == torch_default


def test_cuda_prediction_keeps_torch_threads_unless_set(two_cpus: None, torch_default: int):
    with predictor.prediction_threads(torch.device("cuda"), 2, None) as used:
        assert used == torch_default == torch.get_num_threads()
    with predictor.prediction_threads(torch.device("cuda"), 2, 1) as used:
        assert used == 1 == torch.get_num_threads()
    assert torch.get_num_threads() == torch_default


def test_the_cap_without_loader_workers_says_the_images_are_read_in_process(
    two_cpus: None, torch_default: int, caplog: pytest.LogCaptureFixture
) -> None:
    # Baseline mode reads its images itself: "0 of them for image-loading workers" read oddly.
    with (
        caplog.at_level("INFO"),
        predictor.prediction_threads(torch.device("cpu"), 0, None, "train.num_threads") as used,
    ):
        assert used == 2
    assert [r.getMessage() for r in caplog.records] == [
        "predicting on 2 torch thread(s): this process may use 2 CPU(s) and reads its images "
        "itself, with no image-loading workers (set train.num_threads to choose)"
    ]


def variant_predictor(small_model_file, tmp_path: Path, monkeypatch, data: dict, train: dict):
    """pmgsam.ablate's ``predict(part)`` of a variant at ``tmp_path/run`` (the small model's
    weights as its best) whose config has these ``data`` and ``train`` sections."""
    import argparse

    from pmgsam.ablation import scoring as ablate_scoring
    from pmgsam.engine import inference

    monkeypatch.setattr(inference, "checkpoint_model_fields", lambda *a, **k: {})
    cfg = {"model": to_dict(small_model_file[1].config), "data": data, "output_dir": str(tmp_path)}
    cfg["train"] = train
    config = tmp_path / "variant.yaml"
    config.write_text(yaml.safe_dump(cfg))
    opts = argparse.Namespace(device="cpu", batch_size=2, quiet=True)
    (tmp_path / "run" / "train").mkdir(parents=True)  # the best weights, hashed at the load
    shutil.copy(small_model_file[0], tmp_path / "run" / "train" / "model.safetensors")
    return ablate_scoring._predictor(config, tmp_path / "run", [], opts)


@pytest.mark.parametrize("num_threads, expected", [(None, 1), (3, 3)])
def test_ablation_scoring_honours_train_num_threads(
    two_cpus: None,
    torch_default: int,
    small_model_file,
    forward_threads,
    dis5k_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    num_threads,
    expected,
) -> None:
    # pmgsam.ablate --evaluate predicted on the cap's count whatever train.num_threads said.
    data = {"dataset": "dis5k", "root": str(dis5k_root), "num_workers": 1,
            "split_dir": str(tmp_path / "splits")}  # fmt: skip
    train = {"device": "cpu", "num_threads": num_threads}
    variant_predictor(small_model_file, tmp_path, monkeypatch, data, train)("DIS-TE1")
    assert forward_threads and set(forward_threads) == {expected}
    assert torch.get_num_threads() == torch_default
