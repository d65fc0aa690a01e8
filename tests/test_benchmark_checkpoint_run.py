"""Which run's config.yaml the benchmark reads to find the images a checkpoint trained on (its
test splits must hold none of them): the rule of ``state.run_dir_of``. Weights in a run's
``checkpoints/<name>/`` are that run's; a checkpoint folder kept elsewhere (with its
``state.pt``) is its own run, resumed into itself, where its config.yaml lies."""

from __future__ import annotations

from pathlib import Path

import yaml

from pmgsam.engine.config import ExperimentConfig
from pmgsam.evaluation.benchmark import _training_names
from pmgsam.utils.config import from_dict, to_dict


def _saved_config(root: Path) -> str:
    saved = to_dict(ExperimentConfig())
    saved["data"]["root"] = str(root)
    saved["train"]["init_from"] = ""
    return yaml.safe_dump(saved)


def _checkpoint(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"")
    (folder / "state.pt").write_bytes(b"")
    return folder


def test_a_checkpoint_folder_kept_outside_a_run_is_its_own_run(tmp_path, dis5k_root) -> None:
    data_cfg = from_dict(ExperimentConfig, {"data": {"root": str(dis5k_root)}}).data
    own = _checkpoint(tmp_path / "kept" / "best")
    (own / "config.yaml").write_text(_saved_config(dis5k_root), encoding="utf-8")
    for given in (own, own / "model.safetensors"):
        splits, names = _training_names(str(given), data_cfg)
        assert splits == ("DIS-TR",) and len(names) == 8  # the fixture's 8 DIS-TR images
    # parents[2] of its weights is tmp_path: a config.yaml there is no run's of these weights
    (own / "config.yaml").unlink()
    (tmp_path / "config.yaml").write_text(_saved_config(dis5k_root), encoding="utf-8")
    assert _training_names(str(own), data_cfg) == ((), set())


def test_weights_in_a_runs_checkpoints_are_that_runs(tmp_path, dis5k_root) -> None:
    data_cfg = from_dict(ExperimentConfig, {"data": {"root": str(dis5k_root)}}).data
    run = tmp_path / "run"
    best = _checkpoint(run / "checkpoints" / "best")
    (run / "config.yaml").write_text(_saved_config(dis5k_root), encoding="utf-8")
    (best / "config.yaml").write_text("not: a run config\n", encoding="utf-8")  # not read
    splits, names = _training_names(str(best), data_cfg)
    assert splits == ("DIS-TR",) and len(names) == 8
