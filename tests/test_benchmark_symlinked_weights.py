"""Which run's config.yaml the benchmark reads for weights reached through a symbolic link.

The images a checkpoint trained on (which its test splits must not hold) are read from its run's
config.yaml. A link to the run folder leads to the same file either way; weights stored as a
link into a cache (DVC, git-annex), or a ``checkpoints/best`` linked to a copy kept elsewhere,
lie in no run where the link points: the run is where the link lies, as
``state.run_dir_of`` reads it, rather than the check being skipped.
"""

from __future__ import annotations

import os
import sys

import pytest
from test_benchmark_checkpoint_run import _checkpoint, _saved_config

from pmgsam.engine.config import ExperimentConfig
from pmgsam.evaluation.benchmark import _training_names
from pmgsam.utils.config import from_dict

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="links need privileges there")

TRAINED = (("DIS-TR",), 8)  # the fixture's 8 DIS-TR images


def _trained(given, data_cfg):
    splits, names = _training_names(str(given), data_cfg)
    return splits, len(names)


@pytest.fixture
def data_cfg(dis5k_root):
    return from_dict(ExperimentConfig, {"data": {"root": str(dis5k_root)}}).data


def test_a_linked_run_folder_reads_its_own_config(tmp_path, dis5k_root, data_cfg) -> None:
    real = tmp_path / "data" / "x"
    _checkpoint(real / "checkpoints" / "best")
    (real / "config.yaml").write_text(_saved_config(dis5k_root), encoding="utf-8")
    (tmp_path / "runs").mkdir()
    os.symlink(real, tmp_path / "runs" / "x")
    for given in (tmp_path / "runs" / "x", tmp_path / "runs" / "x" / "checkpoints" / "best"):
        assert _trained(given, data_cfg) == TRAINED


def test_weights_linked_into_a_cache_are_the_run_s(tmp_path, dis5k_root, data_cfg) -> None:
    run = tmp_path / "run"
    best = _checkpoint(run / "checkpoints" / "best")
    (run / "config.yaml").write_text(_saved_config(dis5k_root), encoding="utf-8")
    blob = tmp_path / ".dvc" / "cache" / "ab" / "cdef0123"
    blob.parent.mkdir(parents=True)
    (best / "model.safetensors").rename(blob)
    os.symlink(blob, best / "model.safetensors")
    for given in (run, best, best / "model.safetensors"):
        assert _trained(given, data_cfg) == TRAINED


def test_a_best_linked_to_a_copy_without_config_is_the_run_s(
    tmp_path, dis5k_root, data_cfg
) -> None:
    copy = _checkpoint(tmp_path / "exports" / "model_v1")  # a checkpoint folder, no config
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    os.symlink(copy, run / "checkpoints" / "best")
    (run / "config.yaml").write_text(_saved_config(dis5k_root), encoding="utf-8")
    assert _trained(run, data_cfg) == TRAINED


def test_a_best_linked_to_another_run_s_is_that_run_s(tmp_path, dis5k_root, data_cfg) -> None:
    # The weights were trained by the run they lie in: its config, not the linking run's.
    other = tmp_path / "other"
    _checkpoint(other / "checkpoints" / "best")
    (other / "config.yaml").write_text(_saved_config(dis5k_root), encoding="utf-8")
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    os.symlink(other / "checkpoints" / "best", run / "checkpoints" / "best")
    (run / "config.yaml").write_text("not: a run config\n", encoding="utf-8")
    assert _trained(run, data_cfg) == TRAINED
