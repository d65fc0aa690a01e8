"""Listing order and which files a folder listing takes (:mod:`pmgsam.data.listing`).

Orders are derived by hand: ``2`` before ``10``, case not counted, and names the numbers cannot
tell apart (``img1``, ``img01``) in one order whatever order they come in, since the seeded
train/val carve draws by position in it.
"""

from __future__ import annotations

import itertools

import pytest

from pmgsam.data.listing import IMAGE_EXTENSIONS, list_files, natural_key, other_files


def test_numbers_sort_by_value_and_letters_without_case() -> None:
    names = ["b2", "B10", "a10", "A2", "img10", "IMG9"]
    assert sorted(names, key=natural_key) == ["A2", "a10", "b2", "B10", "IMG9", "img10"]


def test_names_equal_but_for_leading_zeros_or_case_sort_one_way_from_any_order() -> None:
    names = ["img01", "img1", "IMG1", "img001", "img2"]
    # carve() sorts a set, whose order string hashing changes from one process to the next:
    # a tie left to it made the seeded train/val split differ between runs.
    orders = {tuple(sorted(p, key=natural_key)) for p in itertools.permutations(names)}
    assert orders == {("IMG1", "img001", "img01", "img1", "img2")}


@pytest.mark.parametrize(
    "name, expected",
    [("x1\u00b2", ["x1", "x1\u00b2", "x10"]), ("\u00b2", ["x1", "x10", "\u00b2"])],
)
def test_superscript_digits_are_text_not_numbers(name, expected) -> None:
    # str.isdigit() is true of "²", which int() cannot read: such a file name stopped the
    # listing with a bare ValueError. As text, "²" sorts after the letters.
    assert sorted([name, "x10", "x1"], key=natural_key) == expected


def test_files_left_out_for_their_type_are_named_in_natural_order(tmp_path) -> None:
    for name in ("notes10.txt", "notes9.txt", "B.gif", "a.svg", "c.png", ".DS_Store"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.txt").mkdir()
    assert other_files(tmp_path, IMAGE_EXTENSIONS) == [
        "a.svg",
        "B.gif",
        "notes9.txt",
        "notes10.txt",
    ]


def test_hidden_files_with_an_image_extension_are_not_images(tmp_path) -> None:
    # macOS writes '._a.jpg' beside 'a.jpg' on foreign disks: a resource fork, not a picture.
    for name in ("a.jpg", "._a.jpg", ".thumb.png"):
        (tmp_path / name).write_bytes(b"x")
    assert list(list_files(tmp_path, IMAGE_EXTENSIONS, "image")) == ["a"]
