"""Listing a folder: stems equal but for case are refused, subfolders are named, not skipped
silently."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image

from pmgsam.data.io import IMAGE_EXTENSIONS, DataError, list_files
from pmgsam.engine.inference import ImageFolder


def _image(path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((6, 8, 3), 90, np.uint8)).save(path, format="PNG")


def test_stems_equal_but_for_case_are_refused(tmp_path) -> None:
    # On macOS or Windows, maps written as 'a.png' and 'A.png' are one file: the second
    # image's map would replace the first's without a word.
    _image(tmp_path / "a.jpg")
    _image(tmp_path / "A.png")
    with pytest.raises(DataError, match=r"equal but for case.*'A\.png' and 'a\.jpg'"):
        list_files(tmp_path, IMAGE_EXTENSIONS, "image")
    with pytest.raises(DataError, match="equal but for case"):
        ImageFolder(tmp_path, 32)


def test_same_stem_is_still_refused_without_the_case_remark(tmp_path) -> None:
    _image(tmp_path / "x.jpg")
    _image(tmp_path / "x.png")
    with pytest.raises(DataError, match="two files with stem 'x'") as err:
        list_files(tmp_path, IMAGE_EXTENSIONS, "image")
    assert "case" not in str(err.value)


def test_stems_differing_otherwise_are_kept(tmp_path) -> None:
    for name in ("img1.png", "img10.png", "IMG2.jpg"):
        _image(tmp_path / name)
    assert sorted(list_files(tmp_path, IMAGE_EXTENSIONS, "image")) == ["IMG2", "img1", "img10"]


def test_subfolders_are_named_and_their_images_left_out(tmp_path) -> None:
    _image(tmp_path / "top.png")
    _image(tmp_path / "day2" / "inner.png")
    (tmp_path / ".cache").mkdir()  # hidden: not worth a word
    with pytest.warns(UserWarning, match=r"1 subfolder\(s\) \(day2\): only the files directly"):
        folder = ImageFolder(tmp_path, 32)
    assert folder.names == ["top"]


def test_no_warning_without_subfolders(tmp_path, recwarn) -> None:
    _image(tmp_path / "top.png")
    (tmp_path / ".thumbs").mkdir()
    list_files(tmp_path, IMAGE_EXTENSIONS, "image")
    assert not [w for w in recwarn if "subfolder" in str(w.message)]


def test_inference_names_the_subfolders_once(tmp_path, capsys) -> None:
    # The command lists the folder before loading the model and again to read it: one warning.

    import torch

    import pmgsam
    from pmgsam.engine.inference import main
    from pmgsam.modeling.checkpoint import save_model

    _image(tmp_path / "in" / "top.png")
    _image(tmp_path / "in" / "day2" / "inner.png")
    torch.manual_seed(0)
    model = pmgsam.build_model("pmgsam_tiny", image_size=32)
    weights = save_model(model, tmp_path / "w.safetensors")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        main(["--checkpoint", str(weights), "--input", str(tmp_path / "in"), "--out",
              str(tmp_path / "out"), "--num-workers", "0"])  # fmt: skip
    assert len([w for w in caught if "subfolder" in str(w.message)]) == 1
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["top.png"]


def test_case_clash_is_found_whichever_file_sorts_first(tmp_path) -> None:
    # sorted() puts 'Ab.jpg' ('A' < 'a') before 'aB.png': the second file's stem 'aB' equals
    # the first's only once both are case-folded, so looking up the raw stem finds nothing.
    _image(tmp_path / "Ab.jpg")
    _image(tmp_path / "aB.png")
    with pytest.raises(DataError, match="equal but for case"):
        list_files(tmp_path, IMAGE_EXTENSIONS, "image")


def test_case_clash_uses_full_case_folding(tmp_path) -> None:
    # 'ΣΑΣ' and 'σας' are one name under Unicode caseless matching (str.casefold: both
    # 'σασ'); str.lower() keeps the final sigma ('σας' vs 'σασ') and would miss the clash.
    _image(tmp_path / "ΣΑΣ.png")
    _image(tmp_path / "σας.jpg")
    with pytest.raises(DataError, match="equal but for case"):
        list_files(tmp_path, IMAGE_EXTENSIONS, "image")


def test_upper_case_extensions_are_listed(tmp_path) -> None:
    # Cameras write IMG_0001.JPG: such images must not vanish from the split without a word.
    _image(tmp_path / "IMG_0001.JPG")
    _image(tmp_path / "b.Png")
    found = list_files(tmp_path, IMAGE_EXTENSIONS, "image")
    assert sorted(found) == ["IMG_0001", "b"]
    assert found["IMG_0001"].name == "IMG_0001.JPG"


def test_a_folder_of_only_unreadable_images_is_named_with_each_file(tmp_path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "b.png").write_bytes(b"")
    with pytest.raises(DataError, match=rf"^none of the 2 images in '{tmp_path}' can be read: "):
        ImageFolder(tmp_path, 64)
    with pytest.raises(DataError, match=r"can be read: a\.jpg, b\.png \(first: "):
        ImageFolder(tmp_path, 64)
    _image(tmp_path / "c.png")
    folder = ImageFolder(tmp_path, 64)  # one readable image: the others listed, not fatal
    assert folder.names == ["c"] and [n for n, _ in folder.unreadable] == ["a.jpg", "b.png"]


def _lists(folder) -> int:
    """A caller of list_files: the line its subfolder warning should point at."""
    import inspect

    line = inspect.currentframe().f_lineno + 1
    list_files(folder, IMAGE_EXTENSIONS, "image")
    return line


def test_the_subfolder_warning_points_at_the_caller_of_list_files(tmp_path) -> None:
    # As warnings.warn(stacklevel=2) does: the line that called list_files, not the one that
    # called that caller (where it pointed once list_files went through scan_files).
    _image(tmp_path / "day2" / "inner.png")
    with pytest.warns(UserWarning, match="subfolder") as caught:
        line = _lists(tmp_path)
    assert (caught[0].filename, caught[0].lineno) == (__file__, line)
