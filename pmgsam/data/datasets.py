"""The dataset of image/mask samples at S×S, built from a split of DIS5K, COD10K-v3, NC4K or a
folder, and the one-pass check that every file of a split decodes.

Which files make a split is :mod:`pmgsam.data.layouts`' job; COCO ground truth for instance
evaluation is :mod:`pmgsam.data.instance_labels`'.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Dict, NamedTuple, Optional, Sequence, Tuple, Union

from torch.utils.data import Dataset

from pmgsam.utils.messages import preview

from .augmentation import TrainTransform, reduced_decode_factor, shrink_mask
from .config import AugmentConfig, DataConfig
from .instance_labels import InstanceSource, coco_ground_truth
from .io import (
    DataError,
    binarize,
    load_image,
    load_mask,
    read_header,
)
from .layouts import list_split
from .orientation import EXIF_ADVICE, exif_orientation, quarter_turn_hint
from .reduced_decode import load_image_reduced, reduced_decode_applies
from .transforms import EvalTransform

logger = logging.getLogger(__name__)
#: Reads image ``index``'s instance masks given its (H, W); raises DataError naming a bad file.
InstanceReader = Callable[[int, Tuple[int, int]], Any]


class DrawKey(NamedTuple):
    """A training sample's index with what alone chooses its random augmentation.

    Training's sampler (:class:`~pmgsam.engine.train_data.DrawKeySampler`) yields these in the
    main process, so the epoch reaches DataLoader workers with the index (persistent workers
    never see an attribute set on the dataset after they started).

    Arguments:
        seed: the run's ``train.seed``.
        epoch: the epoch (0-based).
        index: the sample's index in the dataset.
        repeat: 0, or how many times this epoch's sampler already gave ``index`` to some rank
            (``DistributedSampler`` repeats samples to even out the ranks): a repeat draws
            another augmentation.
    """

    seed: int
    epoch: int
    index: int
    repeat: int = 0


class SegmentationDataset(Dataset):
    """Image/mask pairs -> samples ``{image, mask, orig_size, name}`` at S×S.

    ``image`` is float32 (3,S,S) RGB in [0,1] (not normalised), ``mask`` float32 (1,S,S) in {0,1}
    (GT > 128), both zero-padded bottom/right; ``orig_size`` int64 [H, W]; ``name`` the file stem.

    Arguments:
        image_paths: image files.
        mask_paths: GT mask files, same order and size as the images.
        image_size: S.
        train: apply the random augmentation of ``augment`` before resize + pad.
        augment: augmentation settings for ``train=True`` (defaults when ``None``).
        names: sample names, one per image (default: the image file stems).
        instances: instance-label source used by :meth:`coco_gt`.
        skeleton_paths: optional precomputed GT skeletons (DIS5K ``ske/``), one per image,
            ``None`` entries where missing.
        description: label used in messages, e.g. ``"dis5k DIS-TE1"``.
        reduced_decode: with ``train`` and augmentation enabled, decode JPEGs at 1/2, 1/4 or
            1/8 size when S and the crop allow (:func:`reduced_decode_factor`); ``orig_size``
            is then the crop size in decoded pixels. :meth:`load` (and evaluation) always
            decodes at full size. The default is the data config's (``data.reduced_decode``),
            so a dataset built here trains like one that :func:`build_dataset` builds.
    """

    def __init__(
        self,
        image_paths: Sequence[Path],
        mask_paths: Sequence[Path],
        image_size: int,
        train: bool = False,
        augment: AugmentConfig | None = None,
        names: Sequence[str] | None = None,
        instances: InstanceSource | None = None,
        skeleton_paths: Sequence[Path | None] | None = None,
        description: str = "",
        reduced_decode: bool = DataConfig.reduced_decode,
    ) -> None:
        if len(image_paths) != len(mask_paths):
            raise DataError(f"{len(image_paths)} images but {len(mask_paths)} masks")
        # Names name the prediction files: a list of another length would misname them.
        for what, values in (("names", names), ("skeleton paths", skeleton_paths)):
            if values is not None and len(values) != len(image_paths):
                raise DataError(f"{len(values)} {what} for {len(image_paths)} images")
        self.image_paths = [Path(p) for p in image_paths]
        self.mask_paths = [Path(p) for p in mask_paths]
        self.names = list(names) if names is not None else [p.stem for p in self.image_paths]
        self.image_size = int(image_size)
        self.train = train
        self.instances = instances or InstanceSource("none", reason="no instance source given")
        self.skeleton_paths = list(skeleton_paths) if skeleton_paths is not None else None
        self.description = description
        self.reduced_decode = reduced_decode
        self.transform = TrainTransform(image_size, augment) if train else EvalTransform(image_size)

    def __len__(self) -> int:
        return len(self.image_paths)

    def _check_pair(self, index: int, mask_hw: tuple, image_hw: tuple) -> None:
        if mask_hw != image_hw:
            image = self.image_paths[index]
            raise DataError(
                f"mask '{self.mask_paths[index]}' is {mask_hw[1]}x{mask_hw[0]} (WxH) but its "
                f"image '{image}' is {image_hw[1]}x{image_hw[0]}"
                + quarter_turn_hint(image, tuple(mask_hw), tuple(image_hw))
            )

    def load(self, index: int) -> tuple:
        """Original-resolution (H,W,3) uint8 RGB image and (H,W) {0,1} uint8 mask."""
        image = load_image(self.image_paths[index])
        mask = load_mask(self.mask_paths[index])
        self._check_pair(index, mask.shape, image.shape[:2])
        return image, binarize(mask)

    def load_for_training(self, index: int) -> tuple:
        """Like :meth:`load`, but a JPEG may be decoded at 1/f size (``reduced_decode``).

        The mask is then read at full size and block-averaged to the decoded shape
        (:func:`shrink_mask`), soft until the transform binarises it at S.
        """
        transform = self.transform
        on = self.reduced_decode and isinstance(transform, TrainTransform)
        if not on or transform.pipelines is None:
            return self.load(index)
        height, width, fmt, mode = read_header(self.image_paths[index])
        factor = reduced_decode_factor(max(height, width), self.image_size, transform.cfg)
        if factor == 1 or not reduced_decode_applies(fmt, mode):
            return self.load(index)
        # The 0-255 mask is not kept beside its {0, 1} copy while the image is decoded.
        mask = binarize(load_mask(self.mask_paths[index]))
        self._check_pair(index, mask.shape, (height, width))
        image = load_image_reduced(self.image_paths[index], factor)
        return image, shrink_mask(mask, image.shape[:2], factor)

    def __getitem__(self, index: Union[int, DrawKey]) -> Dict[str, Any]:
        """Sample ``index``. A training dataset given a :class:`DrawKey` augments it as the
        key says; given an int, with draws from ``torch``'s RNG. Evaluation has no draws."""
        key = DrawKey(*index) if isinstance(index, tuple) else None
        if key is not None:
            index = key.index
        if not self.train:
            sample: Dict[str, Any] = dict(self.transform(*self.load(index)))
        else:
            image, mask = self.load_for_training(index)
            sample = dict(self.transform(image, mask, draw=key))
        sample["name"] = self.names[index]
        return sample

    def coco_gt(self, unreadable: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
        """COCO ground truth (RLE with str counts, class-agnostic) for instance evaluation.

        Images whose header or instance map cannot be read raise one error naming them all,
        or, with ``unreadable`` given, are left out and recorded there
        (:func:`coco_ground_truth`). Logs where the labels come from: a COD10K split reads
        its COCO file or, without one, its ``GT_Instance`` PNGs, and the two give other AP."""
        if self.instances.kind != "none":
            where = self.description or "split"
            logger.info("%s instance labels: %s", where, self.instances.describe())
        return coco_ground_truth(
            self.image_paths, self.names, self.instances, self.description, unreadable
        )


def _warn_oriented(oriented: Sequence[str]) -> None:
    if oriented:
        logger.warning(
            "%d image(s) carry an EXIF orientation that viewers apply: %s. A mask drawn on the "
            "displayed view does not fit the stored pixels: %s",
            len(oriented),
            preview(oriented, 10),
            EXIF_ADVICE,
        )


def warn_oriented_images(datasets: Sequence[SegmentationDataset]) -> None:
    """Name in one warning the images of ``datasets`` that carry an EXIF orientation (read
    from each header), as :func:`check_files` does while decoding them. A square photo's mask
    drawn on its displayed view has the right size, so nothing else would show it is turned."""
    found = ((p, exif_orientation(p)) for ds in datasets for p in ds.image_paths)
    _warn_oriented([f"{p.name} ({orientation})" for p, orientation in found if orientation != 1])


def check_files(
    datasets: Sequence[SegmentationDataset],
    workers: int = 4,
    instance_labels: Sequence[InstanceReader | None] | None = None,
) -> None:
    """Decode every image/mask pair of ``datasets`` once; raise one :class:`DataError` listing
    every unreadable or size-mismatched file and every dataset whose masks are all empty.
    Images with an EXIF orientation (read as stored) are named in a warning: a mask drawn on
    their displayed view is misaligned, which a square image's size cannot reveal.

    ``instance_labels``: per dataset, None or a reader ``(index, (H, W)) -> masks`` of the
    image's instance labels (SAM fine-tuning's ``finetune_targets.InstanceMasks``), called
    once per pair, so a missing, unreadable or mis-sized instance file is listed with the rest.
    """
    readers = list(instance_labels or [None] * len(datasets))
    if len(readers) != len(datasets):
        raise ValueError(f"{len(readers)} instance readers for {len(datasets)} datasets")

    def check(
        item: Tuple[SegmentationDataset, int, InstanceReader | None],
    ) -> Tuple[Optional[str], Optional[bool], int]:
        """(problem, whether the mask has foreground, EXIF orientation) of one pair."""
        dataset, index, reader = item
        orientation = exif_orientation(dataset.image_paths[index])
        try:
            _, mask = dataset.load(index)
        except DataError as err:
            return str(err), None, orientation  # no mask: neither empty nor not
        try:
            if reader is not None:
                reader(index, mask.shape)
        except DataError as err:
            return str(err), bool(mask.any()), orientation
        return None, bool(mask.any()), orientation

    items = [(ds, i, r) for ds, r in zip(datasets, readers) for i in range(len(ds))]
    # Decoding releases the GIL, so threads read files in parallel without pickling datasets.
    with ThreadPoolExecutor(max(1, workers)) as pool:
        results = list(pool.map(check, items))
    _warn_oriented(
        [
            f"{ds.image_paths[i].name} ({orientation})"
            for (ds, i, _), (_, _, orientation) in zip(items, results)
            if orientation != 1
        ]
    )

    problems = [problem for problem, _, _ in results if problem]
    start = 0
    for ds in datasets:
        part = results[start : start + len(ds)]
        start += len(ds)
        found = [foreground for _, foreground, _ in part if foreground is not None]
        if found and not any(found):
            which = "masks" if len(found) == len(ds) else "masks that can be read"
            problems.append(
                f"{ds.description or 'a split'}: all {len(found)} {which} are empty (no pixel "
                "above 128 after load_mask, which already reads 0/1 label masks as 0/255)"
            )
    if problems:
        labels = " (and their instance labels)" if any(r is not None for r in readers) else ""
        raise DataError(
            f"data.check_files found {len(problems)} problem(s) in {len(items)} image/mask "
            f"pairs{labels}: {preview(problems, 20)}"
        )


def build_dataset(cfg: DataConfig, split: str, image_size: int, train: bool) -> SegmentationDataset:
    """Dataset for ``split`` of ``cfg.dataset`` (names in :mod:`pmgsam.data.config`).

    Carved splits (NC4K ``train``/``test``, any ``X:train``/``X:val``) are read from, or saved
    to, the split directory (``cfg.split_dir`` or ``<root>/pmgsam_splits``); evaluation
    (:func:`pmgsam.data.splits.read_only_splits`) only reads them.
    """
    listing = list_split(cfg, split)
    if not listing.names:
        raise DataError(f"split {split!r} of {cfg.dataset} at '{cfg.root}' has no images")
    return SegmentationDataset(
        listing.images,
        listing.masks,
        image_size,
        train=train,
        augment=cfg.augment,
        names=listing.names,
        instances=listing.instances,
        skeleton_paths=listing.skeletons,
        description=f"{cfg.dataset} {split}",
        reduced_decode=cfg.reduced_decode,
    )
