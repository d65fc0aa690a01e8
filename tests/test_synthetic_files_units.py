"""The generator's own-file bookkeeping (:mod:`pmgsam.data.synthetic_files`) on cases a near
miss gets wrong: a user's file where the new tree writes, in a folder the old tree did not
have, and a manifest that is JSON but not an object."""

from __future__ import annotations

import pytest

from pmgsam.data import DataError, generate
from pmgsam.data.synthetic import MANIFEST
from pmgsam.data.synthetic_files import remove_own_files


def test_a_users_file_where_only_the_new_tree_writes_is_refused_and_nothing_removed(tmp_path):
    # The old tree wrote Train/Image/a.jpg; the new one writes Test/Image/b.jpg, where the
    # user keeps a photo. Judged by the old tree's folders alone, the photo is outside the
    # dataset: left in place with a warning, then written over by the new tree.
    (tmp_path / "Train" / "Image").mkdir(parents=True)
    (tmp_path / "Test" / "Image").mkdir(parents=True)
    (tmp_path / "Train" / "Image" / "a.jpg").write_text("generated")
    (tmp_path / "Test" / "Image" / "b.jpg").write_text("the user's photo")
    own = {"Train/Image/a.jpg"}
    with pytest.raises(DataError, match=r"Test/Image/b\.jpg.*writing over 1 \(same name"):
        remove_own_files(tmp_path, own, ["Test/Image/b.jpg"], "--overwrite")
    assert (tmp_path / "Train" / "Image" / "a.jpg").read_text() == "generated"
    assert (tmp_path / "Test" / "Image" / "b.jpg").read_text() == "the user's photo"
    # The file that would be written over comes first, before the user's other photos there,
    # which the message's list of five would otherwise push it out of.
    for k in range(5):
        (tmp_path / "Test" / "Image" / f"a{k}.jpg").write_text("another photo")
    first = r"6 file\(s\) .* folders: Test/Image/b\.jpg, Test/Image/a0\.jpg, .* and 1 more"
    with pytest.raises(DataError, match=first):
        remove_own_files(tmp_path, own, ["Test/Image/b.jpg"], "--overwrite")


def test_a_manifest_that_is_not_a_json_object_names_no_files(tmp_path):
    root = generate("nc4k", tmp_path, num=2, seed=0, size=(32, 24))
    (root / MANIFEST).write_text("[1, 2]")
    with pytest.raises(DataError, match="already exists and was not made by this generator"):
        generate("nc4k", tmp_path, num=2, seed=0, size=(32, 24))
    with pytest.raises(DataError, match="cannot tell which files"):
        generate("nc4k", tmp_path, num=2, seed=0, size=(32, 24), overwrite=True)
    assert len(list((root / "Imgs").iterdir())) == 2
