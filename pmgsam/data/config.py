"""Dataclass configs for datasets, splits and training augmentation.

Split naming (see :mod:`pmgsam.data.splits` for details):

* DIS5K: ``DIS-TR``, ``DIS-VD``, ``DIS-TE1`` … ``DIS-TE4`` (official folders);
* COD10K: ``Train``, ``Test`` (official folders);
* NC4K and ``folder``: ``all`` (every image), ``train`` / ``test`` (a seeded split of ``all``
  with ``test_fraction`` held out); a ``folder`` dataset also exposes every sub-folder
  ``<root>/<name>/<image_dir>`` as split ``<name>``;
* any split ``X`` can be carved into ``X:train`` / ``X:val`` with ``val_fraction`` held out
  (this is what ``val_split: null`` selects for training).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from ..utils.config import ConfigError, check_positive, check_seed, non_blank_field
from .dis5k_splits import DIS5K_TEST_SPLITS, DIS5K_TRAIN, DIS5K_VAL

DATASETS = ("dis5k", "cod10k", "nc4k", "folder")
# Values of fields added later, as runs saved before them were trained (full-size decoding).
LEGACY_FIELDS = {"reduced_decode": False}
# Fields that a run saved before empty paths were refused may hold as '', which then meant
# not set (None); a saved config reads them so (see pmgsam.utils.config.non_blank_field).
EMPTY_MEANT_NONE = ("split_dir", "instance_dir")

#: Official (folder) splits; ``None`` means the split names come from the folder tree.
BASE_SPLITS = {
    "dis5k": [DIS5K_TRAIN, *DIS5K_TEST_SPLITS],
    "cod10k": ["Train", "Test"],
    "nc4k": ["all", "train", "test"],
    "folder": None,
}
#: Datasets whose ``train`` / ``test`` splits are drawn from ``all``.
POOLED_DATASETS = ("nc4k", "folder")


def splits_overlap(a: str, b: str, dataset: str) -> bool:
    """Whether two split names can share images: the same split, a split and a part carved
    from it (``X`` and ``X:val``), or NC4K / folder ``all`` and a split drawn from it."""
    (base_a, _, part_a), (base_b, _, part_b) = a.partition(":"), b.partition(":")
    if base_a == base_b:
        return not (part_a and part_b and part_a != part_b)
    drawn_from_all = {"all", "train", "test"}
    return (
        dataset in POOLED_DATASETS
        and "all" in (base_a, base_b)
        and {base_a, base_b} <= drawn_from_all
    )


def _check_prob(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"config key '{name}' must be a probability in [0, 1], got {value}")


@dataclass
class AugmentConfig:
    """Training augmentation (albumentations), applied before resize + pad.

    Arguments:
        enabled: master switch; ``False`` makes the training transform equal the eval one.
        crop_prob: probability of a random crop.
        crop_min_scale: each side of the crop keeps at least this fraction of the image side.
        hflip_prob: probability of a horizontal flip.
        rotate_limit: rotation angle drawn uniformly from [-limit, limit] degrees (the paper's
            value was lost in extraction; 15 is chosen). Corners are filled with 0.
        rotate_prob: probability of a rotation.
        brightness: brightness factor drawn from [1 - b, 1 + b].
        contrast: contrast factor drawn from [1 - c, 1 + c].
        saturation: saturation factor drawn from [1 - s, 1 + s].
        hue: hue shift drawn from [-h, h] as a fraction of the hue circle (at most 0.5).
        color_jitter_prob: probability of colour jitter (image only).
    """

    enabled: bool = True
    crop_prob: float = 0.5
    crop_min_scale: float = 0.75
    hflip_prob: float = 0.5
    rotate_limit: float = 15.0
    rotate_prob: float = 0.5
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2
    hue: float = 0.05
    color_jitter_prob: float = 0.5

    def validate_training(self) -> None:
        # Only training augments: ExperimentConfig.validate_training runs this.
        for name in ("crop_prob", "hflip_prob", "rotate_prob", "color_jitter_prob"):
            _check_prob(f"data.augment.{name}", getattr(self, name))
        if not 0.0 < self.crop_min_scale <= 1.0:
            raise ConfigError(
                f"config key 'data.augment.crop_min_scale' must be in (0, 1], "
                f"got {self.crop_min_scale}"
            )
        if not 0.0 <= self.rotate_limit <= 180.0:
            raise ConfigError(
                f"config key 'data.augment.rotate_limit' must be in [0, 180], "
                f"got {self.rotate_limit}"
            )
        for name in ("brightness", "contrast", "saturation"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                key = f"data.augment.{name}"
                raise ConfigError(f"config key '{key}' must be in [0, 1), got {value}")
        if not 0.0 <= self.hue <= 0.5:
            raise ConfigError(f"config key 'data.augment.hue' must be in [0, 0.5], got {self.hue}")


@dataclass
class DataConfig:
    """Which dataset to read, its splits, and the loader settings.

    Arguments:
        dataset: ``dis5k`` | ``cod10k`` | ``nc4k`` | ``folder``.
        root: the dataset folder itself (e.g. ``.../DIS5K``, ``.../COD10K-v3``, ``.../NC4K``).
        train_split: split used for training (see the module doc for names).
        val_split: validation split; ``None`` carves ``<train_split>:val`` out of the training
            split (and trains on ``<train_split>:train``), ``val_fraction`` held out. A split
            sharing images with ``train_split`` is refused (:func:`splits_overlap`).
        test_splits: the splits `evaluate.py` benchmark mode scores when `--splits` is not given.
        val_fraction: fraction of the training split held out for validation (the paper's
            value was lost in extraction; 0.2, an 80/20 carve, is chosen).
        test_fraction: fraction of the whole pool held out as ``test`` for NC4K / ``folder``
            (the paper's value was lost in extraction; 0.2 is chosen).
        split_seed: seed of every carved split.
        split_dir: where split JSON files are saved (by training) and looked up; ``None``
            means ``<root>/pmgsam_splits`` (next to the data, so training and evaluation runs
            share them). Set it when the dataset folder is read-only.
        num_workers: DataLoader worker processes; training, SAM fine-tuning and prediction
            (benchmark mode, ablation, analysis) use at most as many as the CPUs the process
            may use, under ``torchrun`` each rank its share of the node's
            (:func:`pmgsam.utils.cpus.loader_workers`).
        cam_only: COD10K only: keep the camouflaged ``COD10K-CAM-*`` images (3040 train / 2026
            test, as in the paper) and skip the NonCAM ones, which hold no object (an empty
            ``GT_Object`` mask, or none); COS scoring refuses ``false``.
        image_dir: ``folder`` only: image sub-folder of ``root`` (or of ``root/<split>``).
        mask_dir: ``folder`` only: mask sub-folder, masks paired with images by file stem.
        instance_dir: ``folder`` only: optional instance-map sub-folder (of ``root``, or of
            ``root/<split>``) for ``coco_gt()``; a split without it has no instance labels,
            which only COS scoring refuses (naming the folder): training needs none.
        augment: training augmentation.
        check_files: before training, decode every image and mask of the training and
            validation splits once (threads) and stop with one error listing every unreadable
            or mismatched file, and any split whose masks are all empty; otherwise the first
            bad file stops the run mid-epoch. SAM fine-tuning with instance targets decodes
            each image's instance labels with it.
        reduced_decode: training samples only: decode a JPEG at 1/2, 1/4 or 1/8 size (libjpeg
            DCT scaling) when even the smallest random crop of the reduced image still has its
            long side >= S, and area-average the full-size mask to it. Validation, evaluation
            and inference always decode at full size.
    """

    dataset: str = "dis5k"
    root: str = non_blank_field("the dataset folder", default="data/DIS5K")
    train_split: str = non_blank_field("a split name", default=DIS5K_TRAIN)
    val_split: Optional[str] = non_blank_field(  # noqa: UP045 (from_dict needs typing.Optional)
        "a split name", default=DIS5K_VAL
    )
    test_splits: List[str] = non_blank_field(
        "a split name", default_factory=lambda: list(DIS5K_TEST_SPLITS)
    )
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    split_seed: int = 0
    split_dir: Optional[str] = non_blank_field(  # noqa: UP045 (from_dict needs typing.Optional)
        "a folder", default=None
    )
    num_workers: int = 4
    cam_only: bool = True
    image_dir: str = non_blank_field("a sub-folder name", default="images")
    mask_dir: str = non_blank_field("a sub-folder name", default="masks")
    instance_dir: Optional[str] = non_blank_field(  # noqa: UP045 (from_dict needs typing.Optional)
        "a sub-folder name", default=None
    )
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    check_files: bool = False
    reduced_decode: bool = True

    def validate(self) -> None:
        if self.dataset not in DATASETS:
            raise ConfigError(
                f"config key 'data.dataset' must be one of {list(DATASETS)}, got {self.dataset!r}"
            )
        for name in ("val_fraction", "test_fraction"):
            value = getattr(self, name)
            if not 0.0 < value < 1.0:
                raise ConfigError(f"config key 'data.{name}' must be in (0, 1), got {value}")
        check_seed("data.split_seed", self.split_seed)
        check_positive("data.num_workers", self.num_workers, allow_zero=True)
        if not self.root:
            raise ConfigError("config key 'data.root' must name the dataset folder")
        if self.val_split is not None and splits_overlap(
            self.train_split, self.val_split, self.dataset
        ):
            raise ConfigError(
                f"config keys 'data.train_split' ({self.train_split!r}) and 'data.val_split' "
                f"({self.val_split!r}) share images: the validation loss, and the 'best' "
                "checkpoint it picks, would be measured on training images; carve both from "
                "one split ('X:train' and 'X:val', or val_split: null) or use a separate split"
            )
        base = BASE_SPLITS[self.dataset]
        if base is None:
            return
        keys = [("data.train_split", self.train_split), ("data.val_split", self.val_split)]
        keys += [(f"data.test_splits[{i}]", s) for i, s in enumerate(self.test_splits)]
        for key, split in keys:
            if split is not None and split.split(":", 1)[0] not in base:
                raise ConfigError(
                    f"config key '{key}': {split!r} is not a {self.dataset} split; valid: "
                    f"{base} (each also as '<split>:train' / '<split>:val')"
                )
            if (
                split is not None
                and ":" in split
                and split.split(":", 1)[1]
                not in (
                    "train",
                    "val",
                )
            ):
                raise ConfigError(f"config key '{key}': {split!r} must end in ':train' or ':val'")
