"""Each training sample's augmentation is a function of (train.seed, epoch, index, repeat)
alone (DrawKey, yielded by DrawKeySampler): the same with 0, 1 or 2 loader workers, with
persistent workers (after a resume too: tests/test_train.py); another epoch, seed or repeat
draws another one; and each albumentations step draws on its own (trainer-level per-epoch
draws: tests/test_train_seeding.py); resuming a state saved with the older draws warns."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable, List, Tuple

import numpy as np
import pytest
import torch
from training_cases import crash_at_step, tiny_dis5k_values

from pmgsam.data.augmentation import TrainTransform
from pmgsam.data.config import AugmentConfig
from pmgsam.data.datasets import DrawKey
from pmgsam.data.transforms import EvalTransform
from pmgsam.engine import distributed as D
from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.state import STATE_FILE
from pmgsam.engine.train_data import DrawKeySampler, build_training_data
from pmgsam.engine.trainer import Trainer
from pmgsam.modeling.checkpoint import checkpoint_dir
from pmgsam.utils.config import from_dict

# Every sample cropped, rotated and jittered by continuous random amounts: two independent
# draws of one picture are then never bit-identical.
ALWAYS = {"crop_prob": 1.0, "rotate_prob": 1.0, "color_jitter_prob": 1.0}


@pytest.fixture
def make_config(
    tmp_path: Path, dis5k_root: Path, data_config: Callable[..., Any]
) -> Callable[..., ExperimentConfig]:
    def make(name: str, workers: int = 0, persistent: bool = False, seed: int = 5) -> Any:
        values = tiny_dis5k_values(tmp_path / name, dis5k_root, data_config, augment=ALWAYS)
        values["data"]["num_workers"] = workers
        values["schedule"] = {"epochs": 2, "warmup_epochs": 0}
        values["optim"] = {"lr": 1e-3}
        values["train"].update(log_every=100, seed=seed)
        values["performance"] = {"persistent_workers": persistent}
        return from_dict(ExperimentConfig, values)

    return make


Batch = Tuple[torch.Tensor, torch.Tensor, Tuple[str, ...]]


def _epoch_batches(cfg: ExperimentConfig, epochs: int) -> List[List[Batch]]:
    """(images, masks, names) of each batch of each of the first ``epochs`` epochs."""
    data = build_training_data(cfg, D.DistInfo(rank=0, world_size=1), torch.device("cpu"))
    assert data.train_loader.num_workers == cfg.data.num_workers
    drawn = []
    for epoch in range(epochs):
        # Another main-process RNG state each epoch: it must not matter.
        torch.manual_seed(1000 + epoch + 17 * cfg.data.num_workers)
        data.sampler.set_epoch(epoch)
        drawn.append([(b["image"], b["mask"], tuple(b["name"])) for b in data.train_loader])
    return drawn


def _same_batches(a: List[Batch], b: List[Batch]) -> bool:
    return len(a) == len(b) and all(
        torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) and x[2] == y[2] for x, y in zip(a, b)
    )


@pytest.mark.usefixtures("one_thread")
def test_an_epochs_batches_are_the_same_with_0_1_2_and_persistent_workers(make_config) -> None:
    no_workers = _epoch_batches(make_config("w0"), epochs=2)
    one = _epoch_batches(make_config("w1", workers=1), epochs=1)
    # Persistent workers carry their RNG from epoch 0 into epoch 1.
    two = _epoch_batches(make_config("w2", workers=2, persistent=True), epochs=2)
    assert _same_batches(one[0], no_workers[0])
    assert _same_batches(two[0], no_workers[0])
    assert _same_batches(two[1], no_workers[1])


def test_epochs_seeds_and_repeats_draw_other_augmentations(make_config) -> None:
    data = build_training_data(
        make_config("keys"), D.DistInfo(rank=0, world_size=1), torch.device("cpu")
    )
    dataset = data.train_set
    for index in range(2):
        base = dataset[DrawKey(5, 0, index)]
        again = dataset[DrawKey(5, 0, index)]
        assert torch.equal(base["image"], again["image"])  # the key alone decides
        assert torch.equal(base["mask"], again["mask"])
        # A key missing its epoch, seed or repeat would draw one of these like `base`.
        for other in (DrawKey(5, 1, index), DrawKey(6, 0, index), DrawKey(5, 0, index, 1)):
            assert not torch.equal(dataset[other]["image"], base["image"]), other


def test_repeats_the_ranks_padding_adds_get_their_own_key(make_config) -> None:
    dataset = list(range(8))  # 8 samples over 3 ranks: one repeated to give each rank 3
    keys = []
    for rank in range(3):
        sampler = DrawKeySampler(dataset, num_replicas=3, rank=rank, shuffle=True, seed=5)
        sampler.set_epoch(4)
        plain = torch.utils.data.DistributedSampler(
            dataset, num_replicas=3, rank=rank, shuffle=True, seed=5
        )
        plain.set_epoch(4)
        drawn = list(sampler)
        assert [k.index for k in drawn] == list(plain)  # the same order and shards
        keys += drawn
    assert {(k.seed, k.epoch) for k in keys} == {(5, 4)}
    assert sorted(k.index for k in keys if k.repeat == 0) == list(range(8))
    (repeated,) = [k for k in keys if k.repeat]
    assert repeated.repeat == 1
    assert len({(k.index, k.repeat) for k in keys}) == 9


def test_each_augmentation_step_draws_on_its_own() -> None:
    # Flip and rotation at p = 0.5 each: independent coins give flip alone in about a quarter
    # of the draws; a seed shared by both steps (albumentations' Compose.set_random_seed)
    # flips exactly when it rotates, and never flips alone.
    cfg = AugmentConfig(crop_prob=0.0, hflip_prob=0.5, rotate_prob=0.5, color_jitter_prob=0.0)
    transform = TrainTransform(16, cfg)
    image = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    mask = np.zeros((16, 16), np.uint8)
    plain = EvalTransform(16)(image)["image"]
    flipped = EvalTransform(16)(np.ascontiguousarray(image[:, ::-1]))["image"]
    seen = {"none": 0, "flip only": 0, "rotated": 0}
    for index in range(40):
        out = transform(copy.copy(image), mask, draw=DrawKey(0, 0, index))["image"]
        if torch.equal(out, plain):
            seen["none"] += 1
        elif torch.equal(out, flipped):
            seen["flip only"] += 1
        else:
            seen["rotated"] += 1
    assert all(seen.values()), seen


@pytest.mark.usefixtures("one_thread", "small_branches")
def test_resuming_a_state_of_the_older_draws_warns(make_config, monkeypatch) -> None:
    # One run trained, resumed as saved (no warning), then resumed again from its state
    # rewritten as pmgsam saved it before DrawKey: three Trainers, one of them training.
    cfg = make_config("run")
    crash_at_step(monkeypatch, cfg, epoch=1, iteration=0)
    log_file = Path(cfg.output_dir) / "train.log"
    state_file = checkpoint_dir(cfg.output_dir, "last") / STATE_FILE
    for name in ("now", "older"):
        if name == "older":
            state = torch.load(state_file, weights_only=False)
            del state["augmentation_draws"]
            torch.save(state, state_file)
        Trainer(cfg, resume=cfg.output_dir).close()
        # The run's log handler holds the package's records (train.log, not pytest's caplog).
        log = log_file.read_text()
        said = "saved by an older pmgsam" in log and "from epoch 2 on" in log
        assert said is (name == "older"), log
