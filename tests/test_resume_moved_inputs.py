"""Resuming after the frozen-branch files moved (allowed when they hold the run's weights), and
after the run's own weight files or dataset changed in place (refused: the resume would not be
exact)."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import yaml
from training_cases import tiny_dis5k_values

from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.trainer import Trainer
from pmgsam.utils.config import ConfigError, from_dict, to_dict

# The frozen Hiera is conftest's small one (the weight files, and each trainer's build of the
# config): where the files are and whether they changed does not depend on its size, and
# Hiera-T's 27 M weights were saved, built, loaded and digested per run.
pytestmark = pytest.mark.usefixtures("one_thread", "small_branches")


@pytest.fixture
def first_step_stops(monkeypatch):
    def interrupt(self, *args):
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_train_step", interrupt)


@pytest.fixture
def weight_files(tmp_path, small_tiny_model):
    """The tiny model's frozen branches saved as the official files would be."""
    folder = tmp_path / "weights"
    folder.mkdir()
    torch.save({"model_state": small_tiny_model.hiera.trunk.state_dict()}, folder / "hiera.pth")
    torch.save(small_tiny_model.u2net.state_dict(), folder / "u2netp.pth")
    return folder


def _started_run(tmp_path, small_tiny_model, weights: Path, dis5k_root, data_config):
    model = {
        **to_dict(small_tiny_model.config),
        "hiera_checkpoint": str(weights / "hiera.pth"),
        "u2net_checkpoint": str(weights / "u2netp.pth"),
    }
    values = tiny_dis5k_values(tmp_path / "run", dis5k_root, data_config)
    values.update(model=model, schedule={"epochs": 2, "warmup_epochs": 0})
    cfg = from_dict(ExperimentConfig, values)
    with pytest.raises(KeyboardInterrupt):  # a run whose `last` holds epoch 0
        Trainer(cfg).fit()
    return cfg


def _with_weights(cfg: ExperimentConfig, folder: Path) -> ExperimentConfig:
    model = replace(
        cfg.model,
        hiera_checkpoint=str(folder / "hiera.pth"),
        u2net_checkpoint=str(folder / "u2netp.pth"),
    )
    return replace(cfg, model=model)


def test_moved_weight_files_resume_when_they_hold_the_runs_weights(
    tmp_path, small_tiny_model, weight_files, dis5k_root, data_config, first_step_stops
):
    cfg = _started_run(tmp_path, small_tiny_model, weight_files, dis5k_root, data_config)
    run = Path(cfg.output_dir)
    moved = shutil.move(str(weight_files), str(tmp_path / "scratch"))
    with pytest.raises(ConfigError, match=r"hiera_checkpoint '.*' does not exist; if the file"):
        Trainer(cfg, resume=run)  # the run's own paths: gone
    with pytest.raises(KeyboardInterrupt):  # past set-up: the same weights at the new place
        Trainer(_with_weights(cfg, Path(moved)), resume=run).fit()
    saved = yaml.safe_load((run / "config.yaml").read_text())["model"]
    assert saved["u2net_checkpoint"] == str(Path(moved) / "u2netp.pth")

    # A file of the same architecture but other weights is refused; config.yaml stays.
    other = tmp_path / "other"
    shutil.copytree(moved, other)
    state = torch.load(other / "u2netp.pth", weights_only=True)
    first = next(k for k, v in state.items() if v.is_floating_point())
    state[first] = state[first] + 1e-3
    torch.save(state, other / "u2netp.pth")
    before = (run / "config.yaml").read_bytes()
    with pytest.raises(ConfigError, match=r"u2net_checkpoint moved .*frozen weights found there"):
        Trainer(_with_weights(cfg, other), resume=run)
    assert (run / "config.yaml").read_bytes() == before


def test_weights_replaced_in_place_are_refused(
    tmp_path, small_tiny_model, weight_files, dis5k_root, data_config, first_step_stops
):
    cfg = _started_run(tmp_path, small_tiny_model, weight_files, dis5k_root, data_config)
    state = torch.load(weight_files / "hiera.pth", weights_only=True)
    trunk = state["model_state"]
    first = next(k for k, v in trunk.items() if v.is_floating_point())
    trunk[first] = trunk[first] * 2
    torch.save(state, weight_files / "hiera.pth")
    with pytest.raises(ConfigError, match=r"frozen weights at the run's .* changed since"):
        Trainer(cfg, resume=cfg.output_dir)


def test_a_dataset_changed_in_place_is_refused(
    tmp_path, small_tiny_model, weight_files, dis5k_root, data_config, first_step_stops
):
    root = shutil.copytree(dis5k_root, tmp_path / "DIS5K")
    cfg = _started_run(tmp_path, small_tiny_model, weight_files, root, data_config)
    first = sorted((root / "DIS-TR" / "im").iterdir())[0]
    first.unlink()
    (root / "DIS-TR" / "gt" / f"{first.stem}.png").unlink()
    with pytest.raises(ConfigError, match=r"training and validation images at the run's data"):
        Trainer(cfg, resume=cfg.output_dir)
