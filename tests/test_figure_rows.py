"""Figures of chosen images: each row shows its own image's maps, in the order the images were
chosen, also when a run holds the maps of some images only (scored with ``--limit``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pmgsam.analysis.figures import _rows
from pmgsam.analysis.inputs import SplitImages
from pmgsam.evaluation.scoring import EvaluationInputError

pytestmark = pytest.mark.usefixtures("one_thread")

# A map of one constant value per image: a row showing another image's map is seen at once.
VALUE = {"a": 40, "b": 120, "c": 200}


def _images(tmp_path: Path) -> SplitImages:
    stems = list(VALUE)
    for stem in stems:
        for folder, mode in (("im", "RGB"), ("gt", "L")):
            (tmp_path / folder).mkdir(exist_ok=True)
            Image.new(mode, (8, 6), 255 if mode == "L" else (1, 2, 3)).save(
                tmp_path / folder / f"{stem}.png"
            )
    return SplitImages(
        names=stems,
        parts=["S"] * 3,
        stems=stems,
        image_paths=[tmp_path / "im" / f"{s}.png" for s in stems],
        mask_paths=[tmp_path / "gt" / f"{s}.png" for s in stems],
    )


def _run_maps(folder: Path, stems) -> dict:
    folder.mkdir(parents=True)
    for stem in stems:
        Image.fromarray(np.full((6, 8), VALUE[stem], np.uint8)).save(folder / f"{stem}.png")
    return {"S": folder}


def test_maps_of_chosen_images_come_in_the_order_chosen(tmp_path):
    images = _images(tmp_path)
    folders = _run_maps(tmp_path / "pred", VALUE)
    assert [p.name for p in images.maps(folders, "prediction", [2, 0])] == ["c.png", "a.png"]
    assert [p.name for p in images.maps(folders, "prediction")] == ["a.png", "b.png", "c.png"]


def test_each_figure_row_shows_its_own_images_maps(tmp_path):
    images = _images(tmp_path)
    full = _run_maps(tmp_path / "full", VALUE)
    limited = _run_maps(tmp_path / "limited", ["b", "c"])  # no map of "a"
    rows = _rows(images, [2, 1], [full, limited], fit=np.asarray)  # cells as read
    assert len(rows) == 2
    for row, stem in zip(rows, ["c", "b"]):
        image, gt, *maps = row
        assert image.shape[:2] == gt.shape == (6, 8)
        assert [np.unique(np.asarray(m)).tolist() for m in maps] == [[VALUE[stem]]] * 2, stem


def test_a_run_without_maps_of_a_part_is_named_not_hinted_at_limit(tmp_path):
    # A run scored on some parts of a combined split only has no map folder of the others:
    # the error names that folder, instead of blaming --limit.
    images = _images(tmp_path)
    images.parts = ["P1", "P1", "P2"]
    full = _run_maps(tmp_path / "full", VALUE)
    part_only = {"P1": tmp_path / "other" / "P1", "P2": tmp_path / "other" / "P2"}
    _run_maps(part_only["P1"], VALUE)
    full = {"P1": full["S"], "P2": full["S"]}
    with pytest.raises(EvaluationInputError) as err:
        _rows(images, [0, 2], [full, part_only])
    message = str(err.value)
    assert f"no map folder '{part_only['P2']}'" in message and "--limit" not in message
    assert len(_rows(images, [0, 1], [full, part_only])) == 2  # images of P1 only: drawn
