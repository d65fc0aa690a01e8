"""A folder dataset whose mask folder is missing is refused naming that folder (the check that
the image and mask folders are not one folder must not turn it into a bare OS error)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pmgsam.data.io import DataNotFoundError
from pmgsam.data.layouts import list_split


def test_a_missing_mask_folder_is_named(tmp_path: Path, data_config) -> None:
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    Image.fromarray(np.full((8, 8, 3), 200, np.uint8)).save(root / "images" / "a.jpg")
    with pytest.raises(DataNotFoundError, match=r"mask \(GT\) folder '.*masks' does not exist"):
        list_split(data_config("folder", root), "all")
