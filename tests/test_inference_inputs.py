"""What inference reads (``engine.inference_inputs``): ``--input`` as a folder or one file,
the unreadable files of a folder described by name, and a DataLoader's samples split into a
batch of the readable ones and the names of the others. Images are tiny, written here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pmgsam.data.io import DataError, DataNotFoundError
from pmgsam.engine.inference_inputs import (
    ImageFolder,
    SkipUnreadable,
    collate_readable,
    input_images,
)


def _image(path: Path) -> Path:
    Image.fromarray(np.full((6, 8, 3), 90, np.uint8)).save(path)
    return path


def test_one_file_as_input_is_an_image_of_any_case_or_refused(tmp_path: Path) -> None:
    photo = _image(tmp_path / "Photo.JPG")
    assert input_images(photo) == {"Photo": photo}
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(DataError, match=r"--input '.*notes.txt' is neither a folder nor an image"):
        input_images(tmp_path / "notes.txt")
    with pytest.raises(DataNotFoundError, match=r"--input '.*gone.jpg' does not exist"):
        input_images(tmp_path / "gone.jpg")


def test_unreadable_files_are_named_in_natural_order_with_the_first_ones_reason(
    tmp_path: Path,
) -> None:
    _image(tmp_path / "ok.png")
    (tmp_path / "img10.jpg").write_text("broken")
    (tmp_path / "img2.png").write_bytes(b"")
    folder = ImageFolder(tmp_path, 32)
    assert folder.names == ["ok"]
    described = folder.describe_unreadable()
    assert described.startswith("img2.png, img10.jpg (first: ")  # img2 before img10
    assert "img2.png" in described.split("(first: ")[1]  # img2's reason, not img10's
    (tmp_path / "img10.jpg").unlink()
    one = ImageFolder(tmp_path, 32).describe_unreadable()
    assert one.startswith("img2.png (first: ") and "img2.png" in one.split("(first: ")[1]


class _Flaky:
    """Samples by index; those in ``broken`` fail to load as a file gone after listing does."""

    def __init__(self, names, broken) -> None:
        self.names, self.broken = names, broken

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int):
        if self.names[i] in self.broken:
            raise DataError(f"image file '{self.names[i]}.jpg' is gone")
        return {"name": self.names[i], "image": torch.full((1,), float(i))}


def test_a_subset_of_samples_hands_back_the_unreadable_ones_by_their_own_name() -> None:
    served = SkipUnreadable(_Flaky(["a", "b", "c", "d"], {"c"}), indices=[2, 0])
    assert len(served) == 2 and served.names == ["c", "a"]
    assert served[0] == {"name": "c", "unreadable": "image file 'c.jpg' is gone"}
    assert served[1]["name"] == "a"
    batch = collate_readable([served[0], served[1]])
    assert batch["unreadable"] == [("c", "image file 'c.jpg' is gone")]
    assert batch["batch"]["name"] == ["a"] and batch["batch"]["image"].tolist() == [[0.0]]
    assert collate_readable([served[0]]) == {"batch": None, "unreadable": batch["unreadable"]}
