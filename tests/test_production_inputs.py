"""Production folders: broken symbolic links, images over PIL's pixel limit and files of other
types are named, never dropped without a word or raised as a PIL traceback; maps are written
whole or not at all."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pmgsam.data.io import DataError, DataNotFoundError, load_image, load_mask, read_size
from pmgsam.engine.inference import ImageFolder, input_images, write_probability_png
from pmgsam.evaluation.scoring import EvaluationInputError, pair_folders
from pmgsam.utils.outputs import MANIFEST, OutputError, check_output_dir, prepare_output_dir

needs_symlinks = pytest.mark.skipif(os.name == "nt", reason="symbolic links need privileges")


def _image(path, size=(8, 6)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), 90, np.uint8)).save(path)


def _mask(path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((6, 8), 255, np.uint8)).save(path)


@needs_symlinks
def test_broken_symlink_image_is_listed_as_unreadable(tmp_path) -> None:
    # It used to be skipped silently: no map, and exit status 0 when nothing else was wrong.
    _image(tmp_path / "ok.png")
    (tmp_path / "gone.jpg").symlink_to(tmp_path / "moved" / "gone.jpg")
    folder = ImageFolder(tmp_path, 32)
    assert folder.names == ["ok"]
    assert [name for name, _ in folder.unreadable] == ["gone.jpg"]
    assert "is a broken symbolic link (to '" in folder.unreadable[0][1]
    with pytest.raises(DataNotFoundError, match="broken symbolic link"):
        load_image(tmp_path / "gone.jpg")


@needs_symlinks
def test_broken_symlink_gt_is_not_left_out_of_the_score(tmp_path) -> None:
    # A GT mask behind a broken link used to vanish from the listing: the other images were
    # scored as if it did not exist, and its map was called one "without GT".
    for stem in ("a", "b"):
        _mask(tmp_path / "pred" / f"{stem}.png")
    _mask(tmp_path / "gt" / "a.png")
    (tmp_path / "gt" / "b.png").symlink_to(tmp_path / "elsewhere" / "b.png")
    pairs = pair_folders(tmp_path / "pred", tmp_path / "gt")
    assert [stem for stem, _, _ in pairs] == ["a", "b"]
    with pytest.raises(DataNotFoundError, match=r"GT mask file .*b\.png' is a broken symbolic"):
        load_mask(pairs[1][2], "GT mask")
    (tmp_path / "pred" / "b.png").unlink()
    with pytest.raises(EvaluationInputError, match=r"1 GT image\(s\) .* no prediction .*: b\.png"):
        pair_folders(tmp_path / "pred", tmp_path / "gt")


def test_image_over_pil_pixel_limit_is_a_data_error(tmp_path, monkeypatch) -> None:
    # PIL raises DecompressionBombError (not an OSError) above 2 x MAX_IMAGE_PIXELS; it came
    # out as a traceback. A 20x20 image stands for a 180-megapixel photo here.
    _image(tmp_path / "small.png", (4, 4))
    _image(tmp_path / "huge.png", (20, 20))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    for read in (load_image, read_size):
        with pytest.raises(DataError, match=r"huge\.png': more pixels than PIL opens .*400"):
            read(tmp_path / "huge.png")
    folder = ImageFolder(tmp_path, 32)
    assert folder.names == ["small"]
    assert [name for name, _ in folder.unreadable] == ["huge.png"]


def test_files_of_other_types_are_named(tmp_path, caplog) -> None:
    _image(tmp_path / "photo.JPG")
    Image.new("P", (8, 6)).save(tmp_path / "anim.gif")
    (tmp_path / "notes.txt").write_text("shot list")
    (tmp_path / ".DS_Store").write_bytes(b"\0")  # hidden: not worth a word
    with caplog.at_level(logging.WARNING, logger="pmgsam.engine.inference"):
        assert list(input_images(tmp_path)) == ["photo"]
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1
    assert warned[0].startswith("2 file(s) in '")
    assert warned[0].endswith("get no map: anim.gif, notes.txt")


def test_a_folder_of_images_only_warns_nothing(tmp_path, caplog) -> None:
    _image(tmp_path / "in" / "a.png")
    (tmp_path / "day2").mkdir()
    if os.name != "nt":  # a link to a folder is a subfolder (list_files names it), not a file
        (tmp_path / "in" / "day2").symlink_to(tmp_path / "day2", target_is_directory=True)
    with caplog.at_level(logging.WARNING, logger="pmgsam.engine.inference"):
        with pytest.warns(UserWarning, match="subfolder"):
            input_images(tmp_path / "in")
    assert not caplog.records


# --- writing maps: whole or not at all, and a failed write says why ---
def test_failed_map_write_names_the_reason_and_leaves_no_temporary(tmp_path) -> None:
    # It said only "could not write prediction" (OpenCV gives no reason), on a full disk too.
    (tmp_path / "a.png").mkdir()  # stands where the map should go
    with pytest.raises(OSError, match=r"could not write prediction '.*a\.png': Is a directory"):
        write_probability_png(torch.full((4, 5), 0.5), tmp_path / "a.png")
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


def test_interrupted_map_write_keeps_the_previous_map(tmp_path, monkeypatch) -> None:
    # A run killed while writing a map left a truncated PNG under the map's name.
    target = tmp_path / "a.png"
    write_probability_png(torch.zeros(4, 5), target)
    before = target.read_bytes()

    def killed(self, data):
        with open(self, "wb") as f:
            f.write(data[: len(data) // 2])
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_bytes", killed)
    with pytest.raises(KeyboardInterrupt):
        write_probability_png(torch.ones(4, 5), target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


def test_rerun_clears_temporaries_of_its_own_maps_only(tmp_path) -> None:
    # SIGKILL leaves the temporary behind; the next run into the folder must not take it for a
    # file of the user's (it refused the folder without --overwrite) and removes it.
    out = prepare_output_dir(tmp_path / "out", ["a.png", "b.png"], tool="inference")
    write_probability_png(torch.zeros(4, 5), out / "a.png")
    (out / ".b.png.pmgsam-0123456789ab.tmp").write_bytes(b"\x89PNG half")
    check_output_dir(out, ["a.png", "b.png"])
    prepare_output_dir(out, ["a.png", "b.png"], tool="inference")
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "a.png"]
    (out / ".notes.md.pmgsam-0123456789ab.tmp").write_text(
        "mine"
    )  # not a temporary of a map of ours
    with pytest.raises(OutputError, match=r"1 file\(s\) this tool did not write"):
        check_output_dir(out, ["a.png", "b.png"])


def test_maps_of_an_earlier_run_left_in_the_folder_are_named(tmp_path, recwarn) -> None:
    # Predicting another folder (or fewer images) into the same --out kept the earlier run's
    # maps beside the new ones without a word.
    out = prepare_output_dir(tmp_path / "out", ["a.png", "b.png", "c.png"], tool="inference")
    for name in ("a.png", "b.png"):  # c.png's image was unreadable: never written
        write_probability_png(torch.zeros(4, 5), out / name)
    with pytest.warns(UserWarning) as caught:
        prepare_output_dir(out, ["b.png", "x.png"], tool="inference")
    assert str(caught[0].message) == (
        f"--out '{out}' keeps 1 map(s) of an earlier run that this run does not replace "
        "(a.png); they stay beside the new maps (use an empty folder to hold this run's maps only)"
    )
    prepare_output_dir(out, ["a.png", "b.png"], tool="inference")
    assert not [w for w in recwarn if "earlier run" in str(w.message)]


def test_out_below_a_file_is_refused_before_any_work(tmp_path) -> None:
    # It surfaced as "[Errno 20] Not a directory" once the model had loaded.
    (tmp_path / "notes").write_text("mine")
    with pytest.raises(OutputError, match=r"--out '.*sub': '.*notes' is a file, not a folder"):
        check_output_dir(tmp_path / "notes" / "sub", ["a.png"])
    assert (tmp_path / "notes").read_text() == "mine"


def test_a_missing_prediction_folder_or_an_empty_gt_folder_is_named(tmp_path: Path) -> None:
    (tmp_path / "gt").mkdir()
    with pytest.raises(EvaluationInputError, match=r"prediction folder '.*pred' does not exist"):
        pair_folders(tmp_path / "pred", tmp_path / "gt")
    (tmp_path / "pred").mkdir()
    with pytest.raises(EvaluationInputError, match=r"no GT images in .*gt"):
        pair_folders(tmp_path / "pred", tmp_path / "gt")
