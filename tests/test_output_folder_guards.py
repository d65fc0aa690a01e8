"""Direct checks of the output-folder guards in :mod:`pmgsam.utils.outputs`.

Each case is one where a plausible slip in the guard (comparing unresolved paths, checking only
one direction of an overlap, counting only plain files as foreign, trusting any JSON file named
like the manifest, forgetting the skeleton folder) would let a run write among a user's files.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from pmgsam.data.io import IMAGE_EXTENSIONS
from pmgsam.utils.outputs import (
    MANIFEST,
    OutputError,
    check_output_file,
    dataset_folders,
    prepare_output_dir,
    refuse_output_in_data_folder,
    refuse_shared_output,
)


def test_input_folder_reached_through_dotdot_or_a_link_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (tmp_path / "other").mkdir()
    with pytest.raises(OutputError, match="is the input folder"):
        prepare_output_dir(tmp_path / "other" / ".." / "src", ["x.png"], [src])
    link = tmp_path / "link"
    link.symlink_to(src, target_is_directory=True)
    with pytest.raises(OutputError, match="lies inside the input folder"):
        prepare_output_dir(link / "maps", ["x.png"], [src])
    assert sorted(p.name for p in src.iterdir()) == []


@pytest.mark.parametrize("nested", ["second_in_first", "first_in_second"])
def test_shared_output_refused_whichever_folder_holds_the_other(tmp_path: Path, nested) -> None:
    outer, inner = tmp_path / "maps", tmp_path / "maps" / "pre"
    first, second = (outer, inner) if nested == "second_in_first" else (inner, outer)
    with pytest.raises(OutputError, match="overlaps --out"):
        refuse_shared_output(first, "--out", second, "--premask-out")
    refuse_shared_output(tmp_path / "a", "--out", tmp_path / "ab", "--premask-out")  # siblings


def test_folder_holding_only_subfolders_is_refused(tmp_path: Path) -> None:
    # A dataset root (im/, gt/) is not an input folder itself, but holds the user's data.
    root = tmp_path / "DIS-TE1"
    (root / "im").mkdir(parents=True)
    (root / "gt").mkdir()
    with pytest.raises(OutputError, match=r"2 file\(s\) this tool did not write"):
        prepare_output_dir(root, ["x.png"], [root / "im", root / "gt"])
    assert not (root / MANIFEST).exists()


@pytest.mark.parametrize(
    "manifest",
    [
        {"files": ["x.png"]},  # no format key
        {"format": "something-else", "files": ["x.png"]},
        ["x.png"],
    ],
)
def test_manifest_of_another_format_vouches_for_nothing(tmp_path: Path, manifest) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "x.png").write_bytes(b"user data")
    (out / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(OutputError, match="1 of them would be replaced"):
        prepare_output_dir(out, ["x.png"])
    assert (out / "x.png").read_bytes() == b"user data"


def test_dataset_folders_include_the_skeleton_folder(tmp_path: Path) -> None:
    dataset = SimpleNamespace(
        image_paths=[tmp_path / "im" / "a.jpg", tmp_path / "im" / "b.jpg"],
        mask_paths=[tmp_path / "gt" / "a.png", None],
        skeleton_paths=[tmp_path / "sk" / "a.png"],
    )
    assert dataset_folders(dataset) == [tmp_path / "gt", tmp_path / "im", tmp_path / "sk"]
    assert dataset_folders(SimpleNamespace(image_paths=[tmp_path / "im" / "a.jpg"])) == [
        tmp_path / "im"
    ]


def test_data_folder_is_told_by_most_of_its_images_not_one_stray_file(tmp_path: Path) -> None:
    names = [f"{i}.jpg" for i in range(1, 7)]  # NC4K-style numeric stems
    home = tmp_path / "home"
    home.mkdir()
    (home / "1.png").write_bytes(b"a stray picture")  # one of six: not the data folder
    refuse_output_in_data_folder(home / "overlap", names, [".jpg", ".png"], "--out")
    imgs = tmp_path / "NC4K" / "Imgs"
    imgs.mkdir(parents=True)
    for n in names[:3]:  # half of them, as where a COCO file lists more than a folder holds
        (imgs / n).write_bytes(b"jpeg")
    with pytest.raises(OutputError, match=r"inside the data folder .*files of 3 of the .*'1\.jpg'"):
        refuse_output_in_data_folder(imgs / "sub" / "out", names, [".jpg"], "--out")


def test_an_unlistable_ancestor_is_passed_over(tmp_path: Path, deny_listing) -> None:
    # On a shared machine an ancestor may deny listing (mode 711); the guard must not crash.
    locked = tmp_path / "scratch"
    (locked / "me").mkdir(parents=True)
    deny_listing(locked)
    refuse_output_in_data_folder(locked / "me" / "out", ["a.jpg"], [".jpg"], "--out")
    # Passed over, not the end of the search: a data folder further up is still found.
    (tmp_path / "a.jpg").write_bytes(b"jpeg")
    with pytest.raises(OutputError, match=f"lies inside the data folder '{tmp_path}'"):
        refuse_output_in_data_folder(locked / "me" / "out", ["a.jpg"], [".jpg"], "--out")


# --- refuse_output_in_data_folder: what counts as a data folder ---------------------------------


def test_a_folder_of_upper_case_extensions_is_a_data_folder(tmp_path: Path) -> None:
    # Camera folders hold IMG_1.JPG: the COCO file names 'IMG_1.jpg'. Comparing suffixes
    # without lowering both sides would find no image here and write the maps among them.
    names = ["IMG_1.jpg", "IMG_2.jpg"]
    imgs = tmp_path / "Imgs"
    imgs.mkdir()
    for n in names:
        (imgs / n.replace(".jpg", ".JPG")).write_bytes(b"jpeg")
    with pytest.raises(OutputError, match="is the data folder"):
        refuse_output_in_data_folder(imgs, names, [".JPG", ".png"], "--out")
    with pytest.raises(OutputError, match="lies inside the data folder"):
        refuse_output_in_data_folder(imgs / "out", names, IMAGE_EXTENSIONS, "--out")


def test_names_with_folders_are_matched_by_stem(tmp_path: Path) -> None:
    # COCO files may name images with their folder ('Test/Image/a.jpg'); the folder holds a.jpg.
    names = ["Test/Image/a.jpg", "Test/Image/b.jpg"]
    imgs = tmp_path / "Image"
    imgs.mkdir()
    for n in ("a.jpg", "b.jpg"):
        (imgs / n).write_bytes(b"jpeg")
    with pytest.raises(OutputError, match="holds files of 2 of the data"):
        refuse_output_in_data_folder(imgs / "maps", names, IMAGE_EXTENSIONS, "--out")


def test_a_folder_holding_under_half_of_the_images_is_allowed(tmp_path: Path) -> None:
    # 2 of 5 images is under half (2 * 2 < 5); 3 of 5 is over it.
    names = [f"{i}.jpg" for i in range(5)]
    folder = tmp_path / "some"
    folder.mkdir()
    for n in names[:2]:
        (folder / n).write_bytes(b"jpeg")
    refuse_output_in_data_folder(folder / "out", names, IMAGE_EXTENSIONS, "--out")
    (folder / names[2]).write_bytes(b"jpeg")
    with pytest.raises(OutputError, match="holds files of 3 of the data"):
        refuse_output_in_data_folder(folder / "out", names, IMAGE_EXTENSIONS, "--out")


def test_an_image_kept_in_two_formats_counts_once(tmp_path: Path) -> None:
    # 1.jpg and 1.png are one image of four: a quarter, not half.
    names = [f"{i}.jpg" for i in range(1, 5)]
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "1.jpg").write_bytes(b"jpeg")
    (folder / "1.png").write_bytes(b"png")
    refuse_output_in_data_folder(folder / "out", names, [".jpg", ".png"], "--out")
    # A second image makes two of four: half, refused (so the pass above was the count's).
    (folder / "2.png").write_bytes(b"png")
    with pytest.raises(OutputError, match="holds files of 2 of the data's images, e.g. '1.jpg'"):
        refuse_output_in_data_folder(folder / "out", names, [".jpg", ".png"], "--out")


def test_only_the_temporaries_of_listed_maps_are_the_tools(tmp_path: Path) -> None:
    # A killed run leaves `.x.png.pmgsam-<hex>.tmp`; a temporary the manifest does not vouch
    # for (`.notes.txt.pmgsam-<hex>.tmp`) is the user's: refused as foreign, and kept with
    # overwrite.
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST).write_text(json.dumps({"format": "pmgsam-outputs", "files": ["x.png"]}))
    ours, theirs = (
        out / ".x.png.pmgsam-0123456789ab.tmp",
        out / ".notes.txt.pmgsam-a8f1a8f1a8f1.tmp",
    )
    ours.write_bytes(b"half a map")
    theirs.write_bytes(b"user data")
    with pytest.raises(OutputError, match=r"1 file\(s\) this tool did not write \(\.notes"):
        prepare_output_dir(out, ["x.png"])
    prepare_output_dir(out, ["x.png"], overwrite=True)
    assert not ours.exists() and theirs.read_bytes() == b"user data"


def test_a_manifest_that_does_not_say_mixed_cannot_vouch_for_its_maps(tmp_path: Path) -> None:
    # A manifest without the `mixed` mark (an earlier pmgsam's) does not tell whether all its
    # maps are of its producer: a run writing other maps beside them leaves the folder mixed.
    out, producer = tmp_path / "out", {"weights_sha256": "a" * 64, "maps": "final"}
    out.mkdir()
    (out / "x.png").write_bytes(b"map")
    record = {"format": "pmgsam-outputs", "files": ["x.png"], "producer": producer}
    (out / MANIFEST).write_text(json.dumps(record))
    with pytest.warns(UserWarning, match="keeps 1 map"):
        prepare_output_dir(out, ["y.png"], producer=producer)
    assert json.loads((out / MANIFEST).read_text())["mixed"] is True


def test_an_output_file_path_that_cannot_be_written_is_refused_before_any_work(tmp_path) -> None:
    # Otherwise a long run ends in an OS error about a hidden temporary file.
    (tmp_path / "runs").mkdir()
    (tmp_path / "notes").write_text("user data")
    with pytest.raises(OutputError, match=r"--output '.*runs' is a folder; give the path of a"):
        check_output_file(tmp_path / "runs", "--output")
    with pytest.raises(OutputError, match=r"'.*notes' is a file, not a folder"):
        check_output_file(tmp_path / "notes" / "sub" / "data.json", "--output")
    check_output_file(tmp_path / "new" / "data.json", "--output")
    assert (tmp_path / "notes").read_text() == "user data"
