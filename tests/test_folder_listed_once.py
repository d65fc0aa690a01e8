"""A dataset folder is listed once per command (on a network file system each listing, and each
``stat``, is a round trip): the carved train, val and test splits of one pool share its listing,
inference lists its input folder once, and a listing costs no ``stat`` per file. A folder that
changed is listed again."""

from __future__ import annotations

import os
import time
from collections import Counter, OrderedDict
from pathlib import Path
from typing import Callable

import pytest

from pmgsam.data import build_dataset, train_val_split_names
from pmgsam.data import listing as listing_module
from pmgsam.data.config import DataConfig
from pmgsam.data.layouts import list_split
from pmgsam.data.listing import list_files
from pmgsam.engine.inference_inputs import input_images
from pmgsam.utils.config import from_dict

HOUR_AGO = time.time() - 3600


def _write_pool(root: Path, n: int) -> Path:
    """A folder dataset of ``n`` empty image/mask pairs (nothing here opens them)."""
    for sub, ext in (("images", ".jpg"), ("masks", ".png")):
        (root / sub).mkdir(parents=True)
        for i in range(n):
            (root / sub / f"img{i}{ext}").touch()
    return root


def _settle(*folders: Path) -> None:
    # A dataset unpacked before the command ran: its folders' times are long past.
    for folder in folders:
        os.utime(folder, (HOUR_AGO, HOUR_AGO))


def _config(root: Path, tmp_path: Path) -> DataConfig:
    return from_dict(
        DataConfig,
        {
            "dataset": "folder",
            "root": str(root),
            "train_split": "train",
            "val_split": None,
            "test_splits": ["test"],
            "num_workers": 0,
            "split_dir": str(tmp_path / "splits"),
        },
    )


@pytest.fixture
def listings(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """Listings by folder name, from here on (os.scandir, and os.listdir under Path.iterdir),
    with no folder kept from an earlier test."""
    monkeypatch.setattr(listing_module, "_LISTINGS", OrderedDict(), raising=False)
    counted: Counter = Counter()

    def counting(real: Callable) -> Callable:
        def listing(path=".", *args, **kwargs):
            counted[Path(os.fsdecode(path)).name] += 1
            return real(path, *args, **kwargs)

        return listing

    monkeypatch.setattr(os, "scandir", counting(os.scandir))
    monkeypatch.setattr(os, "listdir", counting(os.listdir))
    return counted


def test_carved_train_val_test_list_the_pool_once(tmp_path: Path, listings: Counter) -> None:
    root = _write_pool(tmp_path / "data", 10)
    _settle(root, root / "images", root / "masks")
    cfg = _config(root, tmp_path)
    train, val = train_val_split_names(cfg)  # train:train, train:val
    sizes = [
        len(build_dataset(cfg, train, 32, train=True)),
        len(build_dataset(cfg, val, 32, train=False)),
        len(list_split(cfg, "test").names),
    ]
    assert sum(sizes) == 10 and min(sizes) > 0
    # Each carved split listed the image folder twice (its images, then the files of other
    # formats) and the mask folder once: 6 and 3 listings.
    assert listings["images"] == 1 and listings["masks"] == 1
    assert listings["data"] == 1  # the root, for the dataset's split names


def test_inference_lists_its_input_folder_once(tmp_path: Path, listings: Counter) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("a.jpg", "b.png", "notes.txt"):
        (folder / name).touch()
    # Just written, as a script's frames are: kept for no later call, read in one listing.
    assert sorted(input_images(folder)) == ["a", "b"]
    assert listings["photos"] == 1


def test_a_listing_stats_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_stat = os.stat
    count: Counter = Counter()

    def counting_stat(path, *args, **kwargs):
        count[Path(os.fsdecode(path)).parent.name] += 1
        return real_stat(path, *args, **kwargs)

    for n in (2, 40):
        (tmp_path / f"n{n}").mkdir()
        for i in range(n):
            (tmp_path / f"n{n}" / f"img{i}.jpg").touch()
    monkeypatch.setattr(os, "stat", counting_stat)
    assert [len(list_files(tmp_path / f"n{n}", (".jpg",), "image")) for n in (2, 40)] == [2, 40]
    # Stats of the files in the folders: two per file before (is it a folder, is it a file).
    assert count["n2"] == count["n40"] == 0


def test_a_folder_changed_since_its_listing_is_listed_again(tmp_path: Path) -> None:
    root = _write_pool(tmp_path / "data", 4)
    _settle(root, root / "images", root / "masks")
    cfg = _config(root, tmp_path)
    assert len(list_split(cfg, "all").names) == 4
    (root / "images" / "img4.jpg").touch()
    (root / "masks" / "img4.png").touch()
    assert list_split(cfg, "all").names == ["img0", "img1", "img2", "img3", "img4"]


def test_a_change_in_the_same_clock_tick_is_not_missed(tmp_path: Path) -> None:
    # The file system's clock ticks every few ms (2 s on FAT): a file added right after a
    # listing may leave the folder's modification time as it was.
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "a.jpg").touch()
    before = os.stat(folder).st_mtime_ns
    assert list(list_files(folder, (".jpg",), "image")) == ["a"]
    (folder / "b.jpg").touch()
    os.utime(folder, ns=(before, before))
    assert sorted(list_files(folder, (".jpg",), "image")) == ["a", "b"]


def test_a_folder_replaced_by_another_of_the_same_time_is_listed(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "a.jpg").touch()
    _settle(folder)
    assert list(list_files(folder, (".jpg",), "image")) == ["a"]
    folder.rename(tmp_path / "images_old")  # kept, so that its inode is not reused
    folder.mkdir()
    (folder / "b.jpg").touch()
    _settle(folder)
    assert list(list_files(folder, (".jpg",), "image")) == ["b"]
