"""The folder above a path as given ('.' and 'a/..' name no folder above themselves), and the
colour checks of a grey file: its channel spread is 0, not the NaN (with a RuntimeWarning) of an
empty mean."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from pmgsam.evaluation.map_checks import refuse_colour_images, refuse_photo_gt
from pmgsam.utils.io import folder_above


def test_the_folder_above_a_path_as_given(tmp_path, monkeypatch) -> None:
    (tmp_path / "run" / "train").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "run" / "train")
    assert folder_above("models/x") == Path("models")
    assert folder_above("models/x/") == Path("models")
    assert folder_above(".") == tmp_path / "run"
    # 'a/..' is the current folder: the one above it is 'run', not 'a'.
    assert folder_above("a/..") == tmp_path / "run"
    assert folder_above("..") == tmp_path


def test_a_grey_file_has_no_colour_spread_and_no_warning(tmp_path) -> None:
    path = tmp_path / "m.png"
    Image.fromarray(np.full((8, 8), 200, np.uint8)).save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        refuse_photo_gt([path], tmp_path)
        refuse_colour_images([path], tmp_path)
