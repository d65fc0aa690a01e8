"""The errors of ``pmgsam.data.errors`` are caught as the built-in kinds they stand for: a
missing file as FileNotFoundError (a library user's ``except OSError``), any other bad data
as ValueError (training's check of its test splits and the benchmark's of a checkpoint's
training split log these and go on)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pmgsam.data.io import load_image, load_mask


def test_a_missing_file_is_a_file_not_found_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"mask file '.*gone\.png' does not exist"):
        load_mask(tmp_path / "gone.png")


def test_an_unreadable_file_is_a_value_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n not a whole png")
    with pytest.raises(ValueError, match=r"cut\.png"):
        load_image(path)
