"""Training state: the checks on ``state.pt``, the checkpoint folder swap when a write fails,
recovery of interrupted swaps, the RNG capture, legacy config fields and the run folder that a
checkpoint folder resumes into (the kill-at-every-write test covers the trainer's own path)."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from pmgsam.engine import state as state_mod
from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.state import (
    STATE_FILE,
    experiment_config,
    load_training_state,
    remove_run_temporaries,
    rng_state,
    run_dir_of,
    save_checkpoint,
    seed_everything,
    set_rng_state,
    write_config,
)
from pmgsam.modeling.weights import CheckpointError
from pmgsam.utils.config import ConfigError, from_dict, to_dict


def _disk_full(*args, **kwargs):
    raise OSError("No space left on device")


def test_foreign_and_newer_state_files_are_refused(tmp_path) -> None:
    folder = tmp_path / "last"
    folder.mkdir()
    for payload, match in [
        ({"format": "other-tool", "version": 1, "epoch": 3}, "not a PMG-SAM training state"),
        ({"format": "pmgsam-train-state", "version": 2, "epoch": 3}, "version 2"),
    ]:
        torch.save(payload, folder / STATE_FILE)
        with pytest.raises(CheckpointError, match=match):
            load_training_state(folder)


def test_failed_save_keeps_the_previous_checkpoint_whole(tmp_path, tiny_model, monkeypatch):
    last = tmp_path / "checkpoints" / "last"
    save_checkpoint(last, tiny_model, {"epoch": 1})
    before = {p.name: p.read_bytes() for p in last.iterdir()}
    monkeypatch.setattr(state_mod, "save_model", _disk_full)  # after state.pt was written
    with pytest.raises(OSError, match="No space"):
        save_checkpoint(last, tiny_model, {"epoch": 2})
    assert {p.name: p.read_bytes() for p in last.iterdir()} == before
    assert [p.name for p in last.parent.iterdir()] == ["last"]  # no temporary folder left


def test_save_finishes_a_swap_killed_before_the_old_folder_was_removed(tmp_path, tiny_model):
    last = tmp_path / "last"
    save_checkpoint(last, tiny_model, {"epoch": 3})
    shutil.copytree(last, tmp_path / ".last.old")
    save_checkpoint(last, tiny_model, {"epoch": 4})
    assert load_training_state(last)["epoch"] == 4
    assert [p.name for p in tmp_path.iterdir()] == ["last"]


def test_run_cleanup_restores_last_and_best(tmp_path, tiny_model) -> None:
    run = tmp_path / "run"
    for which, epoch in (("last", 5), ("best", 3)):
        folder = run / "checkpoints" / which
        save_checkpoint(folder, tiny_model, {"epoch": epoch})
        os.rename(folder, run / "checkpoints" / f".{which}.old")  # killed between the renames
    remove_run_temporaries(run)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best", "last"]
    assert load_training_state(run / "checkpoints" / "best")["epoch"] == 3
    assert load_training_state(run)["epoch"] == 5


def test_loaded_state_fills_config_fields_added_since(tmp_path, tiny_model) -> None:
    config = to_dict(from_dict(ExperimentConfig, {}))
    del config["model"]["decoder_activation"]  # a run saved before the field existed
    save_checkpoint(tmp_path / "last", tiny_model, {"epoch": 1, "config": config})
    # That run was trained with GELU, whatever today's default is.
    assert load_training_state(tmp_path / "last")["config"]["model"]["decoder_activation"] == "gelu"


def test_rng_state_survives_a_state_file_and_seeds_differ(tmp_path) -> None:
    def draws():
        return random.random(), float(np.random.rand()), float(torch.rand(()))

    seed_everything(7)
    torch.save(rng_state(), tmp_path / "rng.pt")
    first = draws()
    draws()
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert draws() == first
    seed_everything(8)
    assert all(a != b for a, b in zip(draws(), first))


def test_a_checkpoint_folder_resumes_into_its_run(tmp_path, tiny_model) -> None:
    run = tmp_path / "run"
    write_config(run, from_dict(ExperimentConfig, {"output_dir": str(run)}))
    save_checkpoint(run / "checkpoints" / "last", tiny_model, {"epoch": 1})
    for folder in (run, run / "checkpoints" / "last"):
        assert run_dir_of(folder) == run
        assert experiment_config(None, resume=folder).output_dir == str(run)
    loose = tmp_path / "loose"  # a state.pt outside any run's checkpoints/
    save_checkpoint(loose, tiny_model, {"epoch": 1})
    assert run_dir_of(loose) == loose


def test_config_write_failure_keeps_the_previous_file(tmp_path, monkeypatch) -> None:
    cfg = from_dict(ExperimentConfig, {"output_dir": str(tmp_path)})
    write_config(tmp_path, cfg)
    before = (tmp_path / "config.yaml").read_text()
    write_text = Path.write_text

    def half_written(self, text, *args, **kwargs):
        write_text(self, text[:20])
        _disk_full()

    monkeypatch.setattr(Path, "write_text", half_written)
    cfg.optim.lr = 0.5
    with pytest.raises(OSError, match="No space"):
        write_config(tmp_path, cfg)
    monkeypatch.undo()
    assert (tmp_path / "config.yaml").read_text() == before
    assert yaml.safe_load(before)["optim"]["lr"] == 1e-4
    assert [p.name for p in tmp_path.iterdir()] == ["config.yaml"]


def test_resume_of_a_missing_or_file_path_names_it(tmp_path) -> None:
    # Not "config file '<path>/config.yaml' does not exist", which hides the typo in the path.
    with pytest.raises(CheckpointError, match=r"--resume '.*nowhere' does not exist"):
        experiment_config(None, resume=tmp_path / "nowhere")
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(CheckpointError, match="is a file, not a run folder"):
        experiment_config(None, resume=tmp_path / "a_file")


def test_resume_without_a_state_and_a_saved_config_gone_bad_are_named(tmp_path) -> None:
    run = tmp_path / "run"
    write_config(run, from_dict(ExperimentConfig, {"output_dir": str(run)}))
    with pytest.raises(CheckpointError, match=r"no training state at '.*run/state.pt' or '.*las"):
        load_training_state(run)
    saved = yaml.safe_load((run / "config.yaml").read_text())
    saved["optim"]["lr"] = "fast"  # edited by hand since: named with the file it is in
    (run / "config.yaml").write_text(yaml.safe_dump(saved))
    with pytest.raises(ConfigError, match=r"'optim.lr'.*'fast'.* \(.*run/config.yaml\)$"):
        experiment_config(None, resume=run)


def test_a_new_run_refuses_an_output_dir_that_is_a_file(tmp_path) -> None:
    from pmgsam.engine.state import check_new_run_folder

    (tmp_path / "out").write_text("notes")
    with pytest.raises(NotADirectoryError, match=r"output_dir '.*out' is a file, not a folder"):
        check_new_run_folder(tmp_path / "out")
    assert (tmp_path / "out").read_text() == "notes"


def test_a_new_run_refuses_a_folder_whose_last_save_was_cut_between_its_renames(
    tmp_path, tiny_model
) -> None:
    # Only `.last.old` holds the trained run (epoch 5): a fresh start would restore it and
    # then overwrite it with its own first `last`.
    run = tmp_path / "run"
    save_checkpoint(run / "checkpoints" / "last", tiny_model, {"epoch": 5, "global_step": 40})
    os.rename(run / "checkpoints" / "last", run / "checkpoints" / ".last.old")
    (run / "train.log").write_text("epoch 5/300\n")
    with pytest.raises(FileExistsError, match="--resume"):
        state_mod.check_new_run_folder(run)
    assert load_training_state(run)["epoch"] == 5
