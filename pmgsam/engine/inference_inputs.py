"""The images inference reads: a folder (or one file) listed and checked header by header
(:class:`ImageFolder`), and the wrapper that lets a DataLoader worker hand an unreadable file
back by name instead of ending the run (:class:`SkipUnreadable`, :func:`collate_readable`), and
the check of an in-memory image given to ``Predictor.predict_image`` (:func:`image_argument`).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torch.utils.data._utils.collate import default_collate

from pmgsam.data import EvalTransform, load_image
from pmgsam.data.io import (
    DIM_16_BIT_TOP,
    IMAGE_EXTENSIONS,
    DataError,
    DataNotFoundError,
    natural_key,
    read_size,
)
from pmgsam.data.listing import scan_files
from pmgsam.data.orientation import EXIF_ADVICE, exif_orientation
from pmgsam.utils.messages import preview

# The inference command's messages, under its name (it runs as __main__).
logger = logging.getLogger("pmgsam.engine.inference")


def input_images(
    source: Union[str, Path], outputs: Sequence[Union[str, Path, None]] = ()
) -> Dict[str, Path]:
    """``{stem: path}`` of the images to predict: every image of a folder (files of other types
    are named in a warning, and subfolders but those of ``outputs``, the command's own map
    folders, which the README suggests: ``--out my_images/preds``), or one image file."""
    source = Path(source)
    if not source.exists():
        raise DataNotFoundError(f"--input '{source}' does not exist")
    if source.is_dir():
        own = [Path(o).name for o in outputs if o and _is_child(Path(o), source)]
        found, others = scan_files(source, IMAGE_EXTENSIONS, "image", own, stacklevel=3)
        if others:
            kinds = ", ".join(IMAGE_EXTENSIONS)
            logger.warning("%d file(s) in '%s' are not of a type pmgsam reads (%s) and get no "
                           "map: %s", len(others), source, kinds, preview(others, 10))  # fmt: skip
        if not found:  # said before the model loads (seconds with the paper's weights)
            raise DataNotFoundError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in '{source}'")
        return found
    if source.suffix.lower() not in IMAGE_EXTENSIONS:
        raise DataError(
            f"--input '{source}' is neither a folder nor an image file "
            f"({', '.join(IMAGE_EXTENSIONS)})"
        )
    return {source.stem: source}


def _is_child(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().parent == folder.resolve()
    except OSError:
        return False


class ImageFolder(Dataset):
    """Every image of a folder, or one image file (no masks), resized + padded for the model.

    Files whose header cannot be read are left out and listed in ``unreadable`` (path, reason),
    so that one bad file does not cost the maps of all the others.

    Arguments:
      folder (path): directory of images, or a single image file.
      image_size (int): S.
      files (dict, optional): ``{stem: path}`` already listed by :func:`input_images`.
      none_readable_ok (bool): no error when no file can be read (all are in ``unreadable``):
        inference's ``--keep-going`` then records each as a failed input.
    """

    def __init__(
        self,
        folder: Union[str, Path],
        image_size: int,
        files: Optional[Dict[str, Path]] = None,
        none_readable_ok: bool = False,
    ) -> None:
        files = input_images(folder) if files is None else files
        if not files:
            raise DataNotFoundError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in '{folder}'")
        self.unreadable: List[Tuple[str, str]] = []  # (file name, reason)
        names = []
        for name in sorted(files, key=natural_key):
            try:
                read_size(files[name])
                names.append(name)
            except DataError as err:
                self.unreadable.append((files[name].name, str(err)))
        if not names and not none_readable_ok:
            raise DataError(f"none of the {len(files)} images in '{folder}' can be read: "
                            f"{self.describe_unreadable()}")  # fmt: skip
        self.names = names
        self.image_paths = [files[n] for n in self.names]
        self.transform = EvalTransform(image_size)
        oriented = [p.name for p in self.image_paths if exif_orientation(p) != 1]
        if oriented:
            logger.warning(
                "%d image(s) carry an EXIF orientation that viewers apply (%s): their maps "
                "follow the pixels as stored, not the view a photo viewer shows: %s",
                len(oriented),
                preview(oriented, 10),
                EXIF_ADVICE,
            )

    def describe_unreadable(self) -> str:
        """The unreadable files by name, then the first one's reason."""
        names = preview([name for name, _ in self.unreadable], 10)
        return f"{names} (first: {self.unreadable[0][1]})" if self.unreadable else ""

    def __len__(self) -> int:
        return len(self.image_paths)

    def __getitem__(self, index: int) -> Dict[str, Any]:
        sample = dict(self.transform(load_image(self.image_paths[index])))
        sample["name"] = self.names[index]
        return sample


class SkipUnreadable(Dataset):
    """``dataset``'s samples, or ``{"name": ..., "unreadable": reason}`` for one whose files
    cannot be read (a :class:`~pmgsam.data.errors.DataError`), so that a DataLoader worker hands the
    failure back by name instead of ending the run; :func:`collate_readable` sorts them out.

    Arguments:
      dataset: a dataset with ``names`` (one per sample).
      indices: the samples to serve (default all), as ``torch.utils.data.Subset``.
    """

    def __init__(self, dataset: Any, indices: Optional[List[int]] = None) -> None:
        self.dataset = dataset
        self.indices = list(range(len(dataset))) if indices is None else list(indices)
        self.names = [dataset.names[i] for i in self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Dict[str, Any]:
        try:
            return self.dataset[self.indices[index]]
        except DataError as err:
            return {"name": self.names[index], "unreadable": str(err)}


def collate_readable(samples: List[Dict[str, Any]]) -> Dict[str, Any]:
    """A batch of the readable ``samples`` (``None`` when there is none) under ``"batch"`` and
    ``[(name, reason)]`` of the others under ``"unreadable"``."""
    good = [s for s in samples if "unreadable" not in s]
    bad = [(s["name"], s["unreadable"]) for s in samples if "unreadable" in s]
    return {"batch": default_collate(good) if good else None, "unreadable": bad}


def image_argument(image: Any) -> np.ndarray:
    """``image`` if it is an array :meth:`~pmgsam.engine.predictor.Predictor.predict_image`
    takes; a refusal saying how to convert the other forms a notebook has at hand (PIL image,
    tensor, channels-first or batched array), which
    :func:`~pmgsam.data.transforms.as_rgb_array` would only call wrong."""
    if isinstance(image, Image.Image):
        raise TypeError(
            "image must be a numpy array, got a PIL image: pass "
            "np.asarray(image.convert('RGB')) (the pixels as stored, as pmgsam reads files; "
            "PIL.ImageOps.exif_transpose(image) first to apply a photo's EXIF rotation)"
        )
    if isinstance(image, torch.Tensor):
        # A batch (B, C, H, W), the commonest tensor form, takes one image out first: a plain
        # .cpu().numpy() of it would only be refused again, as a batch.
        shape, pick, each = tuple(image.shape), "", ""
        if len(shape) == 4:
            pick, each = ("[0]", "") if shape[0] == 1 else ("[i]", " for each image i")
            shape = shape[1:]
        how = ".permute(1, 2, 0)" if len(shape) == 3 and shape[0] in (1, 3, 4) else ""
        raise TypeError(
            f"image must be a numpy array (H, W, 3), got a torch tensor of shape "
            f"{tuple(image.shape)}: pass image{pick}{how}.cpu().numpy(){each} (predict_batch "
            "takes padded (B, 3, S, S) tensors)"
        )
    if not isinstance(image, np.ndarray):
        return image  # as_rgb_array names its type
    shape = image.shape
    if image.ndim == 3 and shape[0] in (1, 3, 4) and shape[2] not in (1, 3, 4):
        raise ValueError(
            f"image has shape {shape}, channels first: predict_image takes (H, W, 3) "
            "(channels last); pass image.transpose(1, 2, 0)"
        )
    if image.ndim == 4:
        raise ValueError(
            f"image has shape {shape}, a batch: predict_image takes one (H, W, 3) image; call "
            "it on each (for image in images), or predict_dataset for a folder"
        )
    # The alpha of (H, W, 4) is dropped: an opaque 65535 there must not hide dim colours.
    seen = image[:, :, :3] if image.ndim == 3 and shape[2] == 4 else image
    top = int(seen.max(initial=0)) if image.dtype == np.uint16 else 0
    if 0 < top <= DIM_16_BIT_TOP:
        warnings.warn(
            f"image is uint16 but never exceeds {top} (of 65535), so it reads at most "
            f"{round(top * 255 / 65535)}/255, nearly black; if it holds 0-255 values, pass "
            "image.astype(np.uint8), and scale 10- or 12-bit data to 0-65535",
            UserWarning,
            stacklevel=3,
        )
    return image
