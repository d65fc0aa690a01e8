"""Audit of refuse_output_in_data_folder: data folders a plausible slip would not recognise."""

from __future__ import annotations

from pathlib import Path

import pytest

from pmgsam.data.io import IMAGE_EXTENSIONS
from pmgsam.utils.outputs import OutputError, refuse_output_in_data_folder


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
