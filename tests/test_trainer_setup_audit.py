"""Mutation audit of TrainerSetup's resume warning about older augmentation draws: a state
that an older pmgsam saved before any epoch ended (the 'last' written at the start) has drawn
nothing, so resuming it warns of nothing (an epoch-1 state warns: tests/test_augmentation_draws.py).

Expectation: the case a plausible wrong version (``epoch >= 0``) answers otherwise.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from training_cases import tiny_dis5k_values

from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.trainer import Trainer
from pmgsam.engine.trainer_setup import TrainerSetup
from pmgsam.utils.config import from_dict


@pytest.mark.usefixtures("one_thread", "small_branches")
def test_an_older_state_of_epoch_0_is_resumed_without_the_draws_warning(
    tmp_path: Path, dis5k_root: Path, data_config, monkeypatch
) -> None:
    values = tiny_dis5k_values(tmp_path / "run", dis5k_root, data_config)
    values["schedule"] = {"epochs": 1, "warmup_epochs": 0}
    cfg = from_dict(ExperimentConfig, values)
    saved = TrainerSetup.state_dict

    def older_state(self: TrainerSetup) -> dict:
        state = saved(self)
        del state["augmentation_draws"]
        return state

    monkeypatch.setattr(TrainerSetup, "state_dict", older_state)
    # The run's start writes 'last' at epoch 0; the interrupted first epoch saves nothing more.
    trainer = Trainer(cfg)
    trainer.close()
    monkeypatch.setattr(TrainerSetup, "state_dict", saved)
    resumed = Trainer(cfg, resume=cfg.output_dir)
    resumed.close()
    assert resumed.epoch == 0
    log = (Path(cfg.output_dir) / "train.log").read_text()
    assert "resum" in log.lower()
    # A check of `epoch >= 0` would warn here of draws that never happened.
    assert "saved by an older pmgsam" not in log, log
