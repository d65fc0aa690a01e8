"""``python -m pmgsam.efficiency --config`` given a training run's saved ``config.yaml``: the
record is named after the run (every run's config file is named ``config``), and a
``pmgsam.ablate`` variant's folder refused for the shipped config, which lacks the variant's
``key=value`` overrides, is refused with the config that works."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from pmgsam.ablation.checks import DONE_FILE
from pmgsam.efficiency import cli
from pmgsam.efficiency import report as report_mod
from pmgsam.engine.config import ExperimentConfig
from pmgsam.evaluation.run_json import checkpoint_meta, write_run_json
from pmgsam.modeling.build import model_config
from pmgsam.utils.cli import exit_status
from pmgsam.utils.config import load_config, to_dict

DEMO = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"
# demo.yaml's model with one more decoder layer: no registered model's architecture.
DEEPER = f"base: {DEMO}\nmodel:\n  decoder_depth: 2\n"


def saved_run_config(run: Path, text: str) -> Path:
    """``run/config.yaml`` as a training run leaves it (beside its checkpoints/ and log)."""
    (run / "checkpoints").mkdir(parents=True)
    (run / "train.log").write_text("")
    (run / "config.yaml").write_text(text)
    return run / "config.yaml"


def label(path: Path) -> str:
    return cli.config_label(load_config(ExperimentConfig, path).model, str(path))


def test_a_run_config_is_named_after_its_run(tmp_path) -> None:
    assert label(saved_run_config(tmp_path / "deeper-run", DEEPER)) == "deeper-run"
    variant = saved_run_config(tmp_path / "abl" / "drfm_k2" / "train", DEEPER)
    (variant.parent / DONE_FILE).write_text("{}")
    assert label(variant) == "drfm_k2"  # not "train", which every variant's run folder is
    # A config.yaml written by hand (no training log beside it) keeps its file's name, and a
    # registered architecture its registered name.
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "config.yaml").write_text(DEEPER)
    assert label(tmp_path / "mine" / "config.yaml") == "config"
    assert label(saved_run_config(tmp_path / "demo-run", f"base: {DEMO}\n")) == "pmgsam_tiny"


class Timed(Exception):
    """The run folder passed the check: timing would start."""


def test_a_variant_measured_from_its_shipped_config_is_told_to_use_its_own(
    tmp_path, capsys, monkeypatch
) -> None:
    # A variant trained with model.image_size=64 on top of demo.yaml (what the grid's
    # overrides do to the paper configs): its weights record S=64.
    variant = tmp_path / "variant"
    saved = saved_run_config(variant / "train", f"base: {DEMO}\nmodel:\n  image_size: 64\n")
    ckpt = variant / "train" / "checkpoints" / "best.safetensors"
    config = json.dumps(to_dict(model_config("pmgsam_tiny", image_size=64)))
    save_file({"w": torch.zeros(1)}, str(ckpt), {"format": "pmgsam", "config": config})
    meta = {"config": str(DEMO), **checkpoint_meta(ckpt), "overrides": ["model.image_size=64"]}
    write_run_json(variant, "variant", dis={"DIS-TE1-4": {"MAE": 0.2}}, meta=meta)

    def efficiency_report(*args, **kwargs):
        raise Timed

    monkeypatch.setattr(report_mod, "efficiency_report", efficiency_report)
    argv = ["--device", "cpu", "--run-dir", str(variant)]
    assert exit_status(cli.main, ["--config", str(DEMO), *argv]) == 2
    err = capsys.readouterr().err
    assert "image_size: 64 != 128" in err, err
    assert f"give its own saved config, --config {saved}" in err, err
    with pytest.raises(Timed):  # the config the error names passes the check
        cli.main(["--config", str(saved), *argv])
