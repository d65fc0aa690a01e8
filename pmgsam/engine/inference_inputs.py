"""The images inference reads: a folder (or one file) listed and checked header by header
(:class:`ImageFolder`), and the wrapper that lets a DataLoader worker hand an unreadable file
back by name instead of ending the run (:class:`SkipUnreadable`, :func:`collate_readable`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from torch.utils.data import Dataset
from torch.utils.data._utils.collate import default_collate

from pmgsam.data import EvalTransform, load_image
from pmgsam.data.io import (
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
    cannot be read (a :class:`~pmgsam.data.io.DataError`), so that a DataLoader worker hands the
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
