"""A split's instance labels: where they live (:class:`InstanceSource`), and their COCO form.

Instance evaluation (COS) needs COCO ground truth for the images of a split, in the split's order,
every instance class-agnostic (``category_id`` 1). Image ids are the COCO file's where it lists
the image (scoring the file directly then gives the same AP); instance-map PNGs number the
images from 1 in split order, and images a COCO file omits take ids above its own.
Labels come from a COCO JSON file (COD10K's ``CAM_Instance_<Split>.json``) or from a folder of
instance-map PNGs (NC4K, COD10K ``GT_Instance``, a ``folder`` dataset's ``instance_dir``).
The COCO ground truth names its split (``info.description``) and its source
(``info.instance_labels``, :meth:`InstanceSource.record`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from pmgsam.utils.command_names import command_name
from pmgsam.utils.messages import preview

from .coco_annotations import annotations_from_json, annotations_from_pngs
from .io import MASK_EXTENSIONS, DataError, DataNotFoundError, list_files, read_size


def keep_going_advice() -> str:
    """What evaluation (its benchmark and baseline modes, the commands that build the GT
    through :func:`coco_gt_with_unreadable`) offers besides fixing the files, naming it as the
    user types it."""
    return (
        f"or pass {command_name('evaluate')}'s --keep-going to leave their images out, "
        "unpredicted, and their split unscored"
    )


@dataclass(frozen=True)
class InstanceSource:
    """Where a split's instance labels live.

    Arguments:
        kind: ``"json"`` (COCO file), ``"png"`` (instance-map folder) or ``"none"``.
        path: the JSON file or PNG folder (``None`` for ``"none"``).
        reason: for ``"none"``, why there are no instance labels (shown by ``coco_gt``); for
            a fallback source, why the preferred one was not used (COD10K's ``GT_Instance``
            PNGs read when no ``CAM_Instance_<Split>.json`` is found).
    """

    kind: str
    path: Path | None = None
    reason: str = ""

    def record(self) -> Dict[str, str]:
        """What run.json's COS entry keeps of it (``instance_labels``): the kind, the file or
        folder, and why a fallback was used; the JSON file and the PNGs of one split are
        drawn separately, so two scores are comparable only with the same source."""
        out = {"kind": self.kind, "path": str(self.path) if self.path else ""}
        return {**out, "fallback": self.reason} if self.reason and self.kind != "none" else out

    def describe(self) -> str:
        """One line naming the source, e.g. for the log of a COS evaluation."""
        what = {"json": "COCO file", "png": "instance-map PNGs in"}.get(self.kind)
        if what is None:
            return f"no instance labels ({self.reason})"
        return f"{what} '{self.path}'" + (f" ({self.reason})" if self.reason else "")


def coco_ground_truth(
    image_paths: Sequence[Path],
    names: Sequence[str],
    instances: InstanceSource,
    description: str,
    unreadable: Optional[Dict[str, str]] = None,
) -> Dict[str, Any]:
    """COCO ground truth (RLE with str counts, class-agnostic) of the images ``image_paths``.

    ``names`` are the samples' names (file stems) that the labels are looked up by;
    ``description`` names the split in messages (e.g. ``"cod10k Test"``).

    Every image's size is read from its header, and every instance-map PNG is decoded. Images
    whose header cannot be read (zero-byte, not an image) and instance maps that cannot be
    decoded (truncated, not an image) or are not their image's size are all named in one
    :class:`~pmgsam.data.errors.DataError`; with ``unreadable`` given (``--keep-going``) those
    images are left out of the GT instead and recorded there as ``{name: reason}`` (the reason
    names the file), so the caller can keep the split from being scored without them (the
    other images keep the ids they have in the whole GT). A COCO JSON file that cannot be read
    is one error naming it either way: it holds the labels of the whole split. Images without
    an instance map (a wrong folder, not a damaged file) are counted and named in a
    :class:`~pmgsam.data.errors.DataNotFoundError` first, with or without ``unreadable``.
    """
    if instances.kind == "none":
        raise DataError(
            f"{description or 'this dataset'} has no instance labels: {instances.reason}"
        )
    maps: Dict[str, Path] = {}
    if instances.kind == "png":
        assert instances.path is not None
        maps = _refuse_missing_maps(instances.path, image_paths, names, description or "this split")
    images: List[Dict[str, Any]] = []
    kept: List[str] = []
    bad_images: Dict[str, Tuple[str, str]] = {}  # name: (image file, why its header is bad)
    for i, (path, name) in enumerate(zip(image_paths, names)):
        try:
            h, w = read_size(path)
        except DataError as err:
            bad_images[name] = (str(path), str(err))
            continue
        images.append({"id": i + 1, "file_name": path.name, "height": h, "width": w})
        kept.append(name)
    assert instances.path is not None
    bad_maps: Dict[str, Tuple[str, str]] = {}  # name: (instance map, why it cannot be used)
    annotations: List[Dict[str, Any]] = []
    if instances.kind == "png":
        annotations = annotations_from_pngs(instances.path, kept, images, bad_maps, maps)
    what = description or "this split"
    if bad_images or bad_maps:
        if unreadable is None:
            raise _unreadable_labels_error(bad_images, bad_maps, what)
        unreadable.update({name: why for name, (_, why) in {**bad_images, **bad_maps}.items()})
        images = [im for name, im in zip(kept, images) if name not in bad_maps]
        kept = [name for name in kept if name not in bad_maps]
    # After the check above: unreadable images are named before any complaint about the file.
    if instances.kind == "json":
        images, annotations = annotations_from_json(instances.path, kept, images, what)
    # The source in the file: a row scored against it later (evaluate.py --gt-json --run) can
    # record it, and a COD10K split's JSON and GT_Instance PNGs give other AP. COCO readers
    # (pycocotools) ignore info's keys.
    info = {"description": f"pmgsam ground truth: {description}"}
    return {
        "info": {**info, "instance_labels": instances.record()},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "object", "supercategory": "object"}],
    }


def _refuse_missing_maps(
    folder: Path, image_paths: Sequence[Path], names: Sequence[str], what: str
) -> Dict[str, Path]:
    """Count and name the images of ``names`` with no instance map in ``folder``, before any
    file is decoded: one by one, a wrong folder would take as many runs as images. Returns the
    folder's maps by stem (listed once: its warnings said once)."""
    found = list_files(folder, MASK_EXTENSIONS, "instance map")
    missing = [f"'{path.name}'" for path, name in zip(image_paths, names) if name not in found]
    if missing:
        raise DataNotFoundError(
            f"{len(missing)} of the {len(names)} image(s) of {what} have no instance map in "
            f"'{folder}': {preview(missing, 10)} (maps are matched to images by file stem; "
            "an image without an object needs an all-zero map, and instance labels drawn for "
            "part of a split belong in a split folder of their own)"
        )
    return found


class UnreadableLabelsError(DataError):
    """Images whose header or instance maps cannot be read, so no instance GT: the message
    names them and says to fix or remove them; a command with another way out (evaluate.py's
    ``--keep-going``) adds it with :meth:`advised`.

    Arguments:
        message: what cannot be read, ending with the advice to fix or remove the files.
        advice: what the raising command offers besides, appended to ``message``.
    """

    def __init__(self, message: str, advice: str = "") -> None:
        super().__init__(f"{message} {advice}" if advice else message)
        self.message = message

    def advised(self, advice: str) -> UnreadableLabelsError:
        """This error with ``advice`` (what the raising command offers) after its message."""
        return UnreadableLabelsError(self.message, advice)


def _unreadable_labels_error(
    bad_images: Dict[str, Tuple[str, str]], bad_maps: Dict[str, Tuple[str, str]], what: str
) -> UnreadableLabelsError:
    """The error naming every image whose header and every instance map that cannot be read
    (``{name: (file, reason)}``): nothing is predicted until they are fixed."""
    kinds = ((bad_images, "image file"), (bad_maps, "instance map"))
    counts = [f"{len(bad)} {kind}(s)" for bad, kind in kinds if bad]
    listed = [*bad_images.values(), *bad_maps.values()]
    files, first = [file for file, _ in listed], listed[0][1]
    return UnreadableLabelsError(
        f"{' and '.join(counts)} of {what} cannot be read, so its instance ground truth (which "
        f"needs every image's size and instance map) cannot be built: {preview(files, 10)} "
        f"(first: {first}); fix or remove them"
    )


def coco_gt_with_unreadable(
    dataset: Any, keep_going: bool
) -> Tuple[Dict[str, Any], Dict[str, str]]:
    """(``dataset.coco_gt()``, ``{name: reason}`` of the images left out of it). With
    ``keep_going`` an image whose header or instance map cannot be read is left out and named
    in the second; otherwise :func:`coco_ground_truth`'s :class:`UnreadableLabelsError`
    naming every such file is raised, advising ``--keep-going``: this is how evaluate.py's
    benchmark and baseline modes, which have that option, build the GT."""
    if not keep_going:
        try:
            return dataset.coco_gt(), {}
        except UnreadableLabelsError as err:
            raise err.advised(keep_going_advice()) from None
    unreadable: Dict[str, str] = {}
    return dataset.coco_gt(unreadable), unreadable
