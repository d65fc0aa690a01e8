"""``generate(..., overwrite=True)`` / ``--overwrite`` removes only the files the generator wrote
(its manifest lists them; an earlier generator's manifest names them by its parameters) and
never a file of the user: one in the dataset's folders is refused, one elsewhere is kept."""

from __future__ import annotations

import json
import logging
import os

import pytest

from pmgsam.data import DataError, generate, synthetic
from pmgsam.data.synthetic import MANIFEST
from pmgsam.utils.cli import exit_status

SIZE = (32, 24)


def _tree(root, skip=()):
    """{relative path: bytes} of every file under ``root`` but those in ``skip``."""
    out = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    return {k: v for k, v in out.items() if k not in skip}


def _without_manifest(tree):
    return {k: v for k, v in tree.items() if k != MANIFEST}


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """Trees written into empty folders: what a replaced tree must equal, byte for byte."""
    base = tmp_path_factory.mktemp("fresh")
    return {n: _tree(generate("cod10k", base / str(n), num=n, seed=3, size=SIZE)) for n in (2, 3)}


def test_overwrite_keeps_the_users_files_outside_the_dataset_folders(tmp_path, fresh, caplog):
    root = generate("cod10k", tmp_path, num=2, seed=3, size=SIZE)
    (root / "NOTES.txt").write_text("notes")
    (root / "mine").mkdir()
    (root / "mine" / "a.jpg").write_text("photo")
    with caplog.at_level(logging.WARNING, logger="pmgsam.data.synthetic"):
        generate("cod10k", tmp_path, num=3, seed=3, size=SIZE, overwrite=True)
    assert (root / "NOTES.txt").read_text() == "notes"
    assert (root / "mine" / "a.jpg").read_text() == "photo"
    assert "left in place" in caplog.text and "NOTES.txt" in caplog.text
    # No file of the num=2 tree is left over (the NonCAM / Test names differ between the two).
    assert set(fresh[2]) - set(fresh[3])
    got = _tree(root, skip={"NOTES.txt", "mine/a.jpg"})
    assert _without_manifest(got) == _without_manifest(fresh[3])


@pytest.mark.parametrize("where", ["Train/Image/my_added_photo.jpg", "Test/GT_Object/x/y.png"])
def test_overwrite_refuses_user_files_in_the_dataset_folders(tmp_path, capsys, where):
    """The trial's case: a photo added to Train/Image would become a training image."""
    argv = ["--layout", "cod10k", "--out", tmp_path, "--num", 2, "--size", "32x24"]
    assert exit_status(synthetic.main, [*argv, "--no-progress"]) == 0
    root = tmp_path / "COD10K-v3"
    (root / where).parent.mkdir(parents=True, exist_ok=True)
    (root / where).write_text("mine")
    (root / "NOTES.txt").write_text("notes")
    before = _tree(root)
    capsys.readouterr()
    assert exit_status(synthetic.main, [*argv, "--num", 3, "--overwrite", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert where in err and "--overwrite would mix them" in err and "Nothing was removed" in err
    assert _tree(root) == before


def test_overwrite_refuses_a_user_file_with_a_generated_name(tmp_path, fresh):
    root = generate("cod10k", tmp_path, num=2, seed=3, size=SIZE)
    name = sorted(set(fresh[3]) - set(fresh[2]))[0]  # written by num=3, not by num=2
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_text("mine")
    before = _tree(root)
    with pytest.raises(DataError, match="writing over 1 \\(same name as a generated file\\)") as e:
        generate("cod10k", tmp_path, num=3, seed=3, size=SIZE, overwrite=True)
    assert name in str(e.value) and "overwrite=True would mix" in str(e.value)
    assert _tree(root) == before


def _old_manifest(root):
    """Rewrite the manifest as the generator before this change wrote it: params and splits."""
    data = json.loads((root / MANIFEST).read_text())
    (root / MANIFEST).write_text(json.dumps({"params": data["params"], "splits": data["splits"]}))


def test_overwrite_of_a_tree_with_an_earlier_generators_manifest(tmp_path, fresh):
    """demo.sh passes --overwrite on every run, also on demo_data from an earlier version."""
    root = generate("cod10k", tmp_path, num=2, seed=3, size=SIZE)
    _old_manifest(root)
    assert generate("cod10k", tmp_path, num=2, seed=3, size=SIZE) == root  # still reused
    (root / "NOTES.txt").write_text("notes")
    generate("cod10k", tmp_path, num=3, seed=3, size=SIZE, overwrite=True)
    got = _tree(root, skip={"NOTES.txt"})
    assert _without_manifest(got) == _without_manifest(fresh[3])


def test_overwrite_refuses_when_the_manifest_does_not_tell_its_files(tmp_path):
    root = generate("nc4k", tmp_path, num=2, seed=0, size=SIZE)
    _old_manifest(root)
    data = json.loads((root / MANIFEST).read_text())
    data["splits"]["all"]["99"] = 1  # a stem its parameters do not name
    (root / MANIFEST).write_text(json.dumps(data))
    before = _tree(root)
    with pytest.raises(DataError, match="cannot tell which files"):
        generate("nc4k", tmp_path, num=3, seed=0, size=SIZE, overwrite=True)
    data = {"params": data["params"], "files": ["../outside.txt"]}
    (root / MANIFEST).write_text(json.dumps(data))
    with pytest.raises(DataError, match="cannot tell which files"):
        generate("nc4k", tmp_path, num=3, seed=0, size=SIZE, overwrite=True)
    assert _without_manifest(_tree(root)) == _without_manifest(before)


def test_an_interrupted_run_is_redone(tmp_path, monkeypatch):
    def interrupted(out, *args):
        (out / "Imgs").mkdir()
        (out / "Imgs" / "1.jpg").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(synthetic, "_nc4k", interrupted)
    with pytest.raises(KeyboardInterrupt):
        generate("nc4k", tmp_path / "a", num=2, seed=0, size=SIZE)
    assert json.loads((tmp_path / "a" / "NC4K" / MANIFEST).read_text())["complete"] is False
    monkeypatch.undo()
    root = generate("nc4k", tmp_path / "a", num=2, seed=0, size=SIZE)  # same params: redone
    assert _tree(root) == _tree(generate("nc4k", tmp_path / "b", num=2, seed=0, size=SIZE))


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


@pytest.mark.parametrize(
    "params",
    [
        {"layout": "nc4k", "num": 0, "seed": 0, "size": list(SIZE)},  # out of the generator's range
        {"layout": "nc4k", "num": 2, "seed": 0},  # no size
        {"layout": "nc4k", "num": "two", "seed": 0, "size": list(SIZE)},
    ],
)
def test_an_earlier_manifest_with_unusable_parameters_removes_nothing(tmp_path, params) -> None:
    # Its files cannot be worked out from such parameters: an overwrite is refused untouched.
    root = generate("nc4k", tmp_path, num=2, seed=0, size=SIZE)
    splits = json.loads((root / MANIFEST).read_text())["splits"]
    (root / MANIFEST).write_text(json.dumps({"params": params, "splits": splits}))
    before = _tree(root)
    with pytest.raises(DataError, match="cannot tell which files"):
        generate("nc4k", tmp_path, num=3, seed=0, size=SIZE, overwrite=True)
    assert _tree(root) == before


def test_an_unreadable_manifest_is_named_and_nothing_is_removed(tmp_path) -> None:
    root = generate("nc4k", tmp_path, num=2, seed=0, size=SIZE)
    (root / MANIFEST).write_text('{"params": {"layout": "nc4k", "nu')
    before = _tree(root)
    with pytest.raises(DataError, match=r"cannot read the generator's manifest '.*synthetic_ma"):
        generate("nc4k", tmp_path, num=3, seed=0, size=SIZE, overwrite=True)
    assert _tree(root) == before
