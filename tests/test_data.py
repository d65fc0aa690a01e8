"""Tests for pmgsam.data: loaders, splits, COCO ground truth, file formats and bad inputs
(the transforms: tests/test_transforms.py)."""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from torch.utils.data import DataLoader

from pmgsam.data import (
    DataConfig,
    DataError,
    available_splits,
    build_dataset,
    generate,
    load_image,
    load_instance_map,
    load_mask,
    resized_hw,
    train_val_split_names,
    unpad_and_resize,
)
from pmgsam.data.datasets import SegmentationDataset
from pmgsam.data.instance_labels import InstanceSource, coco_ground_truth
from pmgsam.data.io import MaskValueWarning
from pmgsam.data.splits import carve
from pmgsam.data.synthetic import load_manifest, main
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


# ----------------------------------------------------------------------------------------- splits


def _split_files(cfg):
    return sorted(Path(cfg.split_dir).glob("*.json"))


def test_splits_deterministic_saved_and_reused(nc4k_root, data_config, tmp_path):
    cfg = data_config("nc4k", nc4k_root)
    train = build_dataset(cfg, "train", S, False).names
    test = build_dataset(cfg, "test", S, False).names
    assert len(test) == 2 and len(train) == 8 and not set(train) & set(test)
    files = _split_files(cfg)
    assert len(files) == 1 and json.loads(files[0].read_text())["parts"]["test"] == test
    # Same seed, other folder: same split; other seed: a new file.
    other = data_config("nc4k", nc4k_root, split_dir=str(tmp_path / "other"))
    assert build_dataset(other, "test", S, False).names == test
    reseeded = data_config("nc4k", nc4k_root, split_seed=7)
    build_dataset(reseeded, "test", S, False)
    assert len(_split_files(cfg)) == 2
    # A saved file wins over redrawing: edit it and the dataset follows.
    payload = json.loads(files[0].read_text())
    moved = payload["parts"]["train"].pop(0)
    payload["parts"]["test"].append(moved)
    files[0].write_text(json.dumps(payload))
    assert moved in build_dataset(cfg, "test", S, False).names
    # Carving train into train/val: disjoint, covers train, 20 % held out.
    t_name, v_name = train_val_split_names(cfg)
    assert (t_name, v_name) == ("train:train", "train:val")
    tr = build_dataset(cfg, t_name, S, True).names
    va = build_dataset(cfg, v_name, S, False).names
    assert sorted(tr + va) == sorted(payload["parts"]["train"]) and len(va) == 1


def test_split_file_with_missing_stem_is_an_error(nc4k_root, data_config):
    cfg = data_config("nc4k", nc4k_root)
    build_dataset(cfg, "train", S, False)
    path = _split_files(cfg)[0]
    payload = json.loads(path.read_text())
    payload["parts"]["train"].append("ghost_image")
    path.write_text(json.dumps(payload))
    with pytest.raises(DataError, match=r"ghost_image") as info:
        build_dataset(cfg, "train", S, False)
    assert str(path) in str(info.value)
    path.write_text("{not json")
    with pytest.raises(DataError, match=r"unreadable"):
        build_dataset(cfg, "test", S, False)


def test_dis5k_val_carved_from_train(dis5k_root, data_config):
    cfg = data_config("dis5k", dis5k_root, val_split=None)
    t_name, v_name = train_val_split_names(cfg)
    assert (t_name, v_name) == ("DIS-TR:train", "DIS-TR:val")
    tr, va = build_dataset(cfg, t_name, S, True), build_dataset(cfg, v_name, S, False)
    assert len(va) == 2 and len(tr) == 6 and not set(tr.names) & set(va.names)
    assert build_dataset(cfg, v_name, S, False).names == va.names


def test_carve_keeps_both_parts_non_empty_and_ignores_input_order():
    stems = [f"s{i}" for i in range(10)]
    # round(0.01 * 10) = 0 would hold out nothing and round(0.99 * 10) = 10 would keep
    # nothing: each part keeps at least one stem.
    kept, held = carve(stems, 0.01, 0)
    assert len(kept) == 9 and len(held) == 1
    kept, held = carve(stems, 0.99, 0)
    assert len(kept) == 1 and len(held) == 9
    # The same stems listed in another order, some twice, are the same split.
    assert carve(stems[::-1] + stems[:3], 0.3, 5) == carve(stems, 0.3, 5)


def test_split_file_per_fraction_and_parts_must_be_disjoint(nc4k_root, data_config):
    cfg = data_config("nc4k", nc4k_root)
    assert len(build_dataset(cfg, "test", S, False)) == 2  # round(0.2 * 10)
    # Another fraction is another split, not the saved 20 % one: round(0.3 * 10) = 3.
    other = data_config("nc4k", nc4k_root, test_fraction=0.3)
    assert len(build_dataset(other, "test", S, False)) == 3
    (path,) = [p for p in _split_files(cfg) if "test0.2__" in p.name]
    payload = json.loads(path.read_text())
    payload["parts"]["test"].append(payload["parts"]["train"][0])
    path.write_text(json.dumps(payload))
    with pytest.raises(DataError, match="in both 'train' and 'test'"):
        build_dataset(cfg, "train", S, False)


# -------------------------------------------------------------------------------------------- COCO


def _decode(ann):
    rle = dict(ann["segmentation"], counts=ann["segmentation"]["counts"].encode())
    return mask_utils.decode(rle).astype(bool)


def _check_coco(gt, ds, counts):
    assert [im["id"] for im in gt["images"]] == list(range(1, len(ds) + 1))
    assert [im["file_name"] for im in gt["images"]] == [p.name for p in ds.image_paths]
    per_image = {im["id"]: 0 for im in gt["images"]}
    for ann in gt["annotations"]:
        per_image[ann["image_id"]] += 1
        assert ann["category_id"] == 1 and ann["iscrowd"] == 0
        assert isinstance(ann["segmentation"]["counts"], str) and ann["area"] > 0
    assert [per_image[i + 1] for i in range(len(ds))] == [counts[n] for n in ds.names]
    coco = COCO()
    coco.dataset = json.loads(json.dumps(gt))
    coco.createIndex()
    assert len(coco.getAnnIds()) == sum(counts[n] for n in ds.names)


def _iou(a, b):
    return (a & b).sum() / max((a | b).sum(), 1)


def test_coco_gt_cod10k_json(cod10k_root, data_config):
    ds = build_dataset(data_config("cod10k", cod10k_root), "Test", S, False)
    assert ds.instances.kind == "json"
    gt = ds.coco_gt()
    _check_coco(gt, ds, load_manifest(cod10k_root)["splits"]["Test"])
    by_image = {}
    for ann in gt["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(_decode(ann))
    for i, name in enumerate(ds.names):
        label = load_instance_map(cod10k_root / "Test" / "GT_Instance" / f"{name}.png")
        for v, decoded in zip(range(1, label.max() + 1), by_image[i + 1]):
            assert _iou(decoded, label == v) > 0.8  # polygons rasterise slightly differently


def test_coco_gt_cod10k_fallbacks(cod10k_root, data_config, tmp_path):
    root = tmp_path / "COD10K-v3"
    shutil.copytree(cod10k_root, root)
    (root / "annotations").mkdir()
    shutil.move(root / "Test" / "CAM_Instance_Test.json", root / "annotations")
    ds = build_dataset(data_config("cod10k", root), "Test", S, False)
    assert ds.instances.path == root / "annotations" / "CAM_Instance_Test.json"
    (root / "annotations" / "CAM_Instance_Test.json").unlink()
    ds = build_dataset(data_config("cod10k", root), "Test", S, False)
    assert ds.instances.kind == "png"
    _check_coco(ds.coco_gt(), ds, load_manifest(root)["splits"]["Test"])
    shutil.rmtree(root / "Test" / "GT_Instance")
    with pytest.raises(DataError, match=r"CAM_Instance_Test\.json"):
        build_dataset(data_config("cod10k", root), "Test", S, False).coco_gt()


def test_coco_gt_nc4k_exact(nc4k_root, data_config):
    ds = build_dataset(data_config("nc4k", nc4k_root), "all", S, False)
    gt = ds.coco_gt()
    _check_coco(gt, ds, load_manifest(nc4k_root)["splits"]["all"])
    masks = {}
    for ann in gt["annotations"]:
        masks.setdefault(ann["image_id"], []).append(_decode(ann))
    for i, name in enumerate(ds.names):
        rgb = cv2.imread(str(nc4k_root / "Instance" / f"{name}.png"))
        colours = [c for c in np.unique(rgb.reshape(-1, 3), axis=0) if c.any()]
        expected = sorted(((rgb == c).all(-1) for c in colours), key=lambda m: m.sum())
        got = sorted(masks.get(i + 1, []), key=lambda m: m.sum())
        assert len(got) == len(expected) and all((g == e).all() for g, e in zip(got, expected))


def _coco_images(folder, names, hw=(4, 6)):
    folder.mkdir()
    paths = [folder / f"{n}.jpg" for n in names]
    for path in paths:
        cv2.imwrite(str(path), np.full((*hw, 3), 90, np.uint8))
    return paths


def test_coco_gt_from_rgb_instance_maps_hand_built(tmp_path):
    # Pure red, green and blue have equal channel sums: only packing R, G, B into one integer
    # keeps them three instances. The shapes are not rectangles, so a box area would differ.
    red, green, blue = np.zeros((3, 4, 6), bool)
    red[0, 0:3] = True
    red[1, 0] = True  # an L of 4 pixels in a 2 x 3 box
    green[2:4, 4:6] = True
    green[3, 3] = True  # 5 pixels in a 2 x 3 box
    blue[3, 0] = True  # 1 pixel
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[red], rgb[green], rgb[blue] = (255, 0, 0), (0, 255, 0), (0, 0, 255)
    (tmp_path / "inst").mkdir()
    Image.fromarray(rgb, "RGB").save(tmp_path / "inst" / "a.png")
    Image.fromarray(np.where(green[..., None], rgb, 0).astype(np.uint8)).save(
        tmp_path / "inst" / "b.png"
    )
    paths = _coco_images(tmp_path / "img", ["a", "b"])
    gt = coco_ground_truth(paths, ["a", "b"], InstanceSource("png", tmp_path / "inst"), "t")
    anns = gt["annotations"]
    # COCOeval marks unmatched GTs with id 0, so ids must start at 1, unique over the split.
    assert [a["id"] for a in anns] == [1, 2, 3, 4]
    assert [a["image_id"] for a in anns] == [1, 1, 1, 2]
    first = sorted(anns[:3], key=lambda a: a["area"])
    assert [a["area"] for a in first] == [1.0, 4.0, 5.0]  # pixels counted by hand above
    for ann, expected in zip(first, (blue, red, green)):
        assert (_decode(ann) == expected).all()
    assert anns[3]["area"] == 5.0 and (_decode(anns[3]) == green).all()


def test_coco_gt_json_drops_empty_instances(tmp_path):
    # Three collinear points enclose nothing (pycocotools rasterises them to no pixel): such an
    # instance could only count as a missed GT, so it is dropped and the ids stay consecutive.
    # The file's image ids (7, 3) are not the split's (1, 2): the file's own ids are followed.
    box = [1.0, 1.0, 4.0, 1.0, 4.0, 3.0, 1.0, 3.0]
    coco = {
        "images": [
            {"id": 7, "file_name": "a.jpg", "height": 4, "width": 6},
            {"id": 3, "file_name": "b.jpg", "height": 4, "width": 6},
        ],
        "annotations": [
            {"id": 10, "image_id": 7, "segmentation": [[0.0, 0.0, 2.0, 0.0, 5.0, 0.0]]},
            {"id": 11, "image_id": 7, "segmentation": [box]},
            {"id": 12, "image_id": 3, "segmentation": [box]},
        ],
    }
    (tmp_path / "gt.json").write_text(json.dumps(coco))
    paths = _coco_images(tmp_path / "img", ["a", "b"])
    gt = coco_ground_truth(paths, ["a", "b"], InstanceSource("json", tmp_path / "gt.json"), "t")
    anns = gt["annotations"]
    assert [(a["id"], a["image_id"]) for a in anns] == [(1, 1), (2, 2)]
    expected = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects([box], 4, 6)))
    for ann in anns:
        assert (_decode(ann) == expected.astype(bool)).all()
        assert ann["area"] == float(expected.sum()) > 0


def test_coco_gt_dis5k_raises(dis5k_root, data_config):
    ds = build_dataset(data_config("dis5k", dis5k_root), "DIS-VD", S, False)
    with pytest.raises(DataError, match="DIS5K has no instance labels"):
        ds.coco_gt()


# ------------------------------------------------------------------------------ file formats


def test_image_and_mask_modes(tmp_path):
    gray = (np.arange(40 * 30).reshape(30, 40) % 256).astype(np.uint8)
    Image.fromarray(gray, "L").save(tmp_path / "l.png")
    assert (load_image(tmp_path / "l.png") == gray[..., None]).all()
    rgba = np.dstack([gray, gray, gray, np.full_like(gray, 7)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    assert load_image(tmp_path / "rgba.png").shape == (30, 40, 3)
    pal = Image.fromarray((gray > 100).astype(np.uint8), "P")
    pal.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    pal.save(tmp_path / "p.png")
    assert set(np.unique(load_mask(tmp_path / "p.png"))) == {0, 255}
    assert load_image(tmp_path / "p.png").shape == (30, 40, 3)
    # 16-bit: 30000/65535 is 117/255 -> background; clipping to 255 would make it foreground.
    sixteen = np.full((30, 40), 30000, np.uint16)
    sixteen[:, 20:] = 65535
    cv2.imwrite(str(tmp_path / "m16.png"), sixteen)
    m = load_mask(tmp_path / "m16.png")
    assert m.dtype == np.uint8 and m[0, 0] == 117 and m[0, 39] == 255
    assert load_image(tmp_path / "m16.png")[0, 0].tolist() == [117, 117, 117]
    Image.fromarray(gray > 100).save(tmp_path / "one.png")  # mode "1"
    assert set(np.unique(load_mask(tmp_path / "one.png"))) == {0, 255}


def test_colour_images_keep_their_colours_and_drop_alpha(tmp_path):
    # RGBA: the colour channels as stored whatever the alpha (no compositing, no gray).
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[..., :3] = [[[250, 10, 0], [0, 200, 30], [5, 6, 7]]] * 2
    rgba[..., 3] = [[0, 7, 255]] * 2
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    assert (load_image(tmp_path / "rgba.png") == rgba[..., :3]).all()
    # Palette: each index reads as its palette colour.
    pal = Image.fromarray(np.array([[0, 1, 2]], np.uint8), "P")
    pal.putpalette([0, 0, 255, 255, 0, 0, 0, 128, 0] + [0] * 759)
    pal.save(tmp_path / "pal.png")
    assert load_image(tmp_path / "pal.png").tolist() == [[[0, 0, 255], [255, 0, 0], [0, 128, 0]]]


def test_sixteen_bit_mask_is_rounded_to_v_over_257(tmp_path):
    # 255/65535 is 1/257. 33024/257 = 128.498 -> 128 (background under > 128) but 33025/257 =
    # 128.502 -> 129; 65280/257 = 254.008 -> 254; 128/257 = 0.498 -> 0. A shift by 8 bits
    # would read 129, 129, 255, 0: the first pixel would flip to foreground.
    values = np.array([[33024, 33025, 65280, 128]], np.uint16)
    cv2.imwrite(str(tmp_path / "m16.png"), values)
    assert load_mask(tmp_path / "m16.png").tolist() == [[128, 129, 254, 0]]


def test_float_tiff_probabilities_are_rounded_and_1_means_255(tmp_path):
    # A map whose maximum is exactly 1.0 still holds probabilities: 1.0 * 255 = 255,
    # 0.25 * 255 = 63.75 -> 64 and 0.5 * 255 = 127.5 -> 128 (rounded, not truncated).
    probs = np.array([[0.0, 0.25, 0.5, 1.0]], np.float32)
    Image.fromarray(probs, "F").save(tmp_path / "p.tif")
    assert Image.open(tmp_path / "p.tif").mode == "F"  # the file really is float
    m = load_mask(tmp_path / "p.tif", "prediction", labels_01=False)
    assert m.tolist() == [[0, 64, 128, 255]]


def test_float_tiff_overshooting_1_after_resampling_is_still_probabilities(tmp_path):
    # Bicubic resampling of a probability map gives maxima like 1.0004. Read as 0-255, every
    # pixel would land on 0 or 1 out of 255; as probabilities they clip at 255 (0.5 -> 128).
    # A map whose maximum is clearly above that stays 0-255 (100.4 -> 100).
    Image.fromarray(np.array([[0.0, 0.5, 1.0004]], np.float32), "F").save(tmp_path / "p.tif")
    Image.fromarray(np.array([[0.0, 100.4, 255.0]], np.float32), "F").save(tmp_path / "q.tif")
    assert load_mask(tmp_path / "p.tif", "prediction", labels_01=False).tolist() == [[0, 128, 255]]
    assert load_mask(tmp_path / "q.tif", "prediction", labels_01=False).tolist() == [[0, 100, 255]]


def test_colour_and_transparency_masks_use_the_shape_channel(tmp_path):
    shape = np.zeros((6, 8), np.uint8)
    shape[1:4, 2:6] = 200
    # Green on black, fully opaque: the brightest channel is green, so the shape reads 200.
    # The red channel alone would be empty; counting the opaque alpha would make all 255.
    rgba = np.zeros((6, 8, 4), np.uint8)
    rgba[..., 1] = shape
    rgba[..., 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "green.png")
    assert (load_mask(tmp_path / "green.png") == shape).all()
    # A palette PNG whose colours are all black with index 0 transparent: the shape is only in
    # the transparency, so read as plain RGB it would be empty.
    pal = Image.fromarray((shape > 0).astype(np.uint8), "P")
    pal.putpalette([0] * 768)
    pal.save(tmp_path / "pal.png", transparency=0)
    assert (load_mask(tmp_path / "pal.png") == np.where(shape > 0, 255, 0)).all()


def test_only_single_level_masks_up_to_128_are_label_masks(tmp_path):
    # 0/128 (a VOC palette's dark red stored as gray) is a label mask: 128 reads as 255.
    cv2.imwrite(str(tmp_path / "voc.png"), np.array([[0, 128, 128]], np.uint8))
    with pytest.warns(MaskValueWarning, match="0/128 labels"):
        assert load_mask(tmp_path / "voc.png").tolist() == [[0, 255, 255]]
    # Two non-zero levels are a (faint) soft map, read as stored and silently.
    cv2.imwrite(str(tmp_path / "soft.png"), np.array([[0, 50, 100, 100]], np.uint8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_mask(tmp_path / "soft.png").tolist() == [[0, 50, 100, 100]]


def test_training_mask_foreground_is_strictly_above_128(tmp_path):
    # PySODMetrics' rule, the same as evaluation's: 128 is background, 129 foreground.
    cv2.imwrite(str(tmp_path / "i.png"), np.full((1, 4, 3), 90, np.uint8))
    cv2.imwrite(str(tmp_path / "m.png"), np.array([[0, 128, 129, 255]], np.uint8))
    _, mask = SegmentationDataset([tmp_path / "i.png"], [tmp_path / "m.png"], 32).load(0)
    assert mask.tolist() == [[0, 0, 1, 1]]


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
    with pytest.raises(DataError, match=r"s0\.jpg"):
        ds.verify()


def test_missing_and_empty_folders(tmp_path, data_config):
    with pytest.raises(DataError, match=r"nowhere"):
        build_dataset(data_config("nc4k", tmp_path / "nowhere"), "all", S, False)
    (tmp_path / "NC4K" / "Imgs").mkdir(parents=True)
    (tmp_path / "NC4K" / "GT").mkdir()
    with pytest.raises(DataError, match=r"Imgs.*contains no images"):
        build_dataset(data_config("nc4k", tmp_path / "NC4K"), "all", S, False)
    with pytest.raises(DataError, match=r"DIS-TR.im.*does not exist"):
        build_dataset(data_config("dis5k", tmp_path), "DIS-TR", S, False)


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
    with pytest.raises(ConfigError, match=r"crop_prob"):
        from_dict(DataConfig, {"augment": {"crop_prob": 1.5}})
    with pytest.raises(ConfigError, match=r"dataset"):
        from_dict(DataConfig, {"dataset": "coco"})
    cfg = from_dict(DataConfig, {"val_split": None, "augment": {"hue": 0.1}})
    assert cfg.val_split is None and cfg.augment.hue == 0.1


# ---------------------------------------------------------------------------------- generation


def _digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(root).as_posix().encode() + p.read_bytes())
    return h.hexdigest()


def test_synthetic_is_deterministic_and_guarded(tmp_path, capsys):
    a = generate("cod10k", tmp_path / "a", num=3, seed=5, size=(64, 48))
    b = generate("cod10k", tmp_path / "b", num=3, seed=5, size=(64, 48))
    c = generate("cod10k", tmp_path / "c", num=3, seed=6, size=(64, 48))
    assert _digest(a) == _digest(b) != _digest(c)
    counts = load_manifest(a)["splits"]["Train"]
    assert len(counts) == 3 and all(1 <= n <= 3 for n in counts.values())
    assert generate("cod10k", tmp_path / "a", num=3, seed=5, size=(64, 48)) == a  # reused
    with pytest.raises(DataError, match="overwrite"):
        generate("cod10k", tmp_path / "a", num=4, seed=5, size=(64, 48))
    main(["--layout", "dis5k", "--out", str(tmp_path / "cli"), "--num", "4", "--no-progress"])
    assert "DIS-TR: 4" in capsys.readouterr().out
    assert len(list((tmp_path / "cli" / "DIS5K" / "DIS-TE3" / "gt").glob("*.png"))) == 2
