"""The dataset's reading paths agree with each other: the reduced JPEG decode reads masks and
bad pairs as the full decode does, falls back to it where it cannot help, and follows the data
config; check_files warns about every EXIF orientation that viewers apply, and accepts splits
where only some masks are empty; COD10K's CAM filter applies to the masks as well; samples
carry the names given, and carved splits keep natural order; an image too large for PIL is
listed by check_files with the rest."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from mask_cases import corner_mask, exif_photo
from PIL import Image

from pmgsam.data import AugmentConfig, DataConfig, DataError, build_dataset
from pmgsam.data.datasets import SegmentationDataset, check_files
from pmgsam.data.orientation import exif_orientation

NO_CROP = AugmentConfig(crop_prob=0.0)


def _pair(folder: Path, name: str, hw: tuple, mask: np.ndarray) -> tuple:
    (folder / "im").mkdir(parents=True, exist_ok=True)
    (folder / "gt").mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(0).integers(0, 256, (*hw, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(folder / "im" / f"{name}.jpg", quality=90)
    Image.fromarray(mask).save(folder / "gt" / f"{name}.png")
    return folder / "im" / f"{name}.jpg", folder / "gt" / f"{name}.png"


def _reducing(paths: tuple, size: int) -> SegmentationDataset:
    return SegmentationDataset(
        [paths[0]], [paths[1]], size, train=True, augment=NO_CROP, reduced_decode=True
    )


def test_the_reduced_decode_reads_gray_mask_edges_as_background(tmp_path: Path) -> None:
    # 256 x 256 at S = 32 without crops decodes at 1/8. Rows 0-63 are 255 (foreground), rows
    # 64-127 are 100: at most 128 is background (binarize), so only the first eight 8 x 8 block
    # rows are foreground. Counting every non-zero value would take sixteen.
    mask = np.zeros((256, 256), np.uint8)
    mask[:64], mask[64:128] = 255, 100
    ds = _reducing(_pair(tmp_path, "a", (256, 256), mask), 32)
    image, soft = ds.load_for_training(0)
    assert image.shape == (32, 32, 3)
    expected = np.zeros((32, 32), np.float32)
    expected[:8] = 1.0
    np.testing.assert_array_equal(soft, expected)
    full = ds.load(0)[1]  # the full decode's mask, block-averaged by hand
    np.testing.assert_array_equal(soft, full.reshape(32, 8, 32, 8).mean(axis=(1, 3)))


def test_a_jpeg_too_small_to_reduce_is_read_at_full_size(tmp_path: Path) -> None:
    # A 40 x 60 JPEG at S = 64 is enlarged anyway: factor 1, the plain full-size read.
    ds = _reducing(_pair(tmp_path, "small", (40, 60), np.zeros((40, 60), np.uint8)), 64)
    image, mask = ds.load_for_training(0)
    assert image.shape == (40, 60, 3) and mask.shape == (40, 60) and mask.dtype == np.uint8
    assert ds[0]["orig_size"].tolist() == [40, 60]


def test_a_mismatched_mask_is_named_on_the_reduced_path(tmp_path: Path) -> None:
    paths = _pair(tmp_path, "a", (256, 256), np.zeros((256, 200), np.uint8))
    ds = _reducing(paths, 32)
    words = r"mask '.*a\.png' is 200x256 \(WxH\) but its image '.*a\.jpg' is 256x256"
    with pytest.raises(DataError, match=words):
        ds.load_for_training(0)


@pytest.mark.parametrize("reduced", [False, True])
def test_build_dataset_follows_the_reduced_decode_setting(tmp_path: Path, reduced: bool) -> None:
    # 512 x 384 at S = 64 decodes at 1/4 (128 x 96) when reducing.
    _pair(tmp_path / "DIS-TR", "a", (384, 512), np.zeros((384, 512), np.uint8))
    cfg = DataConfig(root=str(tmp_path), split_dir=str(tmp_path / "splits"), reduced_decode=reduced)
    ds = build_dataset(cfg, "DIS-TR", 64, train=True)
    assert ds.load_for_training(0)[0].shape == ((96, 128, 3) if reduced else (384, 512, 3))


def test_a_split_with_only_some_empty_masks_passes_check_files(tmp_path: Path) -> None:
    empty = np.zeros((24, 32), np.uint8)
    marked = empty.copy()
    marked[4:10, 4:10] = 255
    a = _pair(tmp_path, "a", (24, 32), empty)
    b = _pair(tmp_path, "b", (24, 32), marked)
    ds = SegmentationDataset([a[0], b[0]], [a[1], b[1]], 32, description="mixed")
    check_files([ds], workers=1)  # an empty mask among others is a valid sample
    only_empty = SegmentationDataset([a[0]], [a[1]], 32, description="blank")
    with pytest.raises(DataError, match="blank: all 1 masks are empty"):
        check_files([only_empty], workers=1)


@pytest.mark.parametrize("orientation", [2, 3, 4])
def test_mirrored_or_upside_down_square_photos_are_warned_about(
    tmp_path: Path, data_config, caplog, orientation: int
) -> None:
    # 2 mirrors, 3 turns by 180 degrees, 4 flips: the size stays, so only the warning tells.
    root = tmp_path / "mine"
    exif_photo(root / "images" / "shown.jpg", 48, 48, orientation)
    corner_mask(root / "masks" / "shown.png", 48, 48)
    ds = build_dataset(data_config("folder", root), "all", 32, False)
    with caplog.at_level(logging.WARNING, logger="pmgsam"):
        check_files([ds], workers=1)
    warned = [r.getMessage() for r in caplog.records if "EXIF orientation" in r.getMessage()]
    assert len(warned) == 1 and f"shown.jpg ({orientation})" in warned[0]


@pytest.mark.parametrize("tag", [0, 9])
def test_an_orientation_tag_outside_1_to_8_reads_as_stored(tmp_path: Path, tag: int) -> None:
    # Viewers ignore values the EXIF standard does not define.
    assert exif_orientation(exif_photo(tmp_path / "odd.jpg", 8, 6, tag)) == 1


def test_cam_only_leaves_out_the_masks_of_noncam_images_too(tmp_path: Path, data_config) -> None:
    # A GT_Object folder that also holds NonCAM masks (blank ones) pairs its CAM images only.
    for split in ("Train", "Test"):
        for stem in ("COD10K-CAM-1", "COD10K-NonCAM-2"):
            exif_photo(tmp_path / split / "Image" / f"{stem}.jpg", 20, 16, 1)
            corner_mask(tmp_path / split / "GT_Object" / f"{stem}.png", 20, 16)
    ds = build_dataset(data_config("cod10k", tmp_path, cam_only=True), "Train", 32, False)
    assert ds.names == ["COD10K-CAM-1"]
    assert [p.name for p in ds.mask_paths] == ["COD10K-CAM-1.png"]


def test_samples_carry_the_names_given(tmp_path: Path) -> None:
    a = _pair(tmp_path, "a", (16, 16), np.zeros((16, 16), np.uint8))
    ds = SegmentationDataset([a[0]], [a[1]], 16, names=["renamed"])
    assert ds[0]["name"] == "renamed"


def test_carved_splits_keep_natural_order(nc4k_root: Path, data_config) -> None:
    # NC4K stems are 1..10: text order would put "10" before "2".
    cfg = data_config("nc4k", nc4k_root)
    for split in ("train", "test", "train:train", "train:val"):
        names = build_dataset(cfg, split, 16, False).names
        assert names == sorted(names, key=int) and len(names) > 1, (split, names)


def test_an_image_too_large_for_pil_is_listed_not_raised(tmp_path: Path, monkeypatch) -> None:
    # PIL refuses to open more than 2 x MAX_IMAGE_PIXELS; its error names no file. Reading the
    # EXIF orientation must not let it escape check_files, which lists every bad file at once.
    big = _pair(tmp_path, "big", (30, 40), np.zeros((30, 40), np.uint8))
    small = _pair(tmp_path, "small", (10, 10), np.full((10, 10), 255, np.uint8))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)  # 1200 > 2 x 500; 100 is fine
    assert exif_orientation(big[0]) == 1
    ds = SegmentationDataset([big[0], small[0]], [big[1], small[1]], 16, description="d")
    with pytest.raises(DataError, match=r"1 problem\(s\) in 2 .*big\.jpg': more pixels than PIL"):
        check_files([ds], workers=1)
