"""premask's hint for a prior folder lacking maps, beyond test_premask_prior_hints: only files
of the missing images count, a map saved as <stem>.PNG is named (not read as <stem>.png where
names are case-sensitive), hidden entries are no subfolders, and both hints are given."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PIL import Image

from pmgsam.analysis.premask import prior_maps
from pmgsam.evaluation.scoring import EvaluationInputError


def _map(path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((4, 4), 200, np.uint8)).save(path, format="PNG")


def _refusal(folder, stems) -> str:
    with pytest.raises(EvaluationInputError) as err:
        prior_maps(folder, stems, "Mine")
    return str(err.value)


def test_only_files_of_missing_images_are_counted(tmp_path) -> None:
    _map(tmp_path / "a.jpg")
    _map(tmp_path / "b.png")
    (tmp_path / "notes.txt").write_text("not a map")
    _map(tmp_path / "c.jpg")  # an image not asked for
    assert "1 of them are there in another format (a.jpg)" in _refusal(tmp_path, ["a", "b"])


@pytest.mark.skipif(sys.platform in ("darwin", "win32"), reason="case-insensitive names")
def test_an_upper_case_png_suffix_is_named(tmp_path) -> None:
    # Written as a.PNG: prior_maps reads a.png, which a case-sensitive file system lacks, so
    # without a hint the map looks missing although it is right there.
    _map(tmp_path / "a.PNG")
    if (tmp_path / "a.png").is_file():
        pytest.skip("case-insensitive file system")
    message = _refusal(tmp_path, ["a"])
    assert "lacks 1 map(s): a.png" in message
    assert "1 of them are there in another format (a.PNG)" in message


def test_hidden_entries_are_not_subfolders_and_both_hints_are_given(tmp_path) -> None:
    (tmp_path / ".ipynb_checkpoints").mkdir()
    _map(tmp_path / ".a.jpg")
    assert _refusal(tmp_path, ["x"]).endswith("lacks 1 map(s): x.png")
    _map(tmp_path / "DIS-TE1" / "a.png")
    _map(tmp_path / "a.tif")
    message = _refusal(tmp_path, ["a"])
    assert "subfolder(s) (DIS-TE1)" in message
    assert "1 of them are there in another format (a.tif)" in message
