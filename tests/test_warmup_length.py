"""A warm-up as long as the run (or longer) is refused where a run trains: the learning rate
would rise linearly to ``optim.lr`` only at the last step the run never reaches, and neither the
step decay nor the plateau schedule would ever act. A saved run's config stays loadable to
predict and evaluate with (only :meth:`ExperimentConfig.validate_training` refuses it)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pmgsam.engine.config import ExperimentConfig, ScheduleConfig
from pmgsam.engine.state import experiment_config
from pmgsam.utils.config import ConfigError, load_config, to_dict

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("warmup, epochs", [(24, 24), (25, 24), (1, 1)])
def test_a_warmup_reaching_the_last_epoch_is_refused_naming_both_keys(
    warmup: int, epochs: int
) -> None:
    overrides = [f"schedule.warmup_epochs={warmup}", f"schedule.epochs={epochs}"]
    cfg = load_config(ExperimentConfig, CONFIGS / "demo.yaml", overrides)
    words = rf"'schedule\.warmup_epochs' \({warmup}\) .*'schedule\.epochs' \({epochs}\)"
    with pytest.raises(ConfigError, match=words):
        cfg.validate_training()


def test_a_short_finetune_of_the_dis_config_names_the_warmup_it_inherits(tmp_path: Path) -> None:
    # pmgsam_dis5k.yaml warms up for 10 epochs: a 5-epoch run of it never leaves the warm-up.
    with pytest.raises(ConfigError, match=r"warmup_epochs' \(10\).*'schedule\.epochs' \(5\)"):
        experiment_config(
            CONFIGS / "pmgsam_dis5k.yaml", ["schedule.epochs=5"], output_dir=tmp_path / "run"
        )


def test_the_longest_warmup_that_still_ends_inside_the_run_is_accepted() -> None:
    for warmup, epochs in [(23, 24), (0, 1)]:
        overrides = [f"schedule.warmup_epochs={warmup}", f"schedule.epochs={epochs}"]
        cfg = load_config(ExperimentConfig, CONFIGS / "demo.yaml", overrides)
        cfg.validate_training()
        assert (cfg.schedule.warmup_epochs, cfg.schedule.epochs) == (warmup, epochs)


def test_a_saved_run_with_such_a_schedule_still_loads_but_does_not_resume(tmp_path: Path) -> None:
    # Written before the check existed: predicting and evaluating read its model and data.
    run = tmp_path / "run"
    run.mkdir()
    saved = to_dict(ExperimentConfig(schedule=ScheduleConfig(epochs=5, warmup_epochs=10)))
    (run / "config.yaml").write_text(yaml.safe_dump(saved))
    assert load_config(ExperimentConfig, run / "config.yaml").schedule.warmup_epochs == 10
    with pytest.raises(ConfigError, match=r"'schedule\.warmup_epochs' \(10\).*config\.yaml"):
        experiment_config(None, resume=run)
