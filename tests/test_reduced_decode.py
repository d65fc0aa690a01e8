"""Reduced-size JPEG decoding of training samples (data.reduced_decode)."""

from __future__ import annotations

import inspect
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from pmgsam.data import build_dataset
from pmgsam.data.augmentation import reduced_decode_factor, shrink_mask
from pmgsam.data.config import AugmentConfig, DataConfig
from pmgsam.data.datasets import SegmentationDataset
from pmgsam.data.io import load_image, read_header
from pmgsam.data.reduced_decode import load_image_reduced, reduced_decode_applies
from pmgsam.data.transforms import EvalTransform
from pmgsam.utils.config import ConfigError, from_dict

CROP = AugmentConfig()  # crop_prob 0.5, crop_min_scale 0.75: the crop may keep 3/4 of a side
NO_CROP = AugmentConfig(crop_prob=0.0)


@pytest.mark.parametrize(
    "long_side, size, cfg, factor",
    [
        # 1/2 of 4096 = 2048; the crop cuts at most int(0.125 * 2048) = 256 from each end:
        # 1792 - 256 = 1536 >= 1024. At 1/4: 1024 -> 896 - 128 = 768 < 1024.
        (4096, 1024, CROP, 2),
        (3840, 1024, CROP, 2),  # 1/2: 1680 - 240 = 1440; 1/4: 960 < 1024
        (2048, 1024, CROP, 1),  # 1/2: 1024 -> 768 < 1024
        (8192, 1024, CROP, 4),  # 1/4: 2048 -> 1536; 1/8: 1024 -> 768
        (4096, 512, CROP, 4),  # 1/4: 768 >= 512; 1/8: 512 -> 448 - 64 = 384
        (4096, 256, CROP, 8),  # 1/8: 384 >= 256
        # albumentations' integer cut: 1365 -> int(1194.375) - int(170.625) = 1024 >= 1024,
        # although 0.75 * 1365 = 1023.75 (a float rule would say 1).
        (2730, 1024, CROP, 2),
        (2727, 1024, CROP, 1),  # 1364 -> 1193 - 170 = 1023
        # Without crops the reduced long side itself must reach S; libjpeg rounds it up:
        # ceil(4095 / 4) = 1024 (a floor would give 1023 and choose 2).
        (4096, 1024, NO_CROP, 4),
        (4095, 1024, NO_CROP, 4),
        (4095, 512, NO_CROP, 8),  # ceil(4095 / 8) = 512
        (1000, 1024, NO_CROP, 1),  # already smaller than S
    ],
)
def test_reduced_decode_factor_hand_computed(long_side, size, cfg, factor):
    assert reduced_decode_factor(long_side, size, cfg) == factor


def _scene(h: int, w: int, seed: int = 0):
    """Smooth colour texture with a red ellipse (the mask), plus mild noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    chans = [
        110 + 60 * np.sin(x / 37),
        128 + 100 * np.cos(y / 23),
        128 + 80 * np.sin((x + y) / 51),
    ]
    image = np.stack(chans, -1)
    mask = (x - 0.4 * w) ** 2 / (0.25 * w) ** 2 + (y - 0.5 * h) ** 2 / (0.3 * h) ** 2 < 1
    image[mask] = (230, 40, 40)
    image = np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8)
    return image, mask.astype(np.uint8) * 255


def _write_pair(folder: Path, name: str, h: int, w: int, ext: str = ".jpg", mode: str = "RGB"):
    image, mask = _scene(h, w)
    (folder / "im").mkdir(parents=True, exist_ok=True)
    (folder / "gt").mkdir(parents=True, exist_ok=True)
    pil = Image.fromarray(image)
    if mode != "RGB":
        pil = pil.convert(mode)
    pil.save(folder / "im" / f"{name}{ext}", quality=95)
    Image.fromarray(mask).save(folder / "gt" / f"{name}.png")
    return folder / "im" / f"{name}{ext}", folder / "gt" / f"{name}.png"


def _dataset(paths, size: int, train: bool, reduced: bool, cfg: AugmentConfig):
    return SegmentationDataset(
        [paths[0]], [paths[1]], size, train=train, augment=cfg, reduced_decode=reduced
    )


def _close_to_area_downscale(reduced: np.ndarray, full: np.ndarray) -> None:
    ref = cv2.resize(full, reduced.shape[1::-1], interpolation=cv2.INTER_AREA)
    diff = np.abs(reduced.astype(np.float32) - ref.astype(np.float32))
    # libjpeg's reduced IDCT is not exactly a box filter: a few levels on average, more on the
    # sharp chroma edge of the ellipse (4:2:0 chroma).
    assert diff.mean() < 1.5 and np.percentile(diff, 99) <= 8, (diff.mean(), diff.max())


def test_reduced_training_sample_matches_area_downscale(tmp_path):
    # 512 x 384 at S = 64: 1/4 keeps 128 -> 112 - 16 = 96 >= 64, 1/8 keeps 64 -> 48 < 64.
    paths = _write_pair(tmp_path, "a", 384, 512)
    ds = _dataset(paths, 64, train=True, reduced=True, cfg=CROP)
    image, soft = ds.load_for_training(0)
    assert image.shape == (96, 128, 3) and soft.shape == (96, 128)
    full = load_image(paths[0])
    _close_to_area_downscale(image, full)
    # Mask: the GT binarised, then area-resized independently here.
    gt = (np.asarray(Image.open(paths[1])) > 128).astype(np.float32)
    ref = cv2.resize(gt, (128, 96), interpolation=cv2.INTER_AREA)
    np.testing.assert_allclose(soft, ref, atol=1e-6)
    assert 0 < soft.mean() < 1 and ((soft > 0) & (soft < 1)).any()  # soft at the border
    # The image's red ellipse lies where the mask says.
    red = (image[..., 0] > 200) & (image[..., 1] < 100)
    inside = soft > 0.5
    assert (red ^ inside).sum() <= 0.03 * inside.sum()


def test_reduced_sample_through_transform_and_orig_size(tmp_path):
    paths = _write_pair(tmp_path, "a", 384, 512)
    plain = AugmentConfig(crop_prob=0, hflip_prob=0, rotate_prob=0, color_jitter_prob=0)
    full = _dataset(paths, 64, train=True, reduced=False, cfg=plain)[0]
    small = _dataset(paths, 64, train=True, reduced=True, cfg=plain)[0]
    # No crop: 1/8 of 512 is 64 >= S, so the image is decoded at 64 x 48.
    assert small["orig_size"].tolist() == [48, 64] and full["orig_size"].tolist() == [384, 512]
    assert (small["image"] - full["image"]).abs().mean() < 2 / 255
    agree = (small["mask"] == full["mask"]).float().mean()
    assert agree > 0.995 and small["mask"].sum() > 100


def test_partial_blocks_are_padded_like_the_encoder():
    # 13 columns at 1/4: ceil(13 / 4) = 4 cells; the last one holds column 12 and three copies.
    row = np.array([[0] * 10 + [1] * 3], np.uint8)
    np.testing.assert_allclose(shrink_mask(row, (1, 4), 4), [[0, 0, 0.5, 1]])
    with pytest.raises(ValueError, match="not a 1/4 match"):
        shrink_mask(row, (1, 3), 4)
    # 12 columns are 3 cells at 1/4, not 4: a whole cell of padding is a mismatch, not an edge.
    with pytest.raises(ValueError, match="not a 1/4 match"):
        shrink_mask(row[:, :12], (1, 4), 4)
    # libjpeg decodes at 1/2, 1/4 or 1/8 only: a 1/3 "match" would be an area mean of no decode.
    with pytest.raises(ValueError, match=r"^shrink factor must be 2, 4 or 8, got 3$"):
        shrink_mask(row[:, :12], (1, 4), 3)


@pytest.mark.parametrize("factor", [2, 4, 8])
def test_shrink_mask_is_the_exact_block_mean(factor):
    mask = (np.random.default_rng(factor).random((61, 83)) > 0.6).astype(np.uint8)
    h, w = -(-61 // factor), -(-83 // factor)
    padded = np.pad(mask, ((0, h * factor - 61), (0, w * factor - 83)), mode="edge")
    expected = padded.reshape(h, factor, w, factor).mean(axis=(1, 3))
    np.testing.assert_allclose(shrink_mask(mask, (h, w), factor), expected, atol=1e-7)


def test_partial_blocks_match_libjpeg(tmp_path):
    paths = _write_pair(tmp_path, "odd", 389, 517)
    full = load_image(paths[0])
    for factor in (2, 4, 8):
        reduced = load_image_reduced(paths[0], factor)
        h, w = reduced.shape[:2]
        assert (h, w) == (-(-389 // factor), -(-517 // factor))
        padded = cv2.copyMakeBorder(full, 0, h * factor - 389, 0, w * factor - 517, 1)
        _close_to_area_downscale(reduced, padded)


def test_exif_orientation_is_ignored_like_the_full_decode(tmp_path):
    # Orientation 6 (rotate 90 degrees on display). load_image ignores EXIF, so the reduced
    # decode must too: the stored 512 x 384 (W x H) at 1/4 is 128 x 96, not the rotated 96 x 128.
    image, _ = _scene(384, 512)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(image).save(tmp_path / "rot.jpg", quality=95, exif=exif)
    assert Image.open(tmp_path / "rot.jpg").getexif()[0x0112] == 6
    reduced = load_image_reduced(tmp_path / "rot.jpg", 4)
    assert reduced.shape == (96, 128, 3)
    _close_to_area_downscale(reduced, load_image(tmp_path / "rot.jpg"))


def test_gray_jpeg_reduced_matches_and_cmyk_or_png_keep_full_decode(tmp_path):
    gray = _write_pair(tmp_path / "g", "g", 384, 512, mode="L")
    assert reduced_decode_applies(*read_header(gray[0])[2:])
    reduced = load_image_reduced(gray[0], 4)
    assert (reduced[..., 0] == reduced[..., 1]).all() and (reduced[..., 1] == reduced[..., 2]).all()
    _close_to_area_downscale(reduced, load_image(gray[0]))
    cmyk = _write_pair(tmp_path / "c", "c", 384, 512, mode="CMYK")
    png = _write_pair(tmp_path / "p", "p", 384, 512, ext=".png")
    for paths in (cmyk, png):
        assert not reduced_decode_applies(*read_header(paths[0])[2:])
        ds = _dataset(paths, 64, train=True, reduced=True, cfg=CROP)
        image, mask = ds.load_for_training(0)
        assert image.shape == (384, 512, 3) and mask.dtype == np.uint8


def test_eval_and_unaugmented_datasets_decode_full_size(tmp_path):
    _write_pair(tmp_path / "DIS-TR", "a", 384, 512)
    cfg = DataConfig(root=str(tmp_path), split_dir=str(tmp_path / "splits"))
    assert cfg.reduced_decode
    evaluation = build_dataset(cfg, "DIS-TR", 64, train=False)
    sample = evaluation[0]
    assert sample["orig_size"].tolist() == [384, 512]
    expected = EvalTransform(64)(load_image(evaluation.image_paths[0]))["image"]
    assert torch.equal(sample["image"], expected)
    cfg.augment.enabled = False
    unaugmented = build_dataset(cfg, "DIS-TR", 64, train=True)
    assert unaugmented[0]["orig_size"].tolist() == [384, 512]
    # load() (used by data.check_files) stays full size in training datasets too.
    cfg.augment.enabled = True
    train = build_dataset(cfg, "DIS-TR", 64, train=True)
    assert train.load(0)[0].shape == (384, 512, 3)
    assert train.load_for_training(0)[0].shape == (96, 128, 3)


def test_config_field_and_unknown_keys():
    assert from_dict(DataConfig, {"reduced_decode": False}).reduced_decode is False
    with pytest.raises(ConfigError, match="reduced_decoding"):
        from_dict(DataConfig, {"reduced_decoding": True})


def test_dataset_default_decode_agrees_with_the_data_config(tmp_path):
    # A SegmentationDataset built by hand must train like build_dataset's under the default
    # config: both decode this 512 x 384 JPEG at 1/4 for S = 64 (the factor worked out in
    # test_reduced_training_sample_matches_area_downscale); at full size it would be 384 x 512.
    _write_pair(tmp_path / "DIS-TR", "a", 384, 512)
    cfg = DataConfig(root=str(tmp_path), split_dir=str(tmp_path / "splits"))
    built = build_dataset(cfg, "DIS-TR", 64, train=True)
    by_hand = SegmentationDataset(built.image_paths, built.mask_paths, 64, train=True)
    default = inspect.signature(SegmentationDataset).parameters["reduced_decode"].default
    assert default == DataConfig().reduced_decode == by_hand.reduced_decode
    assert by_hand.load_for_training(0)[0].shape == built.load_for_training(0)[0].shape
    assert by_hand.load_for_training(0)[0].shape == (96, 128, 3)


def test_reduced_decode_refuses_other_factors_and_names_missing_or_unreadable_files(tmp_path):
    from pmgsam.data.io import DataError, DataNotFoundError

    with pytest.raises(ValueError, match="must be 2, 4 or 8, got 3"):
        load_image_reduced(tmp_path / "a.jpg", 3)
    with pytest.raises(DataNotFoundError, match=r"image file '.*a.jpg' does not exist"):
        load_image_reduced(tmp_path / "a.jpg", 2)
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(DataError, match=r"'.*empty.jpg' at 1/4 size: corrupt or unsupported"):
        load_image_reduced(tmp_path / "empty.jpg", 4)
