"""``--input my_images --out my_images/preds`` is the README's own example of a supported
layout, yet every rerun warned that the input folder has a subfolder (``preds``) whose files are
not read. The command's own map folders are skipped quietly; any other subfolder still warns."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image

from pmgsam.engine.inference_inputs import input_images


def test_the_commands_own_map_folders_do_not_warn(tmp_path) -> None:
    images = tmp_path / "my_images"
    (images / "preds").mkdir(parents=True)
    (images / "premasks").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(images / "a.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        listed = input_images(images, (images / "preds", str(images / "premasks"), None))
    assert list(listed) == ["a"]
    (images / "holiday").mkdir()
    with pytest.warns(UserWarning, match=r"1 subfolder\(s\) \(holiday\)"):
        input_images(images, (images / "preds", images / "premasks"))
    # A folder of that name elsewhere is not this folder's subfolder.
    with pytest.warns(UserWarning, match=r"3 subfolder\(s\) \(holiday, preds, premasks\)"):
        input_images(images, (tmp_path / "preds", tmp_path / "x" / "premasks"))
