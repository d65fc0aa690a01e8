"""A symbolic link loop (``a -> b -> a``, ``run -> run``) is bad input: one error line naming
the link, never a traceback, and in an image folder one more unreadable image."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pmgsam.data.errors import DataError
from pmgsam.data.io import load_image, load_mask
from pmgsam.utils.cli import exit_status
from pmgsam.utils.map_producers import file_identity


def looping_pair(folder: Path) -> Path:
    (folder / "a.png").symlink_to(folder / "b.png")
    (folder / "b.png").symlink_to(folder / "a.png")
    return folder / "a.png"


@pytest.mark.skipif(sys.version_info >= (3, 13), reason="resolve() no longer raises on a loop")
def test_a_loop_met_by_resolve_is_one_error_line_naming_the_looping_folder(
    tmp_path: Path, capsys
) -> None:
    # Python < 3.13's Path.resolve() raises RuntimeError("Symlink loop from ..."), which
    # printed a traceback (train.py --output-dir run, evaluate.py --out, inference --out).
    run = tmp_path / "it's run"  # a quote: pathlib writes the path as repr() does
    run.symlink_to(run)

    def main(argv) -> int:
        (run / "config.yaml").resolve()
        return 0

    assert exit_status(main, [], prog="train.py") == 2
    error = capsys.readouterr().err.strip()
    # The link itself, not the file under it that pathlib was resolving.
    assert error == (
        f"train.py: error: '{run}' is a symbolic link loop (it leads back to itself, perhaps "
        "through other links): point it at a real file or folder, or remove it"
    )


def test_other_runtime_errors_keep_their_traceback() -> None:
    def main(argv) -> int:
        raise RuntimeError("Symlink loop detector broke")

    with pytest.raises(RuntimeError, match="detector broke"):
        exit_status(main, [])


def test_identity_of_a_looping_image_does_not_raise(tmp_path: Path) -> None:
    # Inference takes every listed image's identity before reading any: a looping one raised
    # there, before the unreadable images were gathered into one message (or --keep-going).
    link = looping_pair(tmp_path)
    assert file_identity(link) == [str(link), None, None]


@pytest.mark.parametrize("read", [load_image, load_mask])
def test_reading_a_looping_link_says_it_loops(tmp_path: Path, read) -> None:
    # It was called "a broken symbolic link", which sends one looking for a moved file.
    link = looping_pair(tmp_path)
    with pytest.raises(DataError, match=r"a\.png' is a symbolic link loop \(to '.*b\.png'"):
        read(link)
