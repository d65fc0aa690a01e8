"""Evaluation never writes split files into the dataset folder: it reads the saved ones and
draws a missing one in memory (only training saves them). A benchmark refused for scoring
training images (``data.split_seed=1`` against a run trained with seed 0) used to leave that
seed's split file in ``NC4K/pmgsam_splits/`` behind."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from training_cases import trained_run_folder

import evaluate
from pmgsam.data.layouts import list_split
from pmgsam.data.splits import SPLIT_DIR_NAME, read_only_splits
from pmgsam.evaluation.scoring import EvaluationInputError

ROOT = Path(__file__).resolve().parents[1]


def _trained_run(tmp_path: Path, data) -> Path:
    """A run folder as train.py leaves it (config.yaml, best weights), its split files saved."""
    run = trained_run_folder(tmp_path, data)
    list_split(data, "train:train")  # as training does: draws and saves its splits
    return run


def test_a_refused_benchmark_writes_no_split_file(nc4k_root, data_config, tmp_path) -> None:
    data = tmp_path / "NC4K"
    shutil.copytree(nc4k_root, data, ignore=shutil.ignore_patterns(SPLIT_DIR_NAME))
    trained = data_config("nc4k", data, split_seed=0, test_fraction=0.5, split_dir=None)
    run = _trained_run(tmp_path, trained)
    saved = sorted(p.name for p in (data / SPLIT_DIR_NAME).iterdir())
    assert saved and all("seed0" in n for n in saved)
    argv = ["--config", ROOT / "configs" / "pmgsam_nc4k_ft.yaml", "--checkpoint", run,
            "--data-root", data, "--output-dir", tmp_path / "out", "--device", "cpu",
            "data.split_seed=1", "data.test_fraction=0.5"]  # fmt: skip
    with pytest.raises(EvaluationInputError, match="were training images of the checkpoint"):
        evaluate.main([str(a) for a in argv])
    assert sorted(p.name for p in (data / SPLIT_DIR_NAME).iterdir()) == saved
    assert not (tmp_path / "out").exists()


def test_a_split_drawn_without_saving_is_the_one_training_saves(
    nc4k_root, data_config, tmp_path
) -> None:
    cfg = data_config("nc4k", nc4k_root, split_seed=3, test_fraction=0.3)
    with read_only_splits():
        drawn = list_split(cfg, "test").names
    assert not Path(cfg.split_dir).exists()  # nothing saved
    saved = list_split(cfg, "test").names  # outside: drawn and saved, as training does
    assert drawn == saved and len(list(Path(cfg.split_dir).iterdir())) == 1
    other = list_split(replace(cfg, split_seed=4), "test").names
    assert other != saved  # another seed draws another split: the comparison can fail


def test_the_analyses_read_split_files_without_saving_one(nc4k_root, tmp_path) -> None:
    from pmgsam.analysis.inputs import split_images

    data = tmp_path / "NC4K"
    shutil.copytree(nc4k_root, data, ignore=shutil.ignore_patterns(SPLIT_DIR_NAME))
    config = ROOT / "configs" / "pmgsam_nc4k_ft.yaml"
    overrides = [f"data.root={data}", "data.split_seed=5", "data.test_fraction=0.5"]
    images = split_images(config, "test", overrides)
    assert images.stems and not (data / SPLIT_DIR_NAME).exists()
