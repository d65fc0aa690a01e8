"""Training helpers shared by the trainer's test modules."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, Optional

import pytest

from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.state import write_config
from pmgsam.engine.trainer import Trainer
from pmgsam.modeling.build import model_config
from pmgsam.utils.config import from_dict, to_dict


def tiny_dis5k_values(
    out: Path,
    dis5k_root: Path,
    data_config: Callable,
    model: Optional[Dict[str, Any]] = None,
    image_size: int = 64,
    **data: Any,
) -> Dict[str, Any]:
    """A config's values: the tiny model at S=``image_size`` (``model`` overriding its other
    fields) on the generated DIS5K (no loader workers; ``data`` overriding other fields), batch 4
    on the CPU, into ``out``; a test adds its own schedule and train options (``data_config``:
    conftest's fixture). Tests whose model is built from the config (with conftest's small_branches)
    and whose property holds at any side take 32, the smallest side Hiera takes: a training
    step there costs about a third of one at 64."""
    return {
        "model": to_dict(model_config("pmgsam_tiny", image_size=image_size, **(model or {}))),
        "data": to_dict(data_config("dis5k", dis5k_root, num_workers=0, **data)),
        "train": {"batch_size": 4, "device": "cpu"},
        "output_dir": str(out),
    }


def config_maker(
    out: Path, dis5k_root: Path, data_config: Callable, image_size: int = 64, **train: Any
) -> Callable[..., ExperimentConfig]:
    """``make(**sections)``: the tiny DIS5K config of :func:`tiny_dis5k_values` (at
    ``image_size``) into ``out``, lr 1e-3, no previews, ``train`` options added, then each
    section's fields given merged into that section."""

    def make(**sections: Dict[str, Any]) -> ExperimentConfig:
        values = tiny_dis5k_values(out, dis5k_root, data_config, image_size=image_size)
        values["optim"] = {"lr": 1e-3}
        values["train"].update(preview_every=0, **train)
        for key, value in sections.items():
            values[key] = {**values.get(key, {}), **value}
        return from_dict(ExperimentConfig, values)

    return make


def two_epoch_config(
    tmp_path: Path, dis5k_root: Path, data_config: Callable, image_size: int = 64
) -> ExperimentConfig:
    """The tiny model at S=``image_size`` for two epochs (no warm-up, batch 4, CPU) on the
    generated DIS5K, into ``tmp_path / "run"`` (``data_config``: conftest's fixture)."""
    values = tiny_dis5k_values(tmp_path / "run", dis5k_root, data_config, image_size=image_size)
    values["schedule"] = {"epochs": 2, "warmup_epochs": 0}
    return from_dict(ExperimentConfig, values)


def crash_at_step(
    monkeypatch: pytest.MonkeyPatch, cfg: ExperimentConfig, epoch: int, iteration: int
) -> None:
    """Train ``cfg`` until a simulated crash at step ``iteration`` of ``epoch`` (both 0-based)."""
    original = Trainer._train_step

    def failing_step(self: Trainer, batch: Any, ep: int, it: int) -> Any:
        if (ep, it) == (epoch, iteration):
            raise RuntimeError("simulated crash")
        return original(self, batch, ep, it)

    monkeypatch.setattr(Trainer, "_train_step", failing_step)
    with pytest.raises(RuntimeError, match="simulated crash"):
        Trainer(cfg).fit()
    monkeypatch.setattr(Trainer, "_train_step", original)


def trained_run_folder(tmp_path: Path, data: Any) -> Path:
    """``tmp_path / "run"`` as train.py leaves it for the data section ``data``: config.yaml
    and checkpoints/best/model.safetensors (stand-in bytes; nothing is trained)."""
    run = tmp_path / "run"
    (run / "checkpoints" / "best").mkdir(parents=True)
    (run / "checkpoints" / "best" / "model.safetensors").write_bytes(b"weights")
    config = to_dict(ExperimentConfig())
    config["data"] = to_dict(data)
    write_config(run, from_dict(ExperimentConfig, config))
    return run
