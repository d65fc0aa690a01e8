"""The trainer's epochs: each draws new augmentations and a new sample order (the sampler's
set_epoch and its DrawKeys; a key's draw, loader workers and the ranks' repeats:
tests/test_augmentation_draws.py; resume: tests/test_train.py).

The batches are recorded in place of the optimiser step and validation is skipped: the draws
happen in the loader, before the model sees them, so the model's output plays no part here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest
import torch
from training_cases import tiny_dis5k_values

from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.trainer import Trainer
from pmgsam.utils.config import from_dict

pytestmark = pytest.mark.usefixtures("one_thread", "small_branches")


@pytest.fixture
def make_config(
    tmp_path: Path, dis5k_root: Path, data_config: Callable[..., Any]
) -> Callable[..., ExperimentConfig]:
    def make(name: str, epochs: int) -> ExperimentConfig:
        # Every sample cropped, rotated and colour-jittered by continuous random amounts: two
        # independent draws of one picture are then never bit-identical.
        always = {"crop_prob": 1.0, "rotate_prob": 1.0, "color_jitter_prob": 1.0}
        values = tiny_dis5k_values(tmp_path / name, dis5k_root, data_config, augment=always)
        values["schedule"] = {"epochs": epochs, "warmup_epochs": 0}
        values["train"].update(log_every=100, seed=5)
        return from_dict(ExperimentConfig, values)

    return make


def _drawn_batches(
    cfg: ExperimentConfig, monkeypatch: pytest.MonkeyPatch
) -> List[List[torch.Tensor]]:
    """Every epoch's augmented training images (per batch) that ``fit()`` draws.

    All training samples are one image/mask pair, so a batch position differs between two
    draws only by its augmentation, whatever order the sampler shuffles the indices into.
    """
    epochs: List[List[torch.Tensor]] = []

    def record(self: Trainer, batch: Dict[str, Any], epoch: int, iteration: int) -> Any:
        if iteration == 0:
            epochs.append([])
        epochs[-1].append(batch["image"].clone())
        return {"loss": torch.zeros(()), "n": batch["image"].shape[0]}

    monkeypatch.setattr(Trainer, "_train_step", record)
    monkeypatch.setattr(Trainer, "validate", lambda self, epoch: {})
    trainer = Trainer(cfg)
    data = trainer.train_set
    data.image_paths = [data.image_paths[0]] * len(data)
    data.mask_paths = [data.mask_paths[0]] * len(data)
    trainer.fit()
    return epochs


def test_each_epoch_draws_new_augmentations(make_config, monkeypatch) -> None:
    first, second = _drawn_batches(make_config("run", epochs=2), monkeypatch)
    assert len(first) == len(second) == 2  # 8 images, batches of 4
    # Without the epoch in the seed, epoch 2 would repeat epoch 1's augmentations exactly.
    for a, b in zip(first, second):
        differs = [not torch.equal(x, y) for x, y in zip(a, b)]
        assert all(differs), differs
    # Augmentation is on: the one picture is drawn differently within an epoch too.
    assert not torch.equal(first[0][0], first[0][1])
