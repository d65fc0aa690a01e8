"""Mutation audit of the augmentation draws (DrawKeySampler, SegmentationDataset.__getitem__,
TrainTransform): keys stay unique however often the ranks' padding repeats the dataset, no
repeat is made up under ``drop_last``, every albumentations step gets a seed of its own, an
evaluation dataset takes a key as its index, and a plain index still follows torch's RNG.

Expectations: torch's DistributedSampler (the order and shards), hand-counted repeats, and
cases a plausible wrong version answers otherwise (named at each test).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import torch
from torch.utils.data import DistributedSampler

from pmgsam.data.augmentation import TrainTransform
from pmgsam.data.config import AugmentConfig
from pmgsam.data.datasets import DrawKey, SegmentationDataset
from pmgsam.engine.train_data import DrawKeySampler

ALWAYS = AugmentConfig(crop_prob=1.0, rotate_prob=1.0, color_jitter_prob=1.0)


def _all_keys(size: int, world: int, drop_last: bool = False) -> list:
    keys = []
    for rank in range(world):
        sampler = DrawKeySampler(
            list(range(size)), num_replicas=world, rank=rank, seed=3, drop_last=drop_last
        )
        sampler.set_epoch(2)
        plain = DistributedSampler(
            list(range(size)), num_replicas=world, rank=rank, seed=3, drop_last=drop_last
        )
        plain.set_epoch(2)
        drawn = list(sampler)
        assert [k.index for k in drawn] == list(plain)
        keys += drawn
    return keys


def test_a_dataset_repeated_more_than_once_gives_each_copy_its_own_repeat() -> None:
    # 3 samples over 8 ranks: each sample given 3 times but one (8 = 3 + 3 + 2), so repeats
    # 0, 1, 2; a "repeated or not" flag would key two copies alike.
    keys = _all_keys(3, 8)
    assert len(keys) == 8
    assert len({(k.index, k.repeat) for k in keys}) == 8
    assert Counter(k.repeat for k in keys) == {0: 3, 1: 3, 2: 2}


def test_three_ranks_on_four_samples_repeat_the_first_two_of_the_order() -> None:
    keys = _all_keys(4, 3)  # padded to 6: positions 4 and 5 repeat the order's first two
    assert sorted(k.index for k in keys if k.repeat == 0) == [0, 1, 2, 3]
    order = torch.randperm(4, generator=torch.Generator().manual_seed(3 + 2)).tolist()
    assert sorted(k.index for k in keys if k.repeat == 1) == sorted(order[:2])


def test_drop_last_repeats_nothing() -> None:
    keys = _all_keys(5, 2, drop_last=True)  # 4 of the 5 samples, each once
    assert len(keys) == 4 and {k.repeat for k in keys} == {0}
    assert len({k.index for k in keys}) == 4


def test_every_augmentation_step_is_given_its_own_seed() -> None:
    # Compose.set_random_seed gives all its steps one seed (their coins then coincide), and
    # one seed list restarted per pipeline would give the crop the flip's seed.
    transform = TrainTransform(16, ALWAYS)
    image = np.zeros((16, 16, 3), np.uint8)
    mask = np.zeros((16, 16), np.uint8)
    seen = []
    for index in range(2):
        transform(image, mask, draw=DrawKey(0, 0, index))
        steps = [*transform.pipelines[0].transforms, *transform.pipelines[1].transforms]
        seeds = [step.seed for step in steps]
        assert len(set(seeds)) == len(seeds) == 4, seeds
        seen.append(seeds)
    assert seen[0] != seen[1]


def _tiny_pair(tmp_path):
    rng = np.random.default_rng(0)
    from PIL import Image

    Image.fromarray(rng.integers(0, 256, (24, 20, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    Image.fromarray((rng.random((24, 20)) > 0.5).astype(np.uint8) * 255).save(tmp_path / "m.png")
    return [tmp_path / "a.png"], [tmp_path / "m.png"]


def test_an_evaluation_dataset_given_a_key_serves_the_keys_index(tmp_path) -> None:
    images, masks = _tiny_pair(tmp_path)
    ds = SegmentationDataset(images, masks, 16, train=False)
    keyed, plain = ds[DrawKey(1, 2, 0, 1)], ds[0]
    assert keyed["name"] == plain["name"] == "a"
    assert torch.equal(keyed["image"], plain["image"])
    assert torch.equal(keyed["mask"], plain["mask"])


def test_a_plain_index_draws_from_torchs_random_state(tmp_path) -> None:
    # Without a key (a caller outside training's sampler) the draw follows torch.manual_seed,
    # not one fixed augmentation per index.
    images, masks = _tiny_pair(tmp_path)
    ds = SegmentationDataset(images, masks, 16, train=True, augment=ALWAYS, reduced_decode=False)
    drawn = []
    for seed in (1, 1, 2):
        torch.manual_seed(seed)
        drawn.append(ds[0]["image"])
    assert torch.equal(drawn[0], drawn[1])
    assert not torch.equal(drawn[0], drawn[2])
    # A plain tuple is read as a key like a DrawKey (a key sent through a pickling worker
    # queue or a user's own sampler).
    assert torch.equal(ds[(4, 1, 0, 0)]["image"], ds[DrawKey(4, 1, 0)]["image"])
