"""Audit tests (mutation survivors): ablate's reason for a variant whose training did not
finish; efficiency's record name for a run config given by a relative path, and the way out it
gives for a refused ablation variant (which config, and why)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from pmgsam.ablate import DONE_FILE, _why_unscored
from pmgsam.efficiency import cli
from pmgsam.efficiency import report as report_mod
from pmgsam.evaluation.run_json import checkpoint_meta, write_run_json
from pmgsam.modeling.build import model_config
from pmgsam.utils.cli import exit_status
from pmgsam.utils.config import to_dict
from tests.test_efficiency_saved_configs import DEEPER, DEMO, label, saved_run_config


def test_a_training_cut_off_is_no_finished_training(tmp_path: Path) -> None:
    # train/ exists (checkpoints, a log) but no done file: it needs --train, not --evaluate.
    (tmp_path / "v" / "train" / "checkpoints").mkdir(parents=True)
    assert _why_unscored(tmp_path / "v") == "no finished training: run with --train"
    (tmp_path / "v" / "train" / DONE_FILE).write_text("{}")
    assert _why_unscored(tmp_path / "v", given=["--evaluate"]) == "trained, not scored"


def test_a_run_config_given_from_inside_its_run_is_named_after_the_run(
    tmp_path: Path, monkeypatch
) -> None:
    saved_run_config(tmp_path / "deeper-run", DEEPER)
    monkeypatch.chdir(tmp_path / "deeper-run")
    assert label(Path("config.yaml")) == "deeper-run"  # not '' (the parent of a bare name)


def _variant(tmp_path: Path, saved_size: int, overrides: list) -> Path:
    """An ablation variant whose weights record S=64, its saved config ``saved_size``."""
    variant = tmp_path / "variant"
    saved_run_config(variant / "train", f"base: {DEMO}\nmodel:\n  image_size: {saved_size}\n")
    ckpt = variant / "train" / "checkpoints" / "best.safetensors"
    config = json.dumps(to_dict(model_config("pmgsam_tiny", image_size=64)))
    save_file({"w": torch.zeros(1)}, str(ckpt), {"format": "pmgsam", "config": config})
    meta = {"config": str(DEMO), **checkpoint_meta(ckpt), "overrides": overrides}
    write_run_json(variant, "variant", dis={"DIS-TE1-4": {"MAE": 0.2}}, meta=meta)
    return variant


def _refusal(variant: Path, given: list, capsys, monkeypatch) -> str:
    def efficiency_report(*args, **kwargs):
        raise AssertionError("timed a refused run folder")

    monkeypatch.setattr(report_mod, "efficiency_report", efficiency_report)
    argv = [*given, "--device", "cpu", "--run-dir", str(variant)]
    assert exit_status(cli.main, argv) == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    "given, overrides, why",
    [
        (["--config", str(DEMO)], ["model.image_size=64"], f"which --config {DEMO} lacks"),
        (["--model", "pmgsam_tiny"], ["model.image_size=64"], "which --model lacks"),
        (["--model", "pmgsam_tiny"], [], "the variant's model is the one it was trained with"),
    ],
)
def test_the_refused_variant_is_told_why_its_own_config_works(
    tmp_path, capsys, monkeypatch, given, overrides, why
) -> None:
    variant = _variant(tmp_path, 64, overrides)
    err = _refusal(variant, given, capsys, monkeypatch)
    saved = variant / "train" / "config.yaml"
    assert why in err and f"give its own saved config, --config {saved}" in err, err
    if not overrides:
        assert "key=value" not in err


def test_its_own_config_refused_is_not_told_to_give_it_again(tmp_path, capsys, monkeypatch):
    # Saved config and weights disagree (edited since): the hint would loop back on itself.
    variant = _variant(tmp_path, 128, ["model.image_size=64"])
    saved = variant / "train" / "config.yaml"
    err = _refusal(variant, ["--config", str(saved)], capsys, monkeypatch)
    assert "image_size: 64 != 128" in err and "give its own saved config" not in err, err
