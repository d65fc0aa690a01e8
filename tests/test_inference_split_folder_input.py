"""Inference given a dataset split's folder (``DIS5K/DIS-TE1``, which holds ``im/`` and ``gt/``)
instead of its image folder: refused, naming the folder, before any weights are read."""

from __future__ import annotations

import pytest

from pmgsam.data.io import DataNotFoundError
from pmgsam.engine import inference


def test_a_folder_without_images_is_refused_before_the_model_loads(
    dis5k_root, tmp_path, monkeypatch
):
    def no_load(*args, **kwargs):
        raise AssertionError("the model was loaded for a folder without images")

    monkeypatch.setattr(inference, "load_pretrained", no_load)
    split = dis5k_root / "DIS-TE1"
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"weights")  # never read: the folder is refused first
    args = ["--checkpoint", weights, "--input", split]
    args += ["--out", tmp_path / "maps", "--device", "cpu", "--quiet"]
    with pytest.warns(UserWarning, match=r"2 subfolder\(s\) \(gt, im\)"):
        with pytest.raises(DataNotFoundError, match=rf"no images .* in '{split}'"):
            inference.main([str(a) for a in args])
