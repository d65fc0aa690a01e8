"""A split's instance labels: where they live (:class:`InstanceSource`), and their COCO form.

Instance evaluation (COS) needs COCO ground truth for the images of a split, in the split's order,
every instance class-agnostic (``category_id`` 1). Image ids are the COCO file's where it lists
the image (scoring the file directly then gives the same AP); instance-map PNGs number the
images from 1 in split order, and images a COCO file omits take ids above its own.
Labels come from a COCO JSON file (COD10K's ``CAM_Instance_<Split>.json``) or from a folder of
instance-map PNGs (NC4K, COD10K ``GT_Instance``, a ``folder`` dataset's ``instance_dir``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Sequence

from .coco_annotations import annotations_from_json, annotations_from_pngs
from .io import DataError, read_size


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


def coco_ground_truth(
    image_paths: Sequence[Path], names: Sequence[str], instances: InstanceSource, description: str
) -> Dict[str, Any]:
    """COCO ground truth (RLE with str counts, class-agnostic) of the images ``image_paths``.

    ``names`` are the samples' names (file stems) that the labels are looked up by;
    ``description`` names the split in messages (e.g. ``"cod10k Test"``).
    """
    if instances.kind == "none":
        raise DataError(
            f"{description or 'this dataset'} has no instance labels: {instances.reason}"
        )
    images = []
    for i, path in enumerate(image_paths):
        h, w = read_size(path)
        images.append({"id": i + 1, "file_name": path.name, "height": h, "width": w})
    assert instances.path is not None
    if instances.kind == "json":
        what = description or "this split"
        images, annotations = annotations_from_json(instances.path, list(names), images, what)
    else:
        annotations = annotations_from_pngs(instances.path, list(names), images)
    return {
        "info": {"description": f"pmgsam ground truth: {description}"},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "object", "supercategory": "object"}],
    }
