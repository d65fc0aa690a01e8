"""Paired image/mask datasets for DIS5K, COD10K-v3, NC4K and plain folders.

Layouts read (``root`` is the dataset folder itself):

* DIS5K: ``<root>/<split>/im/*.jpg`` + ``<root>/<split>/gt/*.png`` (optional ``ske/`` skeletons
  exposed as ``skeleton_paths``); no instance labels.
* COD10K-v3: ``<root>/{Train,Test}/Image`` + ``GT_Object``; instances from the COCO JSON
  ``CAM_Instance_<Split>.json`` looked up in ``<root>/<Split>/``, then ``<root>/``, then
  ``<root>/annotations/``, falling back to the ``<root>/<Split>/GT_Instance`` PNGs.
* NC4K: ``<root>/Imgs`` + ``<root>/GT``; instances from ``<root>/Instance`` PNGs.
* folder: ``<root>/<image_dir>`` + ``<root>/<mask_dir>`` (split ``all``) and/or
  ``<root>/<name>/<image_dir>`` + ``<root>/<name>/<mask_dir>`` (split ``<name>``); instances from
  ``instance_dir`` when set.

Images and masks are paired by file stem; an image without a mask, or a mask without an image,
is an error listing the offending files. In COCO output the image ``id`` is the sample index + 1
and every instance is class-agnostic (``category_id`` 1).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence

from torch.utils.data import Dataset

from pmgsam.utils.messages import preview

from .config import BASE_SPLITS, AugmentConfig, DataConfig
from .io import (
    IMAGE_EXTENSIONS,
    MASK_EXTENSIONS,
    DataError,
    DataNotFoundError,
    annotations_from_json,
    annotations_from_pngs,
    binarize,
    list_files,
    load_image,
    load_image_reduced,
    load_mask,
    natural_key,
    read_header,
    read_size,
    reduced_decode_applies,
)
from .splits import load_or_create, parse_split, split_dir, split_file
from .transforms import EvalTransform, TrainTransform, reduced_decode_factor, shrink_mask


@dataclass(frozen=True)
class InstanceSource:
    """Where a split's instance labels live.

    Arguments:
        kind: ``"json"`` (COCO file), ``"png"`` (instance-map folder) or ``"none"``.
        path: the JSON file or PNG folder (``None`` for ``"none"``).
        reason: for ``"none"``, why there are no instance labels (shown by ``coco_gt``).
    """

    kind: str
    path: Path | None = None
    reason: str = ""


@dataclass
class _Listing:
    names: List[str]
    images: List[Path]
    masks: List[Path]
    instances: InstanceSource
    skeletons: List[Path | None] | None = None

    def subset(self, keep: Sequence[str]) -> _Listing:
        wanted = set(keep)
        idx = [i for i, n in enumerate(self.names) if n in wanted]
        skel = [self.skeletons[i] for i in idx] if self.skeletons is not None else None
        return _Listing(
            [self.names[i] for i in idx],
            [self.images[i] for i in idx],
            [self.masks[i] for i in idx],
            self.instances,
            skel,
        )


def _pair(
    image_dir: Path, mask_dir: Path, hint: str, keep: Callable[[str], bool] | None = None
) -> _Listing:
    if not image_dir.is_dir():
        raise DataNotFoundError(f"image folder '{image_dir}' does not exist ({hint})")
    images = list_files(image_dir, IMAGE_EXTENSIONS, "image")
    masks = list_files(mask_dir, MASK_EXTENSIONS, "mask (GT)")
    if keep is not None:
        images = {k: v for k, v in images.items() if keep(k)}
        masks = {k: v for k, v in masks.items() if keep(k)}
    if not images:
        raise DataError(
            f"image folder '{image_dir}' contains no images with extensions {IMAGE_EXTENSIONS}"
            + (" that pass the filter" if keep is not None else "")
        )
    no_mask = sorted(set(images) - set(masks), key=natural_key)
    if no_mask:
        raise DataError(
            f"{len(no_mask)} image(s) in '{image_dir}' have no mask in '{mask_dir}': "
            + preview([images[s].name for s in no_mask], limit=5)
        )
    no_image = sorted(set(masks) - set(images), key=natural_key)
    if no_image:
        raise DataError(
            f"{len(no_image)} mask(s) in '{mask_dir}' have no image in '{image_dir}': "
            + preview([masks[s].name for s in no_image], limit=5)
        )
    names = sorted(images, key=natural_key)
    return _Listing(
        names, [images[n] for n in names], [masks[n] for n in names], InstanceSource("none")
    )


def _check_root(root: Path, dataset: str) -> None:
    if not root.is_dir():
        raise DataNotFoundError(f"{dataset} root folder '{root}' does not exist (data.root)")


def _dis5k(root: Path, split: str) -> _Listing:
    hint = f"data.root should be the DIS5K folder holding {BASE_SPLITS['dis5k']}"
    listing = _pair(root / split / "im", root / split / "gt", hint)
    ske = root / split / "ske"
    if ske.is_dir():
        found = list_files(ske, MASK_EXTENSIONS, "skeleton")
        listing.skeletons = [found.get(n) for n in listing.names]
    listing.instances = InstanceSource(
        "none", reason="DIS5K has no instance labels (it is a dichotomous segmentation dataset)"
    )
    return listing


def _cod10k(root: Path, split: str, cam_only: bool) -> _Listing:
    hint = "data.root should be the COD10K-v3 folder holding Train/ and Test/"
    keep = (lambda s: "-CAM-" in s) if cam_only else None
    try:
        listing = _pair(root / split / "Image", root / split / "GT_Object", hint, keep)
    except DataError as err:
        if cam_only or "no mask" not in str(err):
            raise
        raise DataError(f"{err}; COD10K NonCAM images have no GT: set data.cam_only=true") from err
    json_name = f"CAM_Instance_{split}.json"
    candidates = [root / split / json_name, root / json_name, root / "annotations" / json_name]
    found = next((p for p in candidates if p.is_file()), None)
    if found is not None:
        listing.instances = InstanceSource("json", found)
    elif (root / split / "GT_Instance").is_dir():
        listing.instances = InstanceSource("png", root / split / "GT_Instance")
    else:
        looked = ", ".join(f"'{p}'" for p in candidates + [root / split / "GT_Instance"])
        listing.instances = InstanceSource("none", reason=f"no instance labels found at {looked}")
    return listing


def _nc4k(root: Path) -> _Listing:
    listing = _pair(root / "Imgs", root / "GT", "data.root should be the NC4K folder")
    inst = root / "Instance"
    listing.instances = (
        InstanceSource("png", inst)
        if inst.is_dir()
        else InstanceSource("none", reason=f"instance folder '{inst}' does not exist")
    )
    return listing


def _folder_splits(cfg: DataConfig) -> List[str]:
    root = Path(cfg.root)
    names = ["all"] if (root / cfg.image_dir).is_dir() else []
    if root.is_dir():
        subs = [p.name for p in root.iterdir() if (p / cfg.image_dir).is_dir()]
        names += sorted(s for s in subs if s not in ("all", cfg.image_dir))
    if "all" in names:
        names += [s for s in ("train", "test") if s not in names]
    return names


def _folder(cfg: DataConfig, split: str) -> _Listing:
    base = Path(cfg.root) if split == "all" else Path(cfg.root) / split
    hint = f"data.root / data.image_dir / data.mask_dir of the folder dataset (split {split!r})"
    listing = _pair(base / cfg.image_dir, base / cfg.mask_dir, hint)
    if cfg.instance_dir:
        inst = base / cfg.instance_dir
        if not inst.is_dir():
            raise DataNotFoundError(f"instance folder '{inst}' does not exist (data.instance_dir)")
        listing.instances = InstanceSource("png", inst)
    else:
        listing.instances = InstanceSource("none", reason="data.instance_dir is not set")
    return listing


def available_splits(cfg: DataConfig) -> List[str]:
    """Split names of the configured dataset (each also usable as ``X:train`` / ``X:val``)."""
    base = BASE_SPLITS[cfg.dataset]
    return list(base) if base is not None else _folder_splits(cfg)


def _carved(
    cfg: DataConfig, listing: _Listing, source: str, parts: tuple, fraction: float, part: str
) -> _Listing:
    path = split_file(split_dir(cfg), cfg.dataset, source, parts[1], fraction, cfg.split_seed)
    split = load_or_create(
        path, listing.names, parts, fraction, cfg.split_seed, cfg.dataset, source
    )
    return listing.subset(split[part])


def _listing(cfg: DataConfig, split: str) -> _Listing:
    valid = available_splits(cfg)
    base, part = parse_split(split)
    if base not in valid:
        raise DataError(
            f"unknown split {split!r} for dataset {cfg.dataset!r} (root '{cfg.root}'); valid: "
            f"{valid}, each also as '<split>:train' / '<split>:val'"
        )
    root = Path(cfg.root)
    _check_root(root, cfg.dataset)
    # A folder dataset's own sub-folder wins over the derived train/test of its pool.
    own_folder = (
        cfg.dataset == "folder" and base != "all" and (root / base / cfg.image_dir).is_dir()
    )
    pooled = cfg.dataset in ("nc4k", "folder") and base in ("train", "test") and not own_folder
    if cfg.dataset == "dis5k":
        listing = _dis5k(root, base)
    elif cfg.dataset == "cod10k":
        listing = _cod10k(root, base, cfg.cam_only)
    elif cfg.dataset == "nc4k":
        listing = _nc4k(root)
    else:
        listing = _folder(cfg, base if own_folder else "all")
    if pooled:
        listing = _carved(cfg, listing, "all", ("train", "test"), cfg.test_fraction, base)
    if part is not None:
        listing = _carved(cfg, listing, base, ("train", "val"), cfg.val_fraction, part)
    return listing


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
        names: sample names (default: the image file stems).
        instances: instance-label source used by :meth:`coco_gt`.
        skeleton_paths: optional precomputed GT skeletons (DIS5K ``ske/``), ``None`` entries
            where missing.
        description: label used in messages, e.g. ``"dis5k DIS-TE1"``.
        reduced_decode: with ``train`` and augmentation enabled, decode JPEGs at 1/2, 1/4 or
            1/8 size when S and the crop allow (:func:`reduced_decode_factor`); ``orig_size``
            is then the crop size in decoded pixels. :meth:`load` (and evaluation) always
            decodes at full size.
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
        reduced_decode: bool = False,
    ) -> None:
        if len(image_paths) != len(mask_paths):
            raise DataError(f"{len(image_paths)} images but {len(mask_paths)} masks")
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
            raise DataError(
                f"mask '{self.mask_paths[index]}' is {mask_hw[1]}x{mask_hw[0]} (WxH) but its "
                f"image '{self.image_paths[index]}' is {image_hw[1]}x{image_hw[0]}"
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
        mask = load_mask(self.mask_paths[index])
        self._check_pair(index, mask.shape, (height, width))
        image = load_image_reduced(self.image_paths[index], factor)
        return image, shrink_mask(binarize(mask), image.shape[:2], factor)

    def __getitem__(self, index: int) -> Dict[str, Any]:
        image, mask = self.load_for_training(index) if self.train else self.load(index)
        sample: Dict[str, Any] = dict(self.transform(image, mask))
        sample["name"] = self.names[index]
        return sample

    def verify(self) -> None:
        """Check every pair from the file headers (readable, equal sizes); raises DataError."""
        for img, msk in zip(self.image_paths, self.mask_paths):
            if read_size(img) != read_size(msk, "mask"):
                raise DataError(
                    f"mask '{msk}' size {read_size(msk, 'mask')} (HxW) differs from image "
                    f"'{img}' size {read_size(img)}"
                )

    def coco_gt(self) -> Dict[str, Any]:
        """COCO ground truth (RLE with str counts, class-agnostic) for instance evaluation."""
        if self.instances.kind == "none":
            raise DataError(
                f"{self.description or 'this dataset'} has no instance labels: "
                f"{self.instances.reason}"
            )
        images = []
        for i, path in enumerate(self.image_paths):
            h, w = read_size(path)
            images.append({"id": i + 1, "file_name": path.name, "height": h, "width": w})
        assert self.instances.path is not None
        if self.instances.kind == "json":
            what = self.description or "this split"
            annotations = annotations_from_json(self.instances.path, self.names, images, what)
        else:
            annotations = annotations_from_pngs(self.instances.path, self.names, images)
        return {
            "info": {"description": f"pmgsam ground truth: {self.description}"},
            "licenses": [],
            "images": images,
            "annotations": annotations,
            "categories": [{"id": 1, "name": "object", "supercategory": "object"}],
        }


def check_files(datasets: Sequence[SegmentationDataset], workers: int = 4) -> None:
    """Decode every image/mask pair of ``datasets`` once; raise one :class:`DataError` listing
    every unreadable or size-mismatched file and every dataset whose masks are all empty.
    """

    def check(item: tuple) -> tuple:
        dataset, index = item
        try:
            _, mask = dataset.load(index)
        except DataError as err:
            return str(err), False
        return None, bool(mask.any())

    items = [(ds, i) for ds in datasets for i in range(len(ds))]
    # Decoding releases the GIL, so threads read files in parallel without pickling datasets.
    with ThreadPoolExecutor(max(1, workers)) as pool:
        results = list(pool.map(check, items))
    problems = [problem for problem, _ in results if problem]
    start = 0
    for ds in datasets:
        found = [foreground for _, foreground in results[start : start + len(ds)]]
        start += len(ds)
        if found and not any(found):
            problems.append(
                f"{ds.description or 'a split'}: all {len(ds)} masks are empty (no pixel above "
                "128 after load_mask, which already reads 0/1 label masks as 0/255)"
            )
    if problems:
        raise DataError(
            f"data.check_files found {len(problems)} problem(s) in {len(items)} image/mask "
            f"pairs: {preview(problems, 20)}"
        )


def build_dataset(cfg: DataConfig, split: str, image_size: int, train: bool) -> SegmentationDataset:
    """Dataset for ``split`` of ``cfg.dataset`` (names in :mod:`pmgsam.data.config`).

    Carved splits (NC4K ``train``/``test``, any ``X:train``/``X:val``) are read from, or saved
    to, the split directory (``cfg.split_dir`` or ``<root>/pmgsam_splits``).
    """
    listing = _listing(cfg, split)
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
