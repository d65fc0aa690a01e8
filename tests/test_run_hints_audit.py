"""Mutation audit: pmgsam.evaluation.run_hints.missing_run_hint picks the hint that names
what to give: run folders inside before a run folder above, and a training run only where
train.py's config.yaml and train.log are beside checkpoints/."""

from __future__ import annotations

import json

from pmgsam.evaluation.run_hints import missing_run_hint


def _run(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run.json").write_text(json.dumps({"method": folder.name}), encoding="utf-8")


def test_run_folders_inside_are_named_before_the_run_folder_above(tmp_path):
    # An ablation's --output-dir kept inside a benchmark run folder: its variants are what the
    # user meant, not the run around them.
    _run(tmp_path / "bench")
    for name in ("full", "no-srb"):
        _run(tmp_path / "bench" / "sweep" / name)
    hint = missing_run_hint(tmp_path / "bench" / "sweep")
    assert hint.startswith(": it holds 2 run folder(s) (full, no-srb)"), hint


def test_a_folder_of_checkpoints_without_config_yaml_is_no_training_run(tmp_path):
    (tmp_path / "weights" / "checkpoints").mkdir(parents=True)
    assert missing_run_hint(tmp_path / "weights") == ""
    (tmp_path / "weights" / "config.yaml").write_text("model: {}\n", encoding="utf-8")
    (tmp_path / "weights" / "train.log").write_text("", encoding="utf-8")
    assert "it is a training run" in missing_run_hint(tmp_path / "weights")
