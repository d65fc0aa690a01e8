"""``train.py --quiet`` turns the epoch's progress bar off, as ``--quiet`` does in every other
command; without it the bar is left to tqdm's terminal check (shown on a terminal only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, List

import pytest
import yaml
from tqdm import tqdm

import train
from pmgsam.engine import trainer as trainer_module
from pmgsam.modeling.build import model_config
from pmgsam.utils.config import to_dict

pytestmark = pytest.mark.usefixtures("one_thread", "small_branches")


@pytest.mark.parametrize("quiet, disable", [(True, True), (False, None)])
def test_quiet_turns_the_epoch_bar_off(
    quiet: bool,
    disable: Any,
    tmp_path: Path,
    dis5k_root: Path,
    data_config: Callable[..., Any],
    monkeypatch,
) -> None:
    seen: List[Any] = []

    def recording_tqdm(*args: Any, **kwargs: Any) -> tqdm:
        seen.append(kwargs.get("disable"))
        return tqdm(*args, **{**kwargs, "disable": True})

    monkeypatch.setattr(trainer_module, "tqdm", recording_tqdm)
    config = tmp_path / "exp.yaml"
    data = to_dict(data_config("dis5k", dis5k_root, num_workers=0))
    config.write_text(yaml.safe_dump({
        "model": to_dict(model_config("pmgsam_tiny", image_size=64)),
        "data": {**data, "val_split": None, "test_splits": []},
        "schedule": {"epochs": 1, "warmup_epochs": 0},
        "train": {"batch_size": 4, "device": "cpu", "preview_every": 0},
    }))  # fmt: skip
    argv = ["--config", str(config), "--output-dir", str(tmp_path / "run")]
    assert train.main([*argv, "--quiet"] if quiet else argv) == 0
    assert seen == [disable]
