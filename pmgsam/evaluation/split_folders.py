"""The ``pred/<split>`` folders of a multi-split command (benchmark mode, baseline rows, ablate
scoring), checked before its model loads: each as its prediction will check it
(:func:`check_split_folders`), and folders whose names differ only by case, on filesystems that
do not tell case apart (:func:`refuse_case_clashes`).

Case clashes: benchmark and baseline modes write ``<output-dir>/pred/<split>/`` and
``<output-dir>/metrics/<split>.json``. COD10K's test split is ``Test`` and NC4K's ``test``: with
one ``--output-dir`` for both (one table row with both columns) these are two folders on Linux,
but one on macOS and Windows, where NC4K's maps would join COD10K's and its ``metrics/test.json``
replace ``metrics/Test.json``. Such a clash is refused before anything is predicted; the folder
layout stays as it always was, since other tools and earlier runs read it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterable, List, Mapping, Optional

from pmgsam.utils.outputs import OutputError, check_output_dir, dataset_folders, read_manifest


def map_names(dataset: Any) -> List[str]:
    """The map file of every image of ``dataset`` (``<stem>.png``)."""
    return [f"{stem}.png" for stem in dataset.names]


def check_split_folders(
    run_dir: Path,
    datasets: Mapping[str, Any],
    overwrite: bool,
    names: Callable[[Any], List[str]] = map_names,
) -> None:
    """Every split's ``run_dir/pred/<split>`` as a prediction into it will check it
    (:func:`~pmgsam.utils.outputs.check_output_dir` of the files ``names(dataset)``, which
    creates nothing), for a command to call before its model loads: a file of the user's, or a
    map edited since, in the last split's folder must not cost the predictions of the others."""
    for split, dataset in datasets.items():
        folder = run_dir / "pred" / split
        check_output_dir(
            folder, names(dataset), dataset_folders(dataset), overwrite, "--output-dir"
        )


def case_twin(path: Path) -> Optional[Path]:
    """The entry beside ``path`` whose name differs from its name only by case and that is
    the same file or folder (a case-insensitive filesystem opens both names as one), if any."""
    parent = path.parent
    if not parent.is_dir():
        return None
    for entry in parent.iterdir():
        if entry.name == path.name or entry.name.lower() != path.name.lower():
            continue
        try:
            if path.exists() and os.path.samefile(entry, path):
                return entry
        except OSError:  # vanished meanwhile, or unreadable: no clash to tell
            continue
    return None


def _recorded_images(folder: Path) -> List[str]:
    """The image files that the maps in ``folder`` were made from, per its manifest's
    ``sources`` (an image's identity is ``[path, size, mtime]``; a baseline that read the GT
    too records ``[image identity, GT identity, ...]``)."""
    images = []
    for identity in (read_manifest(folder).get("sources") or {}).values():
        first = identity[0] if isinstance(identity, list) and identity else None
        if isinstance(first, list) and first:  # [image identity, GT identity, ...]
            first = first[0]
        if isinstance(first, str):
            images.append(first)
    return images


def refuse_case_clashes(run_dir: Path, datasets: Mapping[str, Any], dataset_name: str) -> None:
    """:class:`~pmgsam.utils.output_paths.OutputError` when ``<run_dir>/pred/<split>`` of one of
    ``datasets`` (``{split: dataset}``, the splits about to be predicted) is, on this
    filesystem, the same folder as one whose name differs only by case and whose maps are of
    another dataset's images (its manifest says which): the run would mix their maps and
    replace the other's ``metrics/<split>.json``."""
    for split, dataset in datasets.items():
        folder = Path(run_dir) / "pred" / split
        twin = case_twin(folder)
        if twin is None:
            continue
        ours = {str(Path(p).resolve()) for p in _images_of(dataset)}
        foreign = [image for image in _recorded_images(twin) if image not in ours]
        if foreign:
            raise OutputError(
                f"--output-dir '{run_dir}': {dataset_name}'s split '{split}' would be predicted "
                f"into pred/{split}, which on this filesystem (it does not tell upper from "
                f"lower case) is the folder pred/{twin.name} holding maps of another "
                f"dataset's images (e.g. '{foreign[0]}'); its maps would mix with them and "
                f"metrics/{split}.json would replace metrics/{twin.name}.json. Give each "
                "dataset its own --output-dir"
            )


def _images_of(dataset: Any) -> Iterable[Any]:
    return getattr(dataset, "image_paths", None) or ()
