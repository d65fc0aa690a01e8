"""Resuming a run with more epochs is refused (its lr schedule spans the epochs it was given);
the error names the way to train on, a new run from its weights (README, Training)."""

from __future__ import annotations

import pytest

from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.resume_checks import check_resume_config
from pmgsam.utils.config import ConfigError, from_dict, to_dict


def test_more_epochs_on_resume_points_at_init_from() -> None:
    saved = to_dict(ExperimentConfig())
    now = to_dict(ExperimentConfig())
    now["schedule"]["epochs"] = saved["schedule"]["epochs"] + 10
    with pytest.raises(ConfigError) as err:
        check_resume_config(saved, from_dict(ExperimentConfig, now), "RUN/checkpoints/last")
    message = str(err.value)
    assert "schedule.epochs" in message
    assert "train.init_from=RUN" in message
