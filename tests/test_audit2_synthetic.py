"""Audit of the synthetic generator's --overwrite: cases a plausible slip would get wrong."""

from __future__ import annotations

import json
import logging
import os

import pytest

from pmgsam.data import DataError, generate
from pmgsam.data.synthetic import MANIFEST

SIZE = (32, 24)


def test_a_tree_of_the_generator_before_complete_was_recorded_is_kept(tmp_path) -> None:
    # The generator before "complete" (and "files") wrote its manifest only once all images
    # were written: a tree with such a manifest and the same parameters is finished, and asking
    # again for it must leave it as it is, not regenerate (and replace) its files.
    root = generate("nc4k", tmp_path, num=2, seed=0, size=SIZE)
    manifest = json.loads((root / MANIFEST).read_text())
    old = {k: v for k, v in manifest.items() if k not in ("complete", "files")}
    (root / MANIFEST).write_text(json.dumps(old))
    (root / "Imgs" / "1.jpg").write_bytes(b"as the user had it")
    assert generate("nc4k", tmp_path, num=2, seed=0, size=SIZE) == root
    assert (root / "Imgs" / "1.jpg").read_bytes() == b"as the user had it"


def test_replacing_a_tree_of_only_generated_files_warns_of_nothing(tmp_path, caplog) -> None:
    # Its own manifest is one of the files it wrote: not a user's file "left in place".
    generate("nc4k", tmp_path, num=2, seed=0, size=SIZE)
    with caplog.at_level(logging.WARNING):
        root = generate("nc4k", tmp_path, num=3, seed=0, size=SIZE, overwrite=True)
    assert "left in place" not in caplog.text
    assert json.loads((root / MANIFEST).read_text())["params"]["num"] == 3


def test_a_link_to_a_users_folder_in_a_dataset_folder_is_refused(tmp_path) -> None:
    # os.walk lists a link to a folder among the folders and does not enter it: it is the
    # user's, inside Imgs, and must stop the overwrite like a file of theirs would.
    root = generate("nc4k", tmp_path / "out", num=2, seed=0, size=SIZE)
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "p.jpg").write_bytes(b"photo")
    os.symlink(photos, root / "Imgs" / "holiday", target_is_directory=True)
    with pytest.raises(DataError, match=r"Imgs/holiday.*Nothing was removed"):
        generate("nc4k", tmp_path / "out", num=3, seed=0, size=SIZE, overwrite=True)
    assert (root / "Imgs" / "1.jpg").is_file() and (photos / "p.jpg").read_bytes() == b"photo"
