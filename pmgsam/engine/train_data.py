"""The data of a training run: its training and validation datasets, sampler and loaders.

Under ``torchrun`` rank 0 builds the datasets first (a carved split is drawn once and saved,
the other ranks then read it) and alone runs ``data.check_files`` (or, without it, names the
images carrying an EXIF orientation, which a mask drawn on their displayed view would not fit:
a square photo's gives no other sign). Every rank gets a :class:`DrawKeySampler` (torch's
``DistributedSampler`` yielding the keys that choose each sample's augmentation) over the
training split and a disjoint shard of the validation split, loaded by ``data.num_workers``
workers at most as many as the CPUs the process may use (its share of them when ``torchrun``
starts several ranks on the node).

:func:`warn_shared_images` says at the start of a run when a test split (or the validation
split) holds training images, which benchmark mode would refuse to score only later, or when
another test split holds validation images (the best checkpoint is chosen on those).
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import torch
from torch.utils.data import DataLoader, DistributedSampler, Subset

from pmgsam.data import DataConfig, build_dataset, train_val_split_names
from pmgsam.data.datasets import DrawKey, SegmentationDataset, check_files, warn_oriented_images
from pmgsam.engine import distributed as D
from pmgsam.engine.config import ExperimentConfig
from pmgsam.utils.cpus import loader_workers
from pmgsam.utils.io import path_under
from pmgsam.utils.loaders import command_worker_init

logger = logging.getLogger(__name__)


class DrawKeySampler(DistributedSampler):
    """torch's :class:`DistributedSampler` (same order, same shards) yielding each index as a
    :class:`~pmgsam.data.datasets.DrawKey` ``(seed, epoch, index, repeat)``, which alone
    chooses the sample's augmentation: the same whatever the number of loader workers, which
    worker loads it, whether workers persist across epochs, or a resume in between. A sample
    that the padding of the ranks repeats gets ``repeat`` 1 (or more) and another augmentation.

    Arguments: those of :class:`DistributedSampler` (``dataset``, ``num_replicas``, ``rank``,
        ``shuffle``, ``seed``, ``drop_last``); ``seed`` is also each key's.
    """

    def __iter__(self) -> Iterator[DrawKey]:  # type: ignore[override]
        # DistributedSampler's indices are this rank's slice [rank::num_replicas] of the
        # epoch's order padded (by repeating it from the start) to total_size.
        positions = range(self.rank, self.total_size, self.num_replicas)
        count = len(self.dataset)  # type: ignore[arg-type]
        for position, index in zip(positions, super().__iter__()):
            yield DrawKey(self.seed, self.epoch, index, position // count)


@dataclass
class TrainingData:
    """What :func:`build_training_data` returns.

    Arguments:
        train_set: the training split (augmented).
        val_set: the whole validation split.
        sampler: this rank's shuffling sampler over ``train_set`` (``set_epoch`` each epoch),
            which yields :class:`~pmgsam.data.datasets.DrawKey` s.
        train_loader: batches of ``train_set`` drawn by ``sampler``.
        val_loader: batches of this rank's shard of ``val_set``, in order.
    """

    train_set: SegmentationDataset
    val_set: SegmentationDataset
    sampler: DrawKeySampler
    train_loader: DataLoader
    val_loader: DataLoader


def build_training_data(
    config: ExperimentConfig, dist: D.DistInfo, device: torch.device
) -> TrainingData:
    """Datasets, sampler and loaders of ``config`` for this process (``dist``) on ``device``.

    Training draws through torch's ``DistributedSampler``: when the training set does not
    divide by the number of processes, it repeats up to ``world_size - 1`` images per epoch so
    that every rank takes as many steps (a repeat draws its own augmentation). Validation
    shards are disjoint, each image scored once. Augmentation follows (``train.seed``, epoch,
    sample index) alone (:class:`DrawKeySampler`), so ``performance.persistent_workers`` keeps
    a resumed run exact; it applies where ``data.num_workers`` > 0.
    """
    cfg, size = config.data, config.model.image_size
    workers = loader_workers(cfg.num_workers, log=dist.is_main)
    train_name, val_name = train_val_split_names(cfg)
    # Rank 0 first: carved splits are drawn once and saved, the other ranks then read them.
    for turn in ("main", "others"):
        if (turn == "main") == dist.is_main:
            train_set = build_dataset(cfg, train_name, size, train=True)
            val_set = build_dataset(cfg, val_name, size, train=False)
            if cfg.check_files and dist.is_main:
                check_files([train_set, val_set], max(1, workers))
            elif dist.is_main:
                warn_oriented_images([train_set, val_set])
        D.barrier()
    world, rank = dist.world_size, dist.rank
    sampler = DrawKeySampler(
        train_set, num_replicas=world, rank=rank, shuffle=True, seed=config.train.seed
    )
    tc = config.train
    worker_options = {
        "num_workers": workers,
        "pin_memory": device.type == "cuda",
        "persistent_workers": config.performance.persistent_workers and workers > 0,
        # SIGTERM sent to the whole job must end the run as an interruption, not a crash.
        "worker_init_fn": command_worker_init(),
    }
    train_loader = DataLoader(
        train_set, batch_size=tc.batch_size, sampler=sampler, **worker_options
    )
    # Disjoint shards (no padding duplicates), so the all-reduced sums are exact.
    shard = Subset(val_set, list(range(rank, len(val_set), world)))
    val_batch = tc.val_batch_size or tc.batch_size
    # Persistent like training's: a validation loader that did not persist would start its
    # workers while the training ones idle, so the peak would not fall (BENCHMARKS.md).
    val_loader = DataLoader(shard, batch_size=val_batch, shuffle=False, **worker_options)
    return TrainingData(train_set, val_set, sampler, train_loader, val_loader)


def listed_test_splits(cfg: DataConfig) -> List[Tuple[str, str, List[str]]]:
    """(config key, split, image names) of each of ``cfg.test_splits``, once each (under its
    first key), from the split listings alone (no image read). A split carved from another is
    read from its split file, or drawn in memory as benchmark mode would, not saved; one that
    cannot be listed (not in this copy of the data) is skipped with an info line."""
    from pmgsam.data.layouts import list_split
    from pmgsam.data.splits import read_only_splits

    listed = []
    for i, split in enumerate(cfg.test_splits):
        if split in cfg.test_splits[:i]:  # listed twice: said once, under its first key
            continue
        # Training saves the split files of the splits it trains and validates on only.
        why = f"test split {split!r} is only listed here, to check it for shared images"
        try:
            with read_only_splits(why):
                names = list_split(cfg, split).names
        except (OSError, ValueError) as err:  # DataError is a ValueError
            logger.info("test split %r not checked for shared images: %s", split, err)
            continue
        listed.append((f"data.test_splits[{i}]", split, list(names)))
    return listed


def shared_training_images(
    cfg: DataConfig,
    train_set: SegmentationDataset,
    val_set: SegmentationDataset,
    tests: Optional[List[Tuple[str, str, List[str]]]] = None,
) -> List[Tuple[str, str, int]]:
    """(config key, split, count) for the validation split and each of ``cfg.test_splits``
    that holds images of ``train_set`` (``val_set``: the validation split; ``tests``: the test
    splits as :func:`listed_test_splits` gives them, listed here when None).

    Images are the same when their names (file stems) are, as for benchmark mode's refusal to
    score a split holding a run's training images
    (:func:`pmgsam.evaluation.benchmark.check_not_trained_on`).
    """
    trained = set(train_set.names)
    val_name = train_val_split_names(cfg)[1]
    shared = [("data.val_split", val_name, len(trained.intersection(val_set.names)))]
    tests = listed_test_splits(cfg) if tests is None else tests
    shared += [(key, split, len(trained.intersection(names))) for key, split, names in tests]
    return [entry for entry in shared if entry[2]]


def shared_validation_images(
    cfg: DataConfig,
    val_set: SegmentationDataset,
    tests: Optional[List[Tuple[str, str, List[str]]]] = None,
) -> List[Tuple[str, str, int]]:
    """(config key, split, count) for each of ``cfg.test_splits`` other than the validation
    split that holds images of ``val_set`` (by name, as :func:`shared_training_images`). The
    validation split itself as a test split (DIS-VD in DIS5K's protocol) is not counted."""
    val_name = train_val_split_names(cfg)[1]
    validated = set(val_set.names)
    tests = listed_test_splits(cfg) if tests is None else tests
    shared = [(key, split, len(validated.intersection(names))) for key, split, names in tests]
    return [entry for entry in shared if entry[2] and entry[1] != val_name]


def _counts(shared: List[Tuple[str, str, int]]) -> str:
    """``key 'split': n; ...`` of (config key, split, count) entries, as the warning lists them."""
    return "; ".join(f"{key} {split!r}: {n}" for key, split, n in shared)


def warn_shared_images(
    cfg: DataConfig, train_set: SegmentationDataset, val_set: SegmentationDataset
) -> None:
    """One warning naming every split of :func:`shared_training_images` and of
    :func:`shared_validation_images`, if any: legal (a sanity check may score training images
    on purpose), but a score there is no independent test score."""
    tests = listed_test_splits(cfg)
    trained = shared_training_images(cfg, train_set, val_set, tests)
    validated = shared_validation_images(cfg, val_set, tests)
    train_name, val_name = train_val_split_names(cfg)
    said = []
    if trained:
        said.append(
            f"the training split {train_name!r} ({len(train_set.names)} images) shares images "
            f"(same file names) with other splits of the config: {_counts(trained)}; a score there "
            "measures images the model trained on (benchmark mode refuses to score such a "
            "split unless it is the training split itself)"
        )
    if validated:
        said.append(
            f"the validation split {val_name!r} ({len(val_set.names)} images) shares images "
            f"(same file names) with test splits of the config: {_counts(validated)}; the best "
            "checkpoint is chosen by the validation loss, so a score of it there counts "
            "images it was chosen on"
        )
    if said:
        logger.warning("%s", ". Also, ".join(said) if len(said) > 1 else said[0])


#: Bytes read from each end of a data file for :func:`data_fingerprint` (all of a file of at
#: most twice this).
SAMPLE_BYTES = 16 * 1024


def data_fingerprint(root: str, *datasets: SegmentationDataset) -> str:
    """SHA-256 of the datasets' images and GT masks, in order: each file's path relative to
    ``root``, its size in bytes and its first and last :data:`SAMPLE_BYTES` (the whole file
    when it is at most twice that).

    The same after the dataset folder moved (a copy keeps the bytes, not the modification
    times, so those cannot count); different for another image list, or for an image or mask
    replaced under the same name by another file, of the same size too: a JPEG's first bytes
    hold its headers and the start of its scan, which differ between two photos, and a PNG
    ends with the Adler-32 of all its pixel rows (the zlib stream's), so any edit of a PNG
    mask shows in its last bytes. Reading every byte would be sound for any format but costs
    the dataset's gigabytes at each start; this reads at most 32 KiB per file (under 230 MB
    for DIS5K's 3,470 training and validation pairs, far less where masks are small)."""
    digest = hashlib.sha256()
    base = Path(root).resolve()
    for dataset in datasets:
        for files in zip(dataset.image_paths, dataset.mask_paths):
            for path in files:
                with open(path, "rb") as f:
                    size = os.fstat(f.fileno()).st_size
                    # os.fsencode: a name that is not UTF-8 (held as surrogates) as its bytes.
                    digest.update(os.fsencode(f"{path_under(path, base)} {size}\n"))
                    if size <= 2 * SAMPLE_BYTES:
                        digest.update(f.read())
                    else:
                        digest.update(f.read(SAMPLE_BYTES))
                        f.seek(size - SAMPLE_BYTES)
                        digest.update(f.read(SAMPLE_BYTES))
        digest.update(b"|")
    return digest.hexdigest()


def sizes_fingerprint(root: str, *datasets: SegmentationDataset) -> str:
    """The fingerprint training states held before :func:`data_fingerprint` (under
    :data:`~pmgsam.engine.resume_checks.LEGACY_SIZES_FINGERPRINT`): SHA-256 of each image's
    and mask's path relative to ``root`` and its size, so such a state can still be checked."""
    digest = hashlib.sha256()
    base = Path(root).resolve()
    for dataset in datasets:
        for files in zip(dataset.image_paths, dataset.mask_paths):
            for path in files:
                line = f"{path_under(path, base)} {Path(path).stat().st_size}\n"
                digest.update(os.fsencode(line))
        digest.update(b"|")
    return digest.hexdigest()


def paths_fingerprint(root: str, *datasets: SegmentationDataset) -> str:
    """The fingerprint training states held before :func:`sizes_fingerprint` (under
    :data:`~pmgsam.engine.resume_checks.LEGACY_DATA_FINGERPRINT`): SHA-256 of the image paths
    relative to ``root`` alone, so such a state can still be resumed and checked."""
    digest = hashlib.sha256()
    base = Path(root).resolve()
    for dataset in datasets:
        for path in dataset.image_paths:
            digest.update(os.fsencode(f"{path_under(path, base)}\n"))
        digest.update(b"|")
    return digest.hexdigest()
