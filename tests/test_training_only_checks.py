"""Checks of a config that only training needs (``schedule.min_lr`` at most ``optim.lr``,
``optim.lr`` at most 1, ``schedule.plateau_threshold`` below 1, the loss weights, the training
loop's and the augmentation's values) refuse a run that trains (new, fine-tuned or resumed) but
not the reading of a saved run's config to predict or evaluate: a run saved before the check
existed, or was tightened, must stay usable there."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from cli_cases import cli, evaluate_main, one_error_line, train_main

from pmgsam.data import build_dataset, generate
from pmgsam.data.layouts import list_split
from pmgsam.engine import inference
from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.state import experiment_config
from pmgsam.engine.trainer import Trainer
from pmgsam.evaluation.benchmark import check_not_trained_on
from pmgsam.evaluation.scoring import EvaluationInputError
from pmgsam.utils.config import ConfigError, load_config, to_dict

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
FLOOR_ABOVE = r"'schedule\.min_lr' \(1e-06\) is above 'optim\.lr' \(1e-07\)"
# Values a run could save (an older version took them) that training now refuses, each with
# what the refusal says.
SINCE_REFUSED = [
    ({"optim.lr": 2.0}, r"'optim\.lr' must be at most 1, got 2\.0"),
    ({"schedule.plateau_threshold": 1.0}, r"'schedule\.plateau_threshold' .* below 1, got 1\.0"),
    ({"loss.iou_weight": -1.0}, r"'loss\.iou_weight' must be .*>= 0, got -1\.0"),
    ({"train.batch_size": 0}, r"'train\.batch_size' must be > 0, got 0"),
    ({"data.augment.hue": 0.6}, r"'data\.augment\.hue' must be in \[0, 0\.5\], got 0\.6"),
    ({"optim.lr": 1e-7, "schedule.min_lr": 1e-6}, FLOOR_ABOVE),
]
ALL_SINCE_REFUSED = {k: v for saved, _ in SINCE_REFUSED[:-1] for k, v in saved.items()}

pytestmark = pytest.mark.usefixtures("one_thread")


def at(config: dict, key: str) -> object:
    """The value of dotted ``key`` in a config dict."""
    for part in key.split("."):
        config = config[part]
    return config


def old_run(tmp_path: Path, data: dict, model: dict, saved: dict | None = None) -> Path:
    """A run folder as an older train.py left it: config.yaml with the ``saved`` values
    ({dotted key: value}; by default min_lr 1e-6 above lr 1e-7), and its best weights (a
    stand-in file)."""
    run = tmp_path / "run"
    (run / "checkpoints" / "best").mkdir(parents=True)
    (run / "checkpoints" / "best" / "model.safetensors").write_bytes(b"weights")
    config = to_dict(ExperimentConfig())
    config.update(data=data, model=model, output_dir=str(run))
    for key, value in (saved or {"optim.lr": 1e-7, "schedule.min_lr": 1e-6}).items():
        *sections, name = key.split(".")
        node = config
        for part in sections:  # a section the given data leaves out (augment) is added
            node = node.setdefault(part, {})
        node[name] = value
    config["train"]["device"] = "cpu"
    (run / "train.log").touch()  # created before config.yaml by every train.py
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    return run


def test_a_run_that_trains_is_refused(tmp_path: Path) -> None:
    config = CONFIGS / "pmgsam_cod10k_ft.yaml"
    floor = r"'schedule\.min_lr' \(1e-07\) is above 'optim\.lr' \(5e-08\)"
    with pytest.raises(ConfigError, match=floor + r".*override\(s\) 'optim\.lr=5e-8'"):
        experiment_config(config, ["optim.lr=5e-8"], output_dir=tmp_path / "new")
    # Fine-tuning (train.init_from) or a config made in code: the Trainer checks it itself.
    loaded = load_config(ExperimentConfig, config, ["optim.lr=5e-8", "train.init_from=w"])
    with pytest.raises(ConfigError, match=floor):
        Trainer(replace(loaded, output_dir=str(tmp_path / "ft")))
    assert not (tmp_path / "ft").exists()
    # Resuming an old run with such a saved config.
    run = old_run(tmp_path, to_dict(loaded.data), to_dict(loaded.model))
    with pytest.raises(ConfigError, match=FLOOR_ABOVE + rf".*{run / 'config.yaml'}"):
        experiment_config(None, resume=run)


@pytest.mark.parametrize("saved, refusal", SINCE_REFUSED)
def test_train_py_refuses_what_loading_the_run_takes(
    saved: dict, refusal: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = old_run(
        tmp_path, to_dict(ExperimentConfig().data), to_dict(ExperimentConfig().model), saved
    )
    loaded = to_dict(load_config(ExperimentConfig, run / "config.yaml"))  # as evaluation reads it
    assert {key: at(loaded, key) for key in saved} == saved
    for argv in (
        ["--resume", run],
        ["--config", run / "config.yaml", "--output-dir", tmp_path / "new"],
    ):
        code, err = cli(train_main, [str(a) for a in argv], capsys)
        line = one_error_line(err)
        assert code == 2 and re.search(refusal, line) and str(run / "config.yaml") in line, line
    assert not (tmp_path / "new").exists()


def test_the_checkpoints_run_config_still_guards_the_test_split(
    nc4k_root, data_config, tmp_path: Path
) -> None:
    """Benchmark mode reads the run's config.yaml to refuse test images the run trained on;
    refused by the floor check, it skipped the guard with a warning."""
    trained = data_config("nc4k", nc4k_root, split_seed=0, test_fraction=0.5)
    run = old_run(tmp_path, to_dict(trained), to_dict(ExperimentConfig().model))
    assert load_config(ExperimentConfig, run / "config.yaml").schedule.min_lr == 1e-6
    now = replace(trained, split_seed=1)
    test = build_dataset(now, "test", 32, train=False)
    leaked = set(test.names) & set(list_split(trained, "train:train").names)
    assert leaked  # another draw of the held-out half shares images with the training half
    with pytest.raises(EvaluationInputError, match=f"{len(leaked)} of the {len(test.names)} "):
        check_not_trained_on(str(run), now, {"test": test})


def test_evaluate_py_scores_with_the_old_runs_config(
    tmp_path: Path, small_model_file, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = generate("nc4k", tmp_path / "data", num=4, seed=0, size=(32, 24), progress=False)
    data = {"dataset": "nc4k", "root": str(root), "train_split": "train", "val_split": None,
            "test_splits": ["test"], "test_fraction": 0.5, "num_workers": 0,
            "split_dir": str(tmp_path / "splits")}  # fmt: skip
    # Every value training now refuses at once: evaluation reads only the model and data.
    run = old_run(tmp_path, data, to_dict(small_model_file[1].config), ALL_SINCE_REFUSED)
    model = small_model_file[1]
    monkeypatch.setattr(inference, "load_pretrained", lambda p, **kw: copy.deepcopy(model))
    out = tmp_path / "results"
    argv = ["--config", run / "config.yaml", "--checkpoint", small_model_file[0],
            "--device", "cpu", "--quiet", "--output-dir", out]  # fmt: skip
    assert evaluate_main(argv) == 0
    assert (out / "run.json").is_file()
    # The run's own held-out half (test_fraction 0.5 of 4 images), not the default fifth.
    assert json.loads((out / "metrics" / "test.json").read_text())["num_images"] == 2
