"""What each point prompt of ``python -m pmgsam.baselines.finetune_sam`` is trained to return.

``finetune.targets``:

* ``object``: every point of an image has the image's whole binary GT as its target (DIS5K:
  one dichotomous object per image; the points are drawn among its foreground pixels);
* ``instance``: the points are drawn uniformly among the pixels covered by the image's
  instances, and each point's target is the instance that contains it. Automatic mode is
  scored per instance (COS: COCO AP on COD10K / NC4K), and SAM is trained to return the object
  under a click: a point on one of several animals with all of them as its target would teach
  the decoder to return the union from one click, so the generator's per-point masks would
  merge instances. The instances are the split's instance labels, the ones COCO AP is scored
  against (a COCO JSON file or instance-map PNGs: :mod:`pmgsam.data.instance_labels`).
  Crowd regions (``iscrowd`` 1 in a COCO file: COCOeval ignores them) get no point and are
  no point's target; where instances overlap, a point's target is the smallest instance that
  contains it. Images without instances are skipped, as images without foreground are; an
  image with instances but an empty binary GT is trained on them, named in a warning (the
  labels disagree: :func:`log_empty_gt`);
* ``auto`` (the default): ``instance`` when both the training and validation splits have
  instance labels, ``object`` otherwise.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from pmgsam.data.coco_annotations import instance_masks, read_coco_instances, segmentation_to_rle
from pmgsam.data.io import (
    MASK_EXTENSIONS,
    DataError,
    DataNotFoundError,
    list_files,
    load_instance_map,
)
from pmgsam.utils.config import ConfigError
from pmgsam.utils.messages import preview
from pmgsam.utils.rle import compressed_counts

logger = logging.getLogger("pmgsam.baselines.finetune_sam")
TARGET_KINDS = ("auto", "object", "instance")


def resolve_targets(requested: str, datasets: Dict[str, Any], root: str) -> str:
    """``object`` or ``instance`` for ``finetune.targets`` = ``requested`` over the splits
    ``datasets`` (name -> dataset with an ``instances`` source) of the data folder ``root``;
    ``instance`` on a split without instance labels is refused, naming it."""
    missing = {s: d.instances for s, d in datasets.items() if d.instances.kind == "none"}
    if requested == "instance" and missing:
        split, source = next(iter(missing.items()))
        raise ConfigError(
            f"finetune.targets=instance but split {split!r} of data.root '{root}' has no "
            f"instance labels ({source.reason or 'none found'}); use finetune.targets=object "
            "(or auto)"
        )
    if requested == "auto":
        if missing:
            # The reason names a configured instance folder that is missing, which the user
            # may not expect to change what the decoder learns.
            logger.info(
                "finetune.targets=auto: object targets (no instance labels for split(s) %s)",
                ", ".join(f"{s!r}: {src.reason or 'none found'}" for s, src in missing.items()),
            )
            return "object"
        return "instance"
    return requested


class InstanceMasks:
    """The instance masks of a split's images, by index: ``(T, H, W)`` bool, ``T`` possibly 0.

    Built from ``dataset.instances`` (a COCO JSON file, read once here, or a folder of
    instance-map PNGs, each image's map required here) and ``dataset.names``; crowd regions
    are left out. ``data.check_files`` decodes every image's instances up front
    (:func:`pmgsam.data.datasets.check_files`); otherwise a bad one stops the run when reached.

    Arguments:
        dataset: a split's dataset, with ``instances`` (its instance labels: ``kind`` ``json``,
            ``png`` or ``none``, refused with the ``reason`` it gives; ``path``) and ``names``.
    """

    def __init__(self, dataset: Any) -> None:
        source = dataset.instances
        self.kind, self.path, self.names = source.kind, source.path, list(dataset.names)
        self.what = getattr(dataset, "description", "") or "this split"
        if self.kind == "none":
            raise DataError(f"{self.what} has no instance labels: {source.reason}")
        self.files: Dict[str, Path] = {}
        self.annotations: Dict[str, List[Dict[str, Any]]] = {}
        self.sizes: Dict[str, Tuple[int, int]] = {}  # (H, W) of the images the JSON lists
        if self.kind == "png":
            self.files = list_files(self.path, MASK_EXTENSIONS, "instance map")
            # Found now, not when training reaches the image (evaluation refuses them too).
            missing = [name for name in self.names if name not in self.files]
            if missing:
                raise DataNotFoundError(
                    f"{len(missing)} image(s) of {self.what} have no instance map in "
                    f"'{self.path}': {preview(missing, 10)}"
                )
        else:
            self.annotations, self.sizes = _read_coco(Path(self.path), set(self.names), self.what)

    def __call__(self, index: int, shape: Tuple[int, int]) -> np.ndarray:
        """The instances of image ``index``, whose image is ``shape`` (H, W)."""
        name = self.names[index]
        if self.kind == "png":  # every name has a file: __init__ refused the split otherwise
            label = load_instance_map(self.files[name])
            if label.shape != tuple(shape):
                raise DataError(
                    f"instance map '{self.files[name]}' is {label.shape[1]}x{label.shape[0]} "
                    f"(WxH) but its image is {shape[1]}x{shape[0]}"
                )
            masks = instance_masks(label)
        else:
            masks = []
            size = self.sizes.get(name, tuple(shape))
            if size != tuple(shape):
                raise DataError(
                    f"COCO instance file '{self.path}' gives image '{name}' size {size} (HxW) but "
                    f"the image is {tuple(shape)}"
                )
            for ann in self.annotations.get(name, []):
                where = f"'{self.path}' annotation {ann.get('id')} of image '{name}'"
                rle = segmentation_to_rle(ann["segmentation"], shape[0], shape[1], where)
                masks.append(_decode(rle["counts"], shape))
        masks = [m for m in masks if m.any()]  # a degenerate polygon covers nothing
        if not masks:
            return np.zeros((0, *shape), bool)
        return np.stack(masks)


def _decode(counts: str, shape: Tuple[int, int]) -> np.ndarray:
    """The (H, W) bool mask of a checked compressed RLE (column-major runs, background first;
    pycocotools' own decode warns under NumPy 2)."""
    runs = compressed_counts(counts)
    flat = np.repeat(np.arange(len(runs)) % 2 == 1, runs)
    return np.ascontiguousarray(flat.reshape(shape[1], shape[0]).T)


def _read_coco(path: Path, names: set, what: str) -> Tuple[Dict[str, List[Any]], Dict[str, Any]]:
    """The non-crowd annotations of a COCO file by image stem, for the images ``names``, and
    the (H, W) the file gives those images (where it does)."""
    images, annotations = read_coco_instances(path)
    stems = {im["id"]: Path(im["file_name"]).stem for im in images}
    sizes = {Path(im["file_name"]).stem: (im["height"], im["width"]) for im in images
             if "height" in im and "width" in im}  # fmt: skip
    found: Dict[str, List[Dict[str, Any]]] = {}
    for ann in annotations:
        stem = stems.get(ann["image_id"])
        if stem in names and not ann.get("iscrowd"):
            if "segmentation" not in ann:
                raise DataError(f"'{path}' annotation {ann.get('id')} has no 'segmentation'")
            found.setdefault(stem, []).append(ann)
    if names and not any(Path(im["file_name"]).stem in names for im in images):
        raise DataError(f"COCO instance file '{path}' lists none of the images of {what}")
    return found, {stem: size for stem, size in sizes.items() if stem in names}


def sample_points(mask: np.ndarray, count: int, rng: np.random.Generator) -> Optional[np.ndarray]:
    """``count`` (x, y) points, uniform among the foreground pixels of an (H, W) mask: pixel
    (r, c) is the point (c, r), as ``SamPredictor`` takes a click "in (X,Y) in pixels" (SAM's
    prompt encoder adds 0.5 to reach the pixel's centre, so adding it here would move every
    point half a pixel right and down); with replacement only when the mask has fewer pixels
    than ``count``. ``None`` for an empty mask."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    pick = rng.choice(len(xs), size=count, replace=len(xs) < count)
    return np.stack([xs[pick], ys[pick]], axis=1).astype(np.float64)


def sample_instance_points(
    masks: np.ndarray, count: int, rng: np.random.Generator
) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """``count`` (x, y) points uniform among the pixels covered by the (T, H, W) ``masks``
    (as :func:`sample_points` draws them in a binary mask)
    and, per point, the index of its target: the smallest mask containing it. None when no
    mask has a pixel."""
    if len(masks) == 0:
        return None
    points = sample_points(masks.any(axis=0), count, rng)
    if points is None:
        return None
    xs, ys = points[:, 0].astype(int), points[:, 1].astype(int)
    by_area = np.argsort(masks.reshape(len(masks), -1).sum(axis=1), kind="stable")
    inside = masks[by_area][:, ys, xs]  # (T, P), smallest instance first
    return points, by_area[inside.argmax(axis=0)]


def log_skipped(split: str, skipped: Sequence[str], total: int, targets: str = "object") -> None:
    if skipped:
        what = "instances" if targets == "instance" else "GT foreground"
        logger.warning(
            "%s: skipped %d of %d images without %s (no point prompt can be sampled): %s",
            split, len(skipped), total, what, preview(sorted(skipped), 10),
        )  # fmt: skip


def log_empty_gt(split: str, names: Sequence[str], total: int) -> None:
    """Warn about the images of ``split`` trained on their instances although their binary GT
    mask is empty: the two labels disagree, so one of them is wrong (the object metrics score
    the GT, COCO AP the instances)."""
    if names:
        logger.warning(
            "%s: %d of %d images have instances but an empty GT mask (the labels disagree: one "
            "of them is wrong); trained on the instances: %s",
            split, len(names), total, preview(sorted(names), 10),
        )  # fmt: skip
