"""pmgsam.data.listing in the cases the other listing tests leave open: links (to a file, to a
folder), a FIFO named like an image, the order of the other files scan_files names, and the
listings kept (bounded, the most recently read kept; a folder told apart by its path where the
file system has no inode numbers)."""

from __future__ import annotations

import os
import time
from collections import Counter, OrderedDict
from pathlib import Path

import pytest

from pmgsam.data import listing
from pmgsam.data.listing import IMAGE_EXTENSIONS, list_files, other_files, scan_files

HOUR_AGO = time.time() - 3600


@pytest.fixture
def scans(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """os.scandir calls by folder name, with no listing kept from before."""
    monkeypatch.setattr(listing, "_LISTINGS", OrderedDict())
    counted: Counter = Counter()
    real = os.scandir

    def counting(path="."):
        counted[Path(os.fsdecode(path)).name] += 1
        return real(path)

    monkeypatch.setattr(os, "scandir", counting)
    return counted


def _settled_folder(path: Path, *files: str) -> Path:
    path.mkdir()
    for name in files:
        (path / name).touch()
    os.utime(path, (HOUR_AGO, HOUR_AGO))  # unpacked long before: its listing is kept
    return path


def test_links_to_files_are_files_and_links_to_folders_are_subfolders(tmp_path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    (store / "x.jpg").write_bytes(b"x")
    (store / "more").mkdir()
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "a.jpg").symlink_to(store / "x.jpg")
    (folder / "more.d").symlink_to(store / "more", target_is_directory=True)
    with pytest.warns(UserWarning, match=r"1 subfolder\(s\) \(more\.d\)"):
        found, others = scan_files(folder, IMAGE_EXTENSIONS, "image")
    assert list(found) == ["a"] and others == []
    assert other_files(folder, IMAGE_EXTENSIONS) == []  # a linked folder is not a file


def test_a_fifo_named_like_an_image_is_not_read(tmp_path) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    (tmp_path / "a.jpg").write_bytes(b"x")
    os.mkfifo(tmp_path / "b.jpg")  # reading it would wait for a writer forever
    assert list(list_files(tmp_path, IMAGE_EXTENSIONS, "image")) == ["a"]


def test_scan_files_names_the_other_files_in_natural_order(tmp_path) -> None:
    for name in ("notes10.txt", "notes9.txt", "B.gif", "a.jpg"):
        (tmp_path / name).write_bytes(b"x")
    _, others = scan_files(tmp_path, IMAGE_EXTENSIONS, "image")
    assert others == ["B.gif", "notes9.txt", "notes10.txt"]


def test_kept_listings_are_bounded_and_the_last_read_stay(tmp_path, scans) -> None:
    kept = listing._KEPT_LISTINGS
    folders = [_settled_folder(tmp_path / f"f{i}", "a.jpg") for i in range(kept + 1)]
    for folder in folders[:kept]:
        list_files(folder, IMAGE_EXTENSIONS, "image")
    list_files(folders[0], IMAGE_EXTENSIONS, "image")  # read again: now the latest
    list_files(folders[kept], IMAGE_EXTENSIONS, "image")  # one too many: f1 goes, not f0
    assert len(listing._LISTINGS) == kept
    for folder in (folders[0], folders[1]):
        list_files(folder, IMAGE_EXTENSIONS, "image")
    assert scans["f0"] == 1 and scans["f1"] == 2


def test_folders_without_inode_numbers_are_told_apart_by_path(tmp_path, monkeypatch) -> None:
    # FAT on Windows gives st_ino 0 for every folder: two folders of one time must not share
    # a listing.
    first = _settled_folder(tmp_path / "first", "a.jpg")
    second = _settled_folder(tmp_path / "second", "b.jpg")
    monkeypatch.setattr(listing, "_LISTINGS", OrderedDict())
    real_stat = os.stat

    class NoInode:
        def __init__(self, state):
            self._state = state

        st_ino = 0

        def __getattr__(self, name):
            return getattr(self._state, name)

    monkeypatch.setattr(listing.os, "stat", lambda path, *a, **k: NoInode(real_stat(path, *a, **k)))
    assert [n for n, _ in listing.folder_entries(first)] == ["a.jpg"]
    assert [n for n, _ in listing.folder_entries(second)] == ["b.jpg"]
