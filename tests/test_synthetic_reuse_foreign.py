"""A second generator call with the same parameters reuses the tree as it is: a file of the
user's in one of its image or mask folders would be read as part of the generated dataset (a
training image more than the counts printed), so it is refused, as ``--overwrite`` refuses it."""

from __future__ import annotations

import shutil

import pytest

from pmgsam.data.io import DataError
from pmgsam.data.layouts import list_split
from pmgsam.data.synthetic import generate


def test_a_file_of_the_users_in_a_reused_image_folder_is_refused(tmp_path, data_config) -> None:
    root = generate("dis5k", tmp_path, num=2, seed=0, size=(24, 24))
    images = root / "DIS-TR" / "im"
    first = sorted(images.iterdir())[0]
    shutil.copy(first, images / "mine.jpg")
    shutil.copy(root / "DIS-TR" / "gt" / f"{first.stem}.png", root / "DIS-TR" / "gt" / "mine.png")
    # What reusing it would hand on: a third training image where two were generated.
    assert len(list_split(data_config("dis5k", root), "DIS-TR").names) == 3
    for overwrite in (False, True):
        with pytest.raises(DataError, match=r"2 file\(s\) .*DIS-TR/gt/mine.png, DIS-TR/im/mine"):
            generate("dis5k", tmp_path, num=2, seed=0, size=(24, 24), overwrite=overwrite)
    assert (images / "mine.jpg").is_file()  # refused, never removed


def test_hidden_and_outside_files_do_not_stop_a_reuse(tmp_path) -> None:
    root = generate("dis5k", tmp_path, num=2, seed=0, size=(24, 24))
    (root / "DIS-TR" / "im" / ".DS_Store").write_bytes(b"finder")  # no loader reads it
    (root / "NOTES.txt").write_text("mine", encoding="utf-8")  # in no image or mask folder
    assert generate("dis5k", tmp_path, num=2, seed=0, size=(24, 24)) == root
    assert (root / "DIS-TR" / "im" / ".DS_Store").read_bytes() == b"finder"
