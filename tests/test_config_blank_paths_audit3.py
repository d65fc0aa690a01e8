"""A run saved with '' where it meant not set (before empty paths were refused) still resumes,
and still counts as trained with the same config when an ablation grid reuses it: the two
readers of a saved config.yaml that the earlier tests did not reach."""

from __future__ import annotations

from pathlib import Path

import yaml

from pmgsam.ablation.checks import check_finished_config
from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.state import experiment_config
from pmgsam.utils.config import to_dict


def _old_run(run: Path) -> Path:
    run.mkdir()
    saved = to_dict(ExperimentConfig(output_dir=str(run)))
    saved["data"]["split_dir"] = ""
    saved["train"]["init_from"] = ""
    (run / "config.yaml").write_text(yaml.safe_dump(saved), encoding="utf-8")
    return run


def test_an_old_run_with_empty_paths_resumes(tmp_path) -> None:
    config = experiment_config(None, resume=_old_run(tmp_path / "run"))
    assert config.data.split_dir is None and config.train.init_from is None


def test_an_old_variant_with_empty_paths_is_trained_with_the_same_config(tmp_path) -> None:
    # '' then meant None, which the variant's config gives now: no difference to refuse.
    run = _old_run(tmp_path / "run")
    variant = tmp_path / "full.yaml"
    values = to_dict(ExperimentConfig())
    del values["output_dir"]
    variant.write_text(yaml.safe_dump(values), encoding="utf-8")
    check_finished_config(variant, run, [])


def test_an_old_run_resumes_with_its_config_named_another_way(tmp_path, monkeypatch) -> None:
    # `--resume run --config /abs/run/config.yaml`: the run's own file, read as saved.
    run = _old_run(tmp_path / "run")
    monkeypatch.chdir(tmp_path)
    for config, resume in ((run / "config.yaml", "run"), ("run/config.yaml", run)):
        config = experiment_config(config, resume=resume)
        assert config.data.split_dir is None and config.train.init_from is None
