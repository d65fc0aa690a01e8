"""Find a split's image/mask pairs (and its instance labels) in each dataset's folder layout.

Layouts read (``root`` is the dataset folder itself):

* DIS5K: ``<root>/<split>/im/*.jpg`` + ``<root>/<split>/gt/*.png`` (optional ``ske/`` skeletons
  exposed as ``skeleton_paths``, found by :func:`skeleton_files`); no instance labels.
* COD10K-v3: ``<root>/{Train,Test}/Image`` + ``GT_Object``; instances from the COCO JSON
  ``CAM_Instance_<Split>.json`` looked up in ``<root>/<Split>/``, then ``<root>/``, then
  ``<root>/annotations/``, falling back to the ``<root>/<Split>/GT_Instance`` PNGs.
* NC4K: ``<root>/Imgs`` + ``<root>/GT``; instances from ``<root>/Instance`` PNGs.
* folder: ``<root>/<image_dir>`` + ``<root>/<mask_dir>`` (split ``all``) and/or
  ``<root>/<name>/<image_dir>`` + ``<root>/<name>/<mask_dir>`` (split ``<name>``); instances from
  ``instance_dir`` when set (a split without that folder has none: only COS refuses it).

Images and masks are paired by file stem, from two folders (one folder for both is an error:
each file would be its own mask); images without a mask and masks without an image are
one error listing both (with any partner found in a format that is not read, and the rename
when one side's names are the other's with something added: ``a_mask.png`` for ``a.jpg``).
Files of other formats in an image folder (a phone's ``.heic``) are named in a warning, once
per folder in a process. A split that is not there is an error naming the layout looked for
and, for a ``folder`` dataset, the folders ``root`` holds. Carved
splits (NC4K / ``folder`` ``train``/``test``, any ``X:train``/``X:val``) are drawn by
:mod:`pmgsam.data.splits`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Sequence, Set, Tuple

from pmgsam.utils.io import folder_above
from pmgsam.utils.messages import preview

from .config import BASE_SPLITS, DataConfig
from .instance_folders import instance_folder
from .instance_labels import InstanceSource
from .io import (
    IMAGE_EXTENSIONS,
    MASK_EXTENSIONS,
    DataError,
    DataNotFoundError,
    list_files,
    natural_key,
    other_files,
)
from .listing import folder_entries, scan_files
from .splits import load_or_create, parse_split, split_dir, split_file, split_file_source
from .stem_affixes import renaming_hint


@dataclass
class SplitListing:
    """The samples of one split: names (file stems) with their image, mask and skeleton files.

    Arguments:
        names: sample names, in natural order.
        images: image files, one per name.
        masks: GT mask files, one per name.
        instances: where the split's instance labels live.
        skeletons: DIS5K ``ske/`` skeleton files (``None`` entries where missing), else ``None``.
    """

    names: List[str]
    images: List[Path]
    masks: List[Path]
    instances: InstanceSource
    skeletons: List[Path | None] | None = None

    def subset(self, keep: Sequence[str]) -> SplitListing:
        wanted = set(keep)
        idx = [i for i, n in enumerate(self.names) if n in wanted]
        skel = [self.skeletons[i] for i in idx] if self.skeletons is not None else None
        return SplitListing(
            [self.names[i] for i in idx],
            [self.images[i] for i in idx],
            [self.masks[i] for i in idx],
            self.instances,
            skel,
        )


def _root_elsewhere(root: Path, image_dir: Path) -> Path | None:
    """The folder beside or inside ``root`` (its parent, or one of its subfolders) that holds
    ``image_dir``'s path below ``root``: a download unpacked one level deeper (``DIS5K/DIS5K``)
    or ``data.root`` set to the folder above the dataset."""
    relative = image_dir.relative_to(root)
    try:
        subfolders = sorted(p for p in root.iterdir() if p.is_dir())
    except OSError:  # unreadable: the error about the missing folder stands alone
        subfolders = []
    # data.root '.' (run from inside the dataset): the folder above it, not '.' again.
    parent = folder_above(root)
    return next((c for c in [*subfolders, parent] if (c / relative).is_dir()), None)


def _unread_formats(
    folder: Path, stems: Sequence[str], extensions: Sequence[str], what: str
) -> str:
    """``"; <hint>"`` naming the files of ``folder`` with one of ``stems`` whose format is not
    read (a phone's ``.heic`` photo, a ``.webp`` mask): the missing partner is there, in another
    format."""
    wanted = set(stems)
    found = [n for n in other_files(folder, extensions) if Path(n).stem in wanted]
    if not found:
        return ""
    one = len(found) == 1
    return (
        f"; {preview(found, limit=5)} {'is' if one else 'are'} there, but {what} are read "
        f"from {' '.join(extensions)} files only: convert {'it' if one else 'them'}"
    )


_UNREAD_NAMED: Set[Tuple[str, Tuple[str, ...]]] = set()  # (folder, its unread files) warned of


def _pair(
    image_dir: Path,
    mask_dir: Path,
    hint: str,
    keep: Callable[[str], bool] | None = None,
    root: Path | None = None,
) -> SplitListing:
    if not image_dir.is_dir():
        found = _root_elsewhere(root, image_dir) if root is not None else None
        there = f"; '{found}' holds it: set data.root to that folder" if found else ""
        raise DataNotFoundError(f"image folder '{image_dir}' does not exist ({hint}){there}")
    # Paired by stem, each file of one folder would be its own mask (a.jpg with a.jpg).
    if mask_dir.is_dir() and image_dir.samefile(mask_dir):
        raise DataError(
            f"'{image_dir}' is both the image and the mask folder ({hint}): each image would "
            "be its own mask; keep the masks in a folder of their own"
        )
    images, unread = scan_files(image_dir, IMAGE_EXTENSIONS, "image", stacklevel=3)
    masks = list_files(mask_dir, MASK_EXTENSIONS, "mask (GT)")
    seen = (str(image_dir.resolve()), tuple(unread))
    # A phone's .heic photos would otherwise drop out of the dataset unseen. Said once: the
    # train, val and test splits carved from one folder each list it.
    if unread and seen not in _UNREAD_NAMED:
        _UNREAD_NAMED.add(seen)
        warnings.warn(
            f"image folder '{image_dir}' holds {len(unread)} file(s) in formats that are not "
            f"read: {preview(unread, 5)}; images are read from {' '.join(IMAGE_EXTENSIONS)} "
            "files only: convert any that belong to the dataset",
            stacklevel=3,
        )
    if keep is not None:
        images = {k: v for k, v in images.items() if keep(k)}
        masks = {k: v for k, v in masks.items() if keep(k)}
    if not images:
        raise DataError(
            f"image folder '{image_dir}' contains no images with extensions {IMAGE_EXTENSIONS}"
            + (" that pass the filter" if keep is not None else "")
        )
    no_mask = sorted(set(images) - set(masks), key=natural_key)
    no_image = sorted(set(masks) - set(images), key=natural_key)
    # Both sides in one error: a layout problem would otherwise take a run per side.
    problems = []
    if no_mask:
        problems.append(
            f"{len(no_mask)} image(s) in '{image_dir}' have no mask in '{mask_dir}': "
            + preview([images[s].name for s in no_mask], limit=5)
            + _unread_formats(mask_dir, no_mask, MASK_EXTENSIONS, "masks")
        )
    if no_image:
        problems.append(
            f"{len(no_image)} mask(s) in '{mask_dir}' have no image in '{image_dir}': "
            + preview([masks[s].name for s in no_image], limit=5)
            + _unread_formats(image_dir, no_image, IMAGE_EXTENSIONS, "images")
        )
    if problems:
        unpaired = {
            "images": {s: images[s].name for s in no_mask},
            "masks": {s: masks[s].name for s in no_image},
        }
        hint = renaming_hint(unpaired, ("images", "masks"))
        problems += [hint] if hint else []
        raise DataError("; ".join(problems))
    names = sorted(images, key=natural_key)
    return SplitListing(
        names, [images[n] for n in names], [masks[n] for n in names], InstanceSource("none")
    )


def skeleton_files(folder: Path, names: Sequence[str]) -> List[Path | None]:
    """The GT skeleton of each of ``names`` in ``folder`` (a DIS5K split's ``ske/``, DIS
    scoring's ``--ske-dir``: one rule for both), ``None`` where there is none.

    A name's skeleton is the file of that stem with a mask extension, in any case
    (:data:`~pmgsam.data.io.MASK_EXTENSIONS`: ``a.png``, ``a.bmp``, ``a.JPG``...); two of one
    stem are an error naming both (:func:`~pmgsam.data.listing.list_files`).
    """
    found = list_files(folder, MASK_EXTENSIONS, "GT skeleton")
    return [found.get(n) for n in names]


def _check_root(root: Path, dataset: str) -> None:
    if not root.is_dir():
        raise DataNotFoundError(f"{dataset} root folder '{root}' does not exist (data.root)")


def _dis5k(root: Path, split: str) -> SplitListing:
    hint = f"data.root should be the DIS5K folder holding {BASE_SPLITS['dis5k']}"
    listing = _pair(root / split / "im", root / split / "gt", hint, root=root)
    ske = root / split / "ske"
    if ske.is_dir():
        listing.skeletons = skeleton_files(ske, listing.names)
    listing.instances = InstanceSource(
        "none", reason="DIS5K has no instance labels (it is a dichotomous segmentation dataset)"
    )
    return listing


def _cod10k(root: Path, split: str, cam_only: bool) -> SplitListing:
    hint = "data.root should be the COD10K-v3 folder holding Train/ and Test/"
    keep = (lambda s: "-CAM-" in s) if cam_only else None
    try:
        listing = _pair(root / split / "Image", root / split / "GT_Object", hint, keep, root)
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
        looked = ", ".join(f"'{p}'" for p in candidates)
        fallback = f"no {json_name} at {looked}"
        listing.instances = InstanceSource("png", root / split / "GT_Instance", fallback)
    else:
        looked = ", ".join(f"'{p}'" for p in candidates + [root / split / "GT_Instance"])
        listing.instances = InstanceSource("none", reason=f"no instance labels found at {looked}")
    return listing


def _nc4k(root: Path) -> SplitListing:
    hint = "data.root should be the NC4K folder holding Imgs/, GT/ and Instance/"
    listing = _pair(root / "Imgs", root / "GT", hint, root=root)
    listing.instances = instance_folder(root / "Instance")
    return listing


def _folder_splits(cfg: DataConfig) -> List[str]:
    root = Path(cfg.root)
    names = ["all"] if (root / cfg.image_dir).is_dir() else []
    if root.is_dir():
        try:
            entries = folder_entries(root)
        except OSError:  # no split found: the error names the folder and why (_folder_layout)
            entries = []
        folders = [name for name, kind in entries if kind in ("dir", "link")]
        subs = [name for name in folders if (root / name / cfg.image_dir).is_dir()]
        names += sorted(s for s in subs if s not in ("all", cfg.image_dir))
    if "all" in names:
        names += [s for s in ("train", "test") if s not in names]
    return names


def _folder(cfg: DataConfig, split: str) -> SplitListing:
    base = Path(cfg.root) if split == "all" else Path(cfg.root) / split
    hint = f"data.root / data.image_dir / data.mask_dir of the folder dataset (split {split!r})"
    listing = _pair(base / cfg.image_dir, base / cfg.mask_dir, hint)
    if cfg.instance_dir:
        # A training split without them (instance masks drawn for the test images alone)
        # still trains: only COS scoring reads them.
        listing.instances = instance_folder(base / cfg.instance_dir, "data.instance_dir")
    else:
        listing.instances = InstanceSource("none", reason="data.instance_dir is not set")
    return listing


def _folder_layout(cfg: DataConfig, base: str) -> str:
    """``"; <what>"``: where a folder dataset's splits are looked for, and what ``data.root``
    holds instead (an ``all/`` folder is not split ``all``: that is the root's own folders)."""
    root, images, masks = Path(cfg.root), cfg.image_dir, cfg.mask_dir
    expected = (
        f"; a folder dataset's split 'all' is '{root / images}' + '{root / masks}' (carved "
        f"into 'train' / 'test'), and split '<name>' is '{root}/<name>/{images}' + "
        f"'{root}/<name>/{masks}' (data.image_dir {images!r}, data.mask_dir {masks!r})"
    )
    if not root.is_dir():
        return f"{expected}; '{root}' does not exist (data.root)"
    try:
        folders = sorted((p.name for p in root.iterdir() if p.is_dir()), key=natural_key)
    except OSError as err:
        return f"{expected}; '{root}' cannot be listed ({err})"
    held = f"the folders: {preview(folders, 10)}" if folders else "no folder"
    found = f"'{root}' holds {held}"
    if base != "all" and folders and base not in folders:
        found += f", none named {base!r}"
    elif base != "all" and base in folders:
        found += f"; '{root / base}' has no {images!r} folder" + _folders_in(root / base)
    if (root / "all" / images).is_dir():
        found += f"; its 'all/' folder is no split: set data.root to '{root / 'all'}'"
    return f"{expected}; {found}"


def _folders_in(folder: Path) -> str:
    try:
        names = sorted((p.name for p in folder.iterdir() if p.is_dir()), key=natural_key)
    except OSError:
        return ""
    return f" (its folders: {preview(names, 10)})" if names else " (nor any folder)"


def available_splits(cfg: DataConfig) -> List[str]:
    """Split names of the configured dataset (each also usable as ``X:train`` / ``X:val``)."""
    base = BASE_SPLITS[cfg.dataset]
    return list(base) if base is not None else _folder_splits(cfg)


def _carved(
    cfg: DataConfig,
    listing: SplitListing,
    source: str,
    parts: tuple,
    fraction: float,
    part: str,
    splits: Sequence[str],
) -> SplitListing:
    """``part`` of ``listing`` carved from split ``source``; ``splits``: the dataset's
    (:func:`available_splits`)."""
    # COD10K with its NonCAM images is another pool than its CAM images alone: sharing one
    # file, each would take the other's split for a stale one of its own.
    dataset = cfg.dataset + ("-with-noncam" if cfg.dataset == "cod10k" and not cfg.cam_only else "")
    path = split_file(split_dir(cfg), dataset, source, parts[1], fraction, cfg.split_seed)
    # Before the file is read or written: another split's carving would pass for this one's.
    twins = [s for s in splits if s != source and split_file_source(s) == split_file_source(source)]
    if twins:
        raise DataError(
            f"splits {source!r} and {twins[0]!r} of the {cfg.dataset} dataset at '{cfg.root}' "
            f"would share the split file '{path}' (characters other than letters, digits, "
            "'-', '_' and '.' become '_' in its name): rename one of their folders"
        )
    split = load_or_create(path, listing.names, parts, fraction, cfg.split_seed, dataset, source)
    return listing.subset(split[part])


def _own_folder(cfg: DataConfig, base: str) -> bool:
    # A folder dataset's own sub-folder wins over the derived train/test of its pool.
    return (
        cfg.dataset == "folder"
        and base != "all"
        and (Path(cfg.root) / base / cfg.image_dir).is_dir()
    )


def _pooled(cfg: DataConfig, base: str) -> bool:
    return (
        cfg.dataset in ("nc4k", "folder")
        and base in ("train", "test")
        and not _own_folder(cfg, base)
    )


def is_carved(cfg: DataConfig, split: str) -> bool:
    """Whether ``split`` is drawn from a pool by ``data.split_seed`` and a fraction (NC4K's or
    a folder dataset's ``train`` / ``test``, any ``X:train`` / ``X:val``), not a folder of its
    own."""
    base, part = parse_split(split)
    return part is not None or _pooled(cfg, base)


def list_split(cfg: DataConfig, split: str) -> SplitListing:
    """The files of ``split`` of ``cfg.dataset`` (names in :mod:`pmgsam.data.config`).

    Carved splits are read from, or saved to, the split directory.
    """
    valid = available_splits(cfg)
    base, part = parse_split(split)
    if base not in valid:
        raise DataError(
            f"unknown split {split!r} for dataset {cfg.dataset!r} (root '{cfg.root}'); valid: "
            f"{valid}, each also as '<split>:train' / '<split>:val'"
            + (_folder_layout(cfg, base) if cfg.dataset == "folder" else "")
        )
    root = Path(cfg.root)
    _check_root(root, cfg.dataset)
    own_folder = _own_folder(cfg, base)
    pooled = _pooled(cfg, base)
    if cfg.dataset == "dis5k":
        listing = _dis5k(root, base)
    elif cfg.dataset == "cod10k":
        listing = _cod10k(root, base, cfg.cam_only)
    elif cfg.dataset == "nc4k":
        listing = _nc4k(root)
    else:
        listing = _folder(cfg, base if own_folder else "all")
    if pooled:
        listing = _carved(cfg, listing, "all", ("train", "test"), cfg.test_fraction, base, valid)
    if part is not None:
        listing = _carved(cfg, listing, base, ("train", "val"), cfg.val_fraction, part, valid)
    return listing
