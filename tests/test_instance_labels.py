"""COCO instance ground truth built from a dataset's instance labels (COD10K JSON polygons or
palette PNGs, NC4K RGB PNGs); DIS5K has none."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from pmgsam.data import DataError, build_dataset, load_instance_map
from pmgsam.data.instance_labels import InstanceSource, coco_ground_truth
from pmgsam.data.io import MaskValueWarning
from pmgsam.data.synthetic import load_manifest

S = 64


def _decode(ann):
    rle = dict(ann["segmentation"], counts=ann["segmentation"]["counts"].encode())
    return mask_utils.decode(rle).astype(bool)


def _check_coco(gt, ds, counts, ids=None):
    ids = ids or list(range(1, len(ds) + 1))
    assert [im["id"] for im in gt["images"]] == ids
    assert [im["file_name"] for im in gt["images"]] == [p.name for p in ds.image_paths]
    per_image = {im["id"]: 0 for im in gt["images"]}
    for ann in gt["annotations"]:
        per_image[ann["image_id"]] += 1
        assert ann["category_id"] == 1 and ann["iscrowd"] == 0
        assert isinstance(ann["segmentation"]["counts"], str) and ann["area"] > 0
    assert [per_image[i] for i in ids] == [counts[n] for n in ds.names]
    coco = COCO()
    coco.dataset = json.loads(json.dumps(gt))
    coco.createIndex()
    assert len(coco.getAnnIds()) == sum(counts[n] for n in ds.names)


def test_coco_gt_cod10k_json(cod10k_root, data_config):
    ds = build_dataset(data_config("cod10k", cod10k_root), "Test", S, False)
    assert ds.instances.kind == "json"
    gt = ds.coco_gt()
    # The file's own image ids (COD10K's are not 1..N): COCOeval breaks score ties by id.
    listed = json.loads((cod10k_root / "Test" / "CAM_Instance_Test.json").read_text())["images"]
    file_ids = {Path(im["file_name"]).stem: im["id"] for im in listed}
    ids = [file_ids[n] for n in ds.names]
    _check_coco(gt, ds, load_manifest(cod10k_root)["splits"]["Test"], ids)
    by_image = {}
    for ann in gt["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(_decode(ann))
    for image_id, name in zip(ids, ds.names):
        label = load_instance_map(cod10k_root / "Test" / "GT_Instance" / f"{name}.png")
        for v, decoded in zip(range(1, label.max() + 1), by_image[image_id]):
            assert (decoded == (label == v)).all()  # the generator writes exact RLE


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
    # No instance here is 3 pixels thick anywhere: named, as resize artefacts would be.
    with pytest.warns(MaskValueWarning) as caught:
        gt = coco_ground_truth(paths, ["a", "b"], InstanceSource("png", tmp_path / "inst"), "t")
    said = [str(w.message) for w in caught]
    assert ["a.png': 3 of its 3" in said[0], "b.png': 1 of its 1" in said[1]] == [True, True]
    anns = gt["annotations"]
    # COCOeval marks unmatched GTs with id 0, so ids must start at 1, unique over the split.
    assert [a["id"] for a in anns] == [1, 2, 3, 4]
    assert [a["image_id"] for a in anns] == [1, 1, 1, 2]
    first = sorted(anns[:3], key=lambda a: a["area"])
    assert [a["area"] for a in first] == [1.0, 4.0, 5.0]  # pixels counted by hand above
    for ann, expected in zip(first, (blue, red, green)):
        assert (_decode(ann) == expected).all()
    assert anns[3]["area"] == 5.0 and (_decode(anns[3]) == green).all()


def test_coco_gt_json_keeps_empty_instances(tmp_path):
    # Three collinear points enclose nothing (pycocotools rasterises them to no pixel): such an
    # instance can only count as a missed GT, and pycocotools scoring the file counts it so, so
    # it is kept (area 0), ids consecutive: both COS paths give one AP. The file's image ids
    # (7, 3) are kept, not renumbered in split order (1, 2): COCOeval orders equal scores by
    # image id, so scoring the file directly must see the same ids.
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
    assert [(a["id"], a["image_id"]) for a in anns] == [(1, 7), (2, 7), (3, 3)]
    assert [im["id"] for im in gt["images"]] == [7, 3]
    assert anns[0]["area"] == 0.0 and not _decode(anns[0]).any()
    expected = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects([box], 4, 6)))
    for ann in anns[1:]:
        assert (_decode(ann) == expected.astype(bool)).all()
        assert ann["area"] == float(expected.sum()) > 0


def test_coco_gt_dis5k_raises(dis5k_root, data_config):
    ds = build_dataset(data_config("dis5k", dis5k_root), "DIS-VD", S, False)
    with pytest.raises(DataError, match="DIS5K has no instance labels"):
        ds.coco_gt()


def test_a_gray_alpha_instance_map_takes_its_labels_from_the_gray_channel(tmp_path):
    # LA: labels 0, 1, 2 in L, opaque alpha. Through RGB the labels would become v * 65793.
    la = np.dstack([np.array([[0, 1, 2]], np.uint8), np.full((1, 3), 255, np.uint8)])
    Image.fromarray(la, "LA").save(tmp_path / "inst.png")
    label = load_instance_map(tmp_path / "inst.png")
    assert label.dtype == np.int64 and label.tolist() == [[0, 1, 2]]


def test_an_instance_folder_s_subfolder_is_said_once(tmp_path):
    # The missing-map check and the annotations each listed the folder, from two lines: the
    # subfolder warning came twice.
    label = np.zeros((4, 6), np.uint8)
    label[1:3, 1:4] = 1
    (tmp_path / "inst" / "old").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "inst" / "a.png"), label)
    paths = _coco_images(tmp_path / "img", ["a"])
    with pytest.warns(UserWarning) as caught:
        gt = coco_ground_truth(paths, ["a"], InstanceSource("png", tmp_path / "inst"), "t")
    said = [str(w.message) for w in caught if "subfolder" in str(w.message)]
    assert len(said) == 1 and "old" in said[0]
    assert [a["area"] for a in gt["annotations"]] == [6.0]
