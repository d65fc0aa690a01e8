"""Prediction loaders (inference, benchmark mode, ablation) and DIS-scoring pools (evaluate.py,
benchmark, baseline and ablation modes) use at most the CPUs the process may use, as training
does (test_loader_workers.py), with one info line per run naming the option the user gave."""

from __future__ import annotations

import argparse
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Tuple

import cv2
import numpy as np
import pytest
import yaml
from cli_cases import evaluate_main
from mask_cases import make_pair

from pmgsam.ablation import scoring as ablate_scoring
from pmgsam.data import build_dataset
from pmgsam.engine import inference
from pmgsam.engine.config import ExperimentConfig
from pmgsam.evaluation import combined, scoring
from pmgsam.utils.config import from_dict, load_config, to_dict


def _capped_lines(caplog: pytest.LogCaptureFixture) -> List[str]:
    return [r.getMessage() for r in caplog.records if " worker(s)" in r.getMessage()]


@pytest.fixture
def loaders(stubbed_prediction: Dict[str, list]) -> List[int]:
    """The ``num_workers`` of every prediction DataLoader. Each then loads in-process, and the
    model's forward pass is skipped (a map of zeros): only the loaders are under test."""
    return stubbed_prediction["workers"]


@pytest.fixture
def pools(monkeypatch: pytest.MonkeyPatch) -> List[int]:
    """The size of every DIS-scoring pool (threads stand in for the processes)."""
    sizes: List[int] = []

    class Recorded(ThreadPoolExecutor):
        _processes = None  # what _stop_pool reads of a process pool

        def __init__(self, workers: int, mp_context: Any = None, initializer: Any = None):
            sizes.append(workers)
            super().__init__(workers)

    monkeypatch.setattr(scoring, "ProcessPoolExecutor", Recorded)
    return sizes


@pytest.fixture
def config(small_model_file: Tuple[Path, Any], dis5k_root: Path, tmp_path: Path) -> Path:
    """A DIS5K experiment config of :func:`small_model_file`'s model asking for 4 workers."""
    data = {"dataset": "dis5k", "root": str(dis5k_root), "num_workers": 4,
            "split_dir": str(tmp_path / "splits")}  # fmt: skip
    cfg = {"model": to_dict(small_model_file[1].config), "data": data}
    cfg.update(train={"device": "cpu"}, output_dir=str(tmp_path / "unused"))
    from_dict(ExperimentConfig, cfg)
    path = tmp_path / "dis5k.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_inference_cli_loads_with_at_most_the_available_cpus(
    two_cpus: None, small_model_file: Tuple[Path, Any], tmp_path: Path, loaders: List[int], caplog
) -> None:
    images = tmp_path / "images"
    images.mkdir()
    for name in ("a", "b"):
        cv2.imwrite(str(images / f"{name}.png"), np.full((20, 30, 3), 90, np.uint8))
    argv = ["--checkpoint", str(small_model_file[0]), "--input", str(images)]
    with caplog.at_level("INFO"):
        assert inference.main([*argv, "--out", str(tmp_path / "o"), "--num-workers", "4"]) == 0
    assert loaders == [2] and len(list((tmp_path / "o").glob("*.png"))) == 2
    assert _capped_lines(caplog) == [
        "--num-workers=4 but this process may use 2 CPU(s): loading data with 2 worker(s)"
    ]


def test_predict_split_loads_each_split_with_at_most_the_cpus_logged_once(
    two_cpus: None,
    small_model_file: Tuple[Path, Any],
    config: Path,
    tmp_path: Path,
    loaders,
    caplog,
) -> None:
    reuse: Dict[str, Any] = {}  # as benchmark mode predicts split after split
    with caplog.at_level("INFO"):
        for split in ("DIS-TE1", "DIS-TE2"):
            inference.predict_split(
                config,
                small_model_file[0],
                split,
                tmp_path / split,
                "cpu",
                progress=False,
                reuse=reuse,
            )
    assert loaders == [2, 2]
    assert _capped_lines(caplog) == [
        "data.num_workers=4 but this process may use 2 CPU(s): loading data with 2 worker(s)"
    ]


def test_ablation_scoring_predicts_with_at_most_the_available_cpus(
    two_cpus: None,
    small_model_file: Tuple[Path, Any],
    config: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    loaders: List[int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from pmgsam.modeling import checkpoint

    monkeypatch.setattr(checkpoint, "checkpoint_model_fields", lambda *a: {})

    def predict_parts(spec: str, dataset: Any, predict: Any, *args: Any, **kwargs: Any):
        return spec, {"written": [str(predict(part)) for part in combined.split_parts(spec)]}

    monkeypatch.setattr(combined, "score_combined_split", predict_parts)
    opts = argparse.Namespace(device="cpu", batch_size=2, quiet=True, workers=1, no_hce=True)
    cfg = load_config(ExperimentConfig, config)
    datasets = {p: build_dataset(cfg.data, p, 64, train=False) for p in ("DIS-TE1", "DIS-TE2")}
    (tmp_path / "r" / "train").mkdir(parents=True)  # the best weights, hashed at the load
    shutil.copy(small_model_file[0], tmp_path / "r" / "train" / "model.safetensors")
    with caplog.at_level("INFO"):
        written = ablate_scoring._predict_and_score(
            config, tmp_path / "r", "DIS-TE1+DIS-TE2", [], opts, datasets
        )
    assert len(written["written"]) == 2 and loaders == [2, 2]
    assert _capped_lines(caplog) == [
        "data.num_workers=4 but this process may use 2 CPU(s): loading data with 2 worker(s)"
    ]


def _write_pairs(folder: Path, n: int) -> List[scoring.DisPair]:
    (folder / "pred").mkdir(parents=True)
    (folder / "gt").mkdir()
    for i in range(n):
        pred, gt = make_pair(24, 32, i)
        cv2.imwrite(str(folder / "pred" / f"m{i}.png"), pred)
        cv2.imwrite(str(folder / "gt" / f"m{i}.png"), gt)
    return [(f"m{i}", folder / "pred" / f"m{i}.png", folder / "gt" / f"m{i}.png", None)
            for i in range(n)]  # fmt: skip


def test_evaluate_cli_scores_with_at_most_the_available_cpus(
    two_cpus: None, tmp_path: Path, pools: List[int], caplog: pytest.LogCaptureFixture
) -> None:
    _write_pairs(tmp_path, 3)
    argv = ["--pred-dir", str(tmp_path / "pred"), "--gt-dir", str(tmp_path / "gt"), "--no-hce"]
    with caplog.at_level("INFO"):
        assert evaluate_main([*argv, "--out", str(tmp_path / "s.json"), "--workers", "4"]) == 0
    assert pools == [2]
    assert _capped_lines(caplog) == [
        "--workers=4 but this process may use 2 CPU(s): DIS scoring with 2 worker(s)"
    ]


def test_split_scoring_pools_are_capped_once_logged_and_never_above_the_images(
    two_cpus: None, tmp_path: Path, pools: List[int], caplog: pytest.LogCaptureFixture
) -> None:
    # Benchmark and baseline modes score split after split through evaluate_dis_pairs.
    pairs = _write_pairs(tmp_path, 3)
    with caplog.at_level("INFO"):
        one_image, _ = scoring.evaluate_dis_pairs(pairs[:1], 64, with_hce=False, progress=False)
        assert pools == [] and _capped_lines(caplog) == []  # one image: scored in-process
        for _ in range(2):
            summary, _ = scoring.evaluate_dis_pairs(pairs, 64, with_hce=False, progress=False)
    assert pools == [2, 2] and summary["num_images"] == 3
    assert _capped_lines(caplog) == [
        "--workers=64 but this process may use 2 CPU(s): DIS scoring with 2 worker(s)"
    ]
