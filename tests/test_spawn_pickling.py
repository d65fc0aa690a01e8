"""What a DataLoader hands to workers started by ``spawn`` (macOS and Windows, where ``fork`` is
not the default) survives pickling: the datasets with their transforms, the inference wrapper,
the worker init function and the collate function.

A forked worker inherits these objects, so a lambda, a closure or state that pickling drops
passes every Linux run and fails, or trains on other samples, only there. Each object is sent
through pickle, and the copy must give the sample the original gives under the same torch seed
(augmentation is seeded from torch's RNG): a copy that lost its augmentation settings, or its
instance labels, gives another one.
"""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import pytest
import torch

from pmgsam.data.config import AugmentConfig, DataConfig
from pmgsam.data.datasets import build_dataset
from pmgsam.data.mask_warnings import worker_warnings_init
from pmgsam.engine.inference_inputs import SkipUnreadable, collate_readable

SIZE = 64


def _sample(dataset, index: int, seed: int = 7) -> dict:
    torch.manual_seed(seed)
    return dataset[index]


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], torch.Tensor):
            assert torch.equal(a[key], b[key]), key
        else:
            assert a[key] == b[key], key


def _folder_root(dis5k_root: Path, tmp_path: Path) -> Path:
    root = tmp_path / "own data é"
    shutil.copytree(dis5k_root / "DIS-TR" / "im", root / "images")
    shutil.copytree(dis5k_root / "DIS-TR" / "gt", root / "masks")
    return root


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_datasets_and_their_transforms_survive_pickling(
    dis5k_root: Path, cod10k_root: Path, tmp_path: Path, train: bool
) -> None:
    # Augmentation switched fully on, so a copy rebuilt with other settings draws otherwise.
    augment = AugmentConfig(crop_prob=1.0, rotate_prob=1.0, color_jitter_prob=1.0)
    cases = [
        (DataConfig(dataset="dis5k", root=str(dis5k_root), augment=augment), "DIS-TR"),
        (DataConfig(dataset="cod10k", root=str(cod10k_root), augment=augment), "Test"),
        (DataConfig(dataset="folder", root=str(_folder_root(dis5k_root, tmp_path))), "all"),
    ]
    for cfg, split in cases:
        dataset = build_dataset(cfg, split, SIZE, train=train)
        copy = pickle.loads(pickle.dumps(dataset))
        for index in (0, len(dataset) - 1):
            _assert_same(_sample(dataset, index), _sample(copy, index))
        assert copy.instances.describe() == dataset.instances.describe()
        if train:  # the seed decides the sample, so equal samples are no accident
            other = _sample(dataset, 0, seed=8)
            assert not torch.equal(other["image"], _sample(dataset, 0)["image"])
        wrapped = pickle.loads(pickle.dumps(SkipUnreadable(dataset)))
        _assert_same(_sample(wrapped, 0), _sample(dataset, 0))


def test_loader_functions_survive_pickling(dis5k_root: Path) -> None:
    init = pickle.loads(pickle.dumps(worker_warnings_init()))
    init(0)  # runs in the worker before its first sample
    collate = pickle.loads(pickle.dumps(collate_readable))
    dataset = build_dataset(DataConfig(root=str(dis5k_root)), "DIS-TE1", SIZE, train=False)
    batch = collate([dataset[0], {"name": "bad", "unreadable": "cannot read 'bad.jpg'"}])
    assert batch["unreadable"] == [("bad", "cannot read 'bad.jpg'")]
    assert batch["batch"]["image"].shape == (1, 3, SIZE, SIZE)
