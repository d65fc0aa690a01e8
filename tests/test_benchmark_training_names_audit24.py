"""The benchmark's guard against scoring training images: which run's config it reads, when it
reads none, and how it names the images it refuses.

Expectations: the rule of ``state.run_dir_of`` (weights without a state beside them, outside a
run's ``checkpoints/``, belong to no run), and the fixture's file names listed by hand.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from types import SimpleNamespace

import pytest
import yaml
from test_benchmark_checkpoint_run import _checkpoint, _saved_config

from pmgsam.engine.config import ExperimentConfig
from pmgsam.evaluation.benchmark import _training_names, check_not_trained_on
from pmgsam.evaluation.scoring import EvaluationInputError
from pmgsam.utils.config import from_dict


@pytest.fixture
def data_cfg(dis5k_root):
    return from_dict(ExperimentConfig, {"data": {"root": str(dis5k_root)}}).data


def _train_stems(root):
    return sorted(p.stem for p in (root / "DIS-TR" / "im").iterdir())


def test_weights_with_a_config_but_no_state_belong_to_no_run(tmp_path, dis5k_root, data_cfg):
    # An export folder (weights and some config.yaml, no state.pt) is not a checkpoint folder:
    # its config.yaml need not be the config the weights were trained with.
    export = tmp_path / "export"
    export.mkdir()
    (export / "model.safetensors").write_bytes(b"")
    (export / "config.yaml").write_text(_saved_config(dis5k_root), encoding="utf-8")
    for given in (export, export / "model.safetensors"):
        assert _training_names(str(given), data_cfg) == ((), set())


@pytest.mark.skipif(sys.platform == "win32", reason="links need privileges there")
def test_a_relative_link_into_a_cache_given_from_its_folder_is_the_runs(
    tmp_path, dis5k_root, data_cfg, monkeypatch
) -> None:
    # Given as 'model.safetensors' from inside checkpoints/best: its folder is '.', whose
    # parent's name is no 'checkpoints' unless made absolute first.
    run = tmp_path / "run"
    best = _checkpoint(run / "checkpoints" / "best")
    (run / "config.yaml").write_text(_saved_config(dis5k_root), encoding="utf-8")
    blob = tmp_path / "cache" / "ab12"
    blob.parent.mkdir()
    (best / "model.safetensors").rename(blob)
    os.symlink(blob, best / "model.safetensors")
    monkeypatch.chdir(best)
    splits, names = _training_names("model.safetensors", data_cfg)
    assert splits == ("DIS-TR",) and sorted(names) == _train_stems(dis5k_root)


def test_a_run_of_another_dataset_is_not_read_nor_warned_about(
    tmp_path, dis5k_root, data_cfg, caplog
) -> None:
    run = tmp_path / "run"
    _checkpoint(run / "checkpoints" / "best")
    saved = yaml.safe_load(_saved_config(dis5k_root))
    saved["data"].update(dataset="cod10k", train_split="Train", val_split=None)
    saved["data"]["test_splits"] = ["Test"]
    (run / "config.yaml").write_text(yaml.safe_dump(saved), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="pmgsam"):
        assert _training_names(str(run), data_cfg) == ((), set())
    assert caplog.text == ""


def test_a_training_split_that_does_not_list_is_warned_about(tmp_path, dis5k_root, caplog):
    # Another copy of the data, whose DIS-TR lacks a mask: the training names cannot be read,
    # which is said, and the evaluation of the test splits goes on.
    root = tmp_path / "copy"
    shutil.copytree(dis5k_root, root)
    first = _train_stems(root)[0]
    (root / "DIS-TR" / "gt" / f"{first}.png").unlink()
    data_cfg = from_dict(ExperimentConfig, {"data": {"root": str(root)}}).data
    run = tmp_path / "run"
    _checkpoint(run / "checkpoints" / "best")
    (run / "config.yaml").write_text(_saved_config(dis5k_root), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="pmgsam"):
        assert _training_names(str(run), data_cfg) == ((), set())
    assert f"its training split is not found under {root}" in caplog.text
    assert f"{first}" in caplog.text  # the image without a mask, as the data error names it


def test_more_than_five_training_images_are_named_five_and_marked_cut(
    tmp_path, dis5k_root, data_cfg
) -> None:
    run = tmp_path / "run"
    _checkpoint(run / "checkpoints" / "best")
    (run / "config.yaml").write_text(_saved_config(dis5k_root), encoding="utf-8")
    stems = _train_stems(dis5k_root)
    assert len(stems) == 8
    split = SimpleNamespace(names=stems)
    shown = ", ".join(stems[:5])
    with pytest.raises(EvaluationInputError, match=rf"8 of the 8 images .*\({shown} \.\.\.\)"):
        check_not_trained_on(str(run), data_cfg, {"DIS-TE1": split})
    # Five or fewer are all named, with nothing marked cut.
    with pytest.raises(EvaluationInputError, match=rf"\({', '.join(stems[:5])}\); "):
        check_not_trained_on(str(run), data_cfg, {"DIS-TE1": SimpleNamespace(names=stems[:5])})
