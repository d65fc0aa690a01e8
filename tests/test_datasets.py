"""Dataset loaders for each layout (DIS5K, COD10K, NC4K, folder pairs): samples, image-mask
pairing, and bad dataset folders or configs (splits: tests/test_splits.py)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from pmgsam.data import (
    DataConfig,
    DataError,
    available_splits,
    build_dataset,
    resized_hw,
    unpad_and_resize,
)
from pmgsam.data.datasets import SegmentationDataset, check_files
from pmgsam.data.synthetic import load_manifest
from pmgsam.utils.config import ConfigError, from_dict

S = 64


def _natural(names):
    return sorted(names, key=lambda s: [int(t) if t.isdigit() else t for t in _split_digits(s)])


def _split_digits(s):
    import re

    return re.split(r"(\d+)", s)


def _check_sample(sample, image_path):
    h, w = Image.open(image_path).size[::-1]
    assert sample["image"].shape == (3, S, S) and sample["image"].dtype == torch.float32
    assert sample["mask"].shape == (1, S, S) and sample["mask"].dtype == torch.float32
    assert 0.0 <= sample["image"].min() and sample["image"].max() <= 1.0
    assert set(torch.unique(sample["mask"]).tolist()) <= {0.0, 1.0}
    assert sample["orig_size"].dtype == torch.int64 and sample["orig_size"].tolist() == [h, w]
    rh, rw = resized_hw(h, w, S)
    assert max(rh, rw) == S
    # Padding is bottom/right and zero.
    assert (
        sample["image"][:, rh:, :].abs().sum() == 0 and sample["image"][:, :, rw:].abs().sum() == 0
    )
    assert sample["mask"][:, rh:, :].sum() == 0 and sample["mask"][:, :, rw:].sum() == 0
    assert sample["image"][:, :rh, :rw].mean() > 0.05


# ---------------------------------------------------------------------------------------- loaders


def test_dis5k_loader(dis5k_root, data_config):
    cfg = data_config("dis5k", dis5k_root)
    manifest = load_manifest(dis5k_root)["splits"]
    assert available_splits(cfg) == list(manifest)
    for split, stems in manifest.items():
        ds = build_dataset(cfg, split, S, train=False)
        assert len(ds) == len(stems) and ds.names == _natural(stems)
        for name, img, msk in zip(ds.names, ds.image_paths, ds.mask_paths):
            assert img.stem == msk.stem == name and img.parent.name == "im"
    ds = build_dataset(cfg, "DIS-TR", S, train=False)
    for i in (0, len(ds) - 1):
        sample = ds[i]
        assert sample["name"] == ds.names[i]
        _check_sample(sample, ds.image_paths[i])
        gt = cv2.imread(str(ds.mask_paths[i]), cv2.IMREAD_GRAYSCALE) > 127
        back = unpad_and_resize(sample["mask"], sample["orig_size"], S)[0] > 0.5
        assert back.shape == gt.shape and (back.numpy() == gt).mean() > 0.9
    batch = next(iter(DataLoader(ds, batch_size=3, shuffle=False)))
    assert batch["image"].shape == (3, 3, S, S) and batch["orig_size"].shape == (3, 2)
    assert batch["name"] == ds.names[:3]


def test_cod10k_loader_cam_only(cod10k_root, data_config):
    manifest = load_manifest(cod10k_root)["splits"]
    cfg = data_config("cod10k", cod10k_root)
    for split in ("Train", "Test"):
        ds = build_dataset(cfg, split, S, train=False)
        assert ds.names == _natural(manifest[split])
        assert all("-CAM-" in n for n in ds.names)
        _check_sample(ds[0], ds.image_paths[0])
    # NonCAM images have no GT in the official release: without the filter they are an error.
    with pytest.raises(DataError, match=r"COD10K-NonCAM-.*\.jpg.*cam_only"):
        build_dataset(data_config("cod10k", cod10k_root, cam_only=False), "Train", S, False)


def test_cod10k_without_cam_only_says_no_more_than_a_missing_folder(tmp_path, data_config):
    (tmp_path / "Train" / "GT_Object").mkdir(parents=True)
    (tmp_path / "Test").mkdir()
    cfg = data_config("cod10k", tmp_path, cam_only=False)
    # The NonCAM hint is for images without masks only; here the folder is what is missing.
    with pytest.raises(
        DataError, match=r"^image folder '.*Train/Image' does not exist \(data.root"
    ) as err:
        build_dataset(cfg, "Train", S, False)
    assert "data.cam_only" not in str(err.value)


def test_nc4k_and_train_transform_sample(nc4k_root, data_config):
    cfg = data_config("nc4k", nc4k_root)
    full = build_dataset(cfg, "all", S, train=False)
    assert full.names == [str(i) for i in range(1, 11)]
    train = build_dataset(cfg, "train", S, train=True)
    torch.manual_seed(0)
    sample = train[0]
    assert sample["image"].shape == (3, S, S) and set(sample["mask"].unique().tolist()) <= {0, 1}
    assert sample["name"] == train.names[0]


def test_folder_dataset_and_subfolder_splits(tmp_path, data_config):
    rng = np.random.default_rng(0)
    for sub in ("", "extra/"):
        for i in range(5):
            (tmp_path / f"{sub}images").mkdir(parents=True, exist_ok=True)
            (tmp_path / f"{sub}masks").mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(tmp_path / f"{sub}images/im{i}.png"), rng.integers(0, 255, (20, 30, 3)))
            cv2.imwrite(str(tmp_path / f"{sub}masks/im{i}.png"), np.full((20, 30), 255, np.uint8))
    cfg = data_config("folder", tmp_path, split_dir=str(tmp_path / "sp"))
    assert available_splits(cfg) == ["all", "extra", "train", "test"]
    assert len(build_dataset(cfg, "all", S, False)) == 5
    extra = build_dataset(cfg, "extra", S, False)
    assert extra.image_paths[0].parent == tmp_path / "extra" / "images"
    test = build_dataset(cfg, "test", S, False)
    train = build_dataset(cfg, "train", S, False)
    assert len(test) == 1 and len(train) == 4 and not set(test.names) & set(train.names)
    assert train[0]["mask"].sum() > 0


def test_images_pair_with_masks_by_stem_in_natural_order(tmp_path, data_config):
    # Natural order (2 before 10) differs from text order ("im10" < "im2"); one pair has
    # upper-case extensions, and hidden files (a macOS ._ resource fork, .DS_Store) are skipped.
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    rows = {"im10": 0, "im2": 1, "im3": 2, "im1": 3}  # each stem's mask marks its own row
    for stem, row in rows.items():
        mask = np.zeros((6, 8), np.uint8)
        mask[row] = 255
        upper = stem == "im3"
        image = Image.fromarray(np.full((6, 8, 3), 90, np.uint8))
        image.save(tmp_path / "images" / (stem + (".JPG" if upper else ".png")), format="JPEG")
        Image.fromarray(mask).save(tmp_path / "masks" / (stem + (".PNG" if upper else ".png")))
    (tmp_path / "images" / "._im2.png").write_bytes(b"\x00\x05\x16\x07")
    (tmp_path / "images" / ".DS_Store").write_bytes(b"\x00")
    ds = build_dataset(data_config("folder", tmp_path), "all", S, False)
    assert ds.names == ["im1", "im2", "im3", "im10"]
    for i, name in enumerate(ds.names):
        assert ds.image_paths[i].stem == ds.mask_paths[i].stem == name
        expected = np.zeros((6, 8), np.uint8)
        expected[rows[name]] = 1
        assert (ds.load(i)[1] == expected).all(), name
    # Built directly, a dataset names its samples by image stem (prediction files use them).
    direct = SegmentationDataset(ds.image_paths, ds.mask_paths, S)
    assert direct.names == ds.names and direct[3]["name"] == "im10"


def test_transposed_mask_is_a_size_mismatch(tmp_path):
    # A 6 x 8 (H x W) image with an 8 x 6 mask: same pixel count, different shape.
    cv2.imwrite(str(tmp_path / "i.png"), np.full((6, 8, 3), 90, np.uint8))
    cv2.imwrite(str(tmp_path / "m.png"), np.zeros((8, 6), np.uint8))
    ds = SegmentationDataset([tmp_path / "i.png"], [tmp_path / "m.png"], S)
    with pytest.raises(DataError, match=r"is 6x8 \(WxH\) but its image .* is 8x6"):
        ds.load(0)


def _folder_dataset(root, n=3, size=(24, 32)):
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        cv2.imwrite(str(root / "images" / f"s{i}.jpg"), np.full((*size, 3), 90, np.uint8))
        cv2.imwrite(str(root / "masks" / f"s{i}.png"), np.zeros(size, np.uint8))
    return root


def test_empty_mask_is_valid(tmp_path, data_config):
    ds = build_dataset(data_config("folder", _folder_dataset(tmp_path / "d")), "all", S, False)
    sample = ds[0]
    assert sample["mask"].sum() == 0 and sample["image"].max() > 0


# ---------------------------------------------------------------------------------- bad inputs


def test_missing_gt_and_orphan_gt(tmp_path, data_config):
    root = _folder_dataset(tmp_path / "d")
    (root / "masks" / "s1.png").unlink()
    with pytest.raises(DataError, match=r"have no mask.*s1\.jpg"):
        build_dataset(data_config("folder", root), "all", S, False)
    cv2.imwrite(str(root / "masks" / "s1.png"), np.zeros((24, 32), np.uint8))
    cv2.imwrite(str(root / "masks" / "lonely.png"), np.zeros((24, 32), np.uint8))
    with pytest.raises(DataError, match=r"have no image.*lonely\.png"):
        build_dataset(data_config("folder", root), "all", S, False)


def test_corrupt_image_and_size_mismatch(tmp_path, data_config):
    root = _folder_dataset(tmp_path / "d")
    (root / "images" / "s0.jpg").write_bytes(b"definitely not a jpeg")
    data = (root / "images" / "s1.jpg").read_bytes()
    (root / "images" / "s1.jpg").write_bytes(data[: len(data) // 2])  # truncated
    cv2.imwrite(str(root / "masks" / "s2.png"), np.zeros((10, 10), np.uint8))
    ds = build_dataset(data_config("folder", root), "all", S, False)
    with pytest.raises(DataError, match=r"s0\.jpg"):
        ds[0]
    with pytest.raises(DataError, match=r"s1\.jpg"):
        ds[1]
    with pytest.raises(DataError, match=r"s2\.png.*10x10"):
        ds[2]
    with pytest.raises(DataError, match=r"s0\.jpg(.|\n)*s1\.jpg(.|\n)*s2\.png"):
        check_files([ds], workers=1)  # every bad file in one error


def test_missing_and_empty_folders(tmp_path, data_config):
    with pytest.raises(DataError, match=r"nowhere"):
        build_dataset(data_config("nc4k", tmp_path / "nowhere"), "all", S, False)
    (tmp_path / "NC4K" / "Imgs").mkdir(parents=True)
    (tmp_path / "NC4K" / "GT").mkdir()
    with pytest.raises(DataError, match=r"Imgs.*contains no images"):
        build_dataset(data_config("nc4k", tmp_path / "NC4K"), "all", S, False)
    with pytest.raises(DataError, match=r"DIS-TR.im.*does not exist"):
        build_dataset(data_config("dis5k", tmp_path), "DIS-TR", S, False)


def test_a_split_file_with_an_empty_part_is_refused_not_an_empty_dataset(tmp_path, data_config):
    cfg = data_config("folder", _folder_dataset(tmp_path / "d"), split_dir=str(tmp_path / "sp"))
    assert len(build_dataset(cfg, "all:val", S, False)) == 1  # 3 images: one held out
    (split_file,) = (tmp_path / "sp").glob("*.json")
    payload = json.loads(split_file.read_text())
    payload["parts"] = {"train": ["s0", "s1", "s2"], "val": []}  # edited by hand
    split_file.write_text(json.dumps(payload))
    words = rf"^split 'all:val' of folder at '{tmp_path / 'd'}' has no images$"
    with pytest.raises(DataError, match=words):
        build_dataset(cfg, "all:val", S, False)
    assert len(build_dataset(cfg, "all:train", S, False)) == 3


def test_datasets_must_pair_every_image_and_check_files_every_reader(tmp_path) -> None:
    root = _folder_dataset(tmp_path / "d", n=2)
    images, masks = sorted((root / "images").iterdir()), sorted((root / "masks").iterdir())
    with pytest.raises(DataError, match=r"^2 images but 1 masks$"):
        SegmentationDataset(images, masks[:1], S)
    ds = SegmentationDataset(images, masks, S)
    with pytest.raises(ValueError, match=r"^2 instance readers for 1 datasets$"):
        check_files([ds], workers=1, instance_labels=[None, None])


def test_duplicate_stems_rejected(tmp_path, data_config):
    root = _folder_dataset(tmp_path / "d")
    cv2.imwrite(str(root / "images" / "s0.png"), np.zeros((24, 32, 3), np.uint8))
    with pytest.raises(DataError, match=r"s0\.(jpg|png).*s0\.(jpg|png)"):
        build_dataset(data_config("folder", root), "all", S, False)


def test_unknown_split_lists_valid_ones(dis5k_root, data_config):
    cfg = data_config("dis5k", dis5k_root)
    with pytest.raises(DataError, match=r"'DIS-TE9'.*DIS-TE4"):
        build_dataset(cfg, "DIS-TE9", S, False)
    with pytest.raises(DataError, match=r"':train' or ':val'|<split>:val"):
        build_dataset(cfg, "DIS-TR:foo", S, False)


def test_config_validation():
    with pytest.raises(ConfigError, match=r"augment\.flip"):
        from_dict(DataConfig, {"augment": {"flip": 0.5}})
    with pytest.raises(ConfigError, match=r"train_split.*DIS-TR.*nc4k"):
        from_dict(DataConfig, {"dataset": "nc4k", "test_splits": ["test"], "val_split": None})
    with pytest.raises(ConfigError, match=r"crop_prob"):  # checked where a run trains
        from_dict(DataConfig, {"augment": {"crop_prob": 1.5}}).augment.validate_training()
    with pytest.raises(ConfigError, match=r"dataset"):
        from_dict(DataConfig, {"dataset": "coco"})
    cfg = from_dict(DataConfig, {"val_split": None, "augment": {"hue": 0.1}})
    assert cfg.val_split is None and cfg.augment.hue == 0.1
