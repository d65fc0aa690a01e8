"""SAM baselines: GT-box and automatic modes write the maps, COCO instances and run.json entries.

SAM ViT-B (random, seeded weights) runs its image encoder at 1024x1024, about 15 s per image on
two CPU cores. The encoder is memoised on (input, weights) for this module, so an image is encoded
once however many tests prompt it; the cached output is the one a recomputation would give.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Dict, List

import cv2
import numpy as np
import pytest
import torch
import yaml
from pycocotools import mask as mask_utils
from segment_anything import SamAutomaticMaskGenerator, SamPredictor, build_sam_vit_b
from segment_anything.modeling import ImageEncoderViT

from pmgsam.data import build_dataset
from pmgsam.engine import baselines
from pmgsam.engine.baselines import AutoSettings, gt_box, load_sam, reduce_masks, run_baseline
from pmgsam.modeling.weights import CheckpointError
from pmgsam.utils.config import to_dict

TINY_AUTO = ["--points-per-side", "2", "--pred-iou-thresh", "0", "--stability-score-thresh", "0"]


@pytest.fixture(scope="module", autouse=True)
def memoised_encoder():
    original = ImageEncoderViT.forward
    cache: Dict[tuple, torch.Tensor] = {}

    def forward(self: ImageEncoderViT, x: torch.Tensor) -> torch.Tensor:
        if not hasattr(self, "_weights_digest"):
            digest = hashlib.sha1()
            for p in self.state_dict().values():
                digest.update(p.detach().cpu().numpy().tobytes())
            self._weights_digest = digest.hexdigest()
        key = (self._weights_digest, hashlib.sha1(x.detach().cpu().numpy().tobytes()).hexdigest())
        if key not in cache:
            cache[key] = original(self, x)
        return cache[key].clone()

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ImageEncoderViT, "forward", forward)
        yield cache


@pytest.fixture(scope="module")
def sam_file(tmp_path_factory: pytest.TempPathFactory):
    torch.manual_seed(0)
    sam = build_sam_vit_b().eval()
    path = tmp_path_factory.mktemp("sam") / "sam_vit_b_random.pth"
    torch.save(sam.state_dict(), path)
    return path, sam


def _config(tmp_path: Path, data_cfg: Any) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({"data": to_dict(data_cfg)}))
    return path


def _capture_generate(monkeypatch: pytest.MonkeyPatch) -> List[List[Dict[str, Any]]]:
    """Record what every SamAutomaticMaskGenerator.generate call returns."""
    calls: List[List[Dict[str, Any]]] = []
    original = SamAutomaticMaskGenerator.generate

    def generate(self: SamAutomaticMaskGenerator, image: np.ndarray) -> List[Dict[str, Any]]:
        records = original(self, image)
        calls.append(records)
        return records

    monkeypatch.setattr(SamAutomaticMaskGenerator, "generate", generate)
    return calls


def _read(path: Path) -> np.ndarray:
    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert arr is not None, path
    return arr


def test_gt_box_of_a_hand_made_mask() -> None:
    mask = np.zeros((10, 12), np.uint8)
    mask[2:5, 3:8] = 1  # rows 2..4, columns 3..7
    mask[7, 1] = 1
    np.testing.assert_array_equal(gt_box(mask), [1, 2, 7, 7])
    assert gt_box(np.zeros((4, 4), np.uint8)) is None


def test_reduce_variants_on_hand_made_masks() -> None:
    a = np.zeros((4, 4), bool)
    a[:2] = True  # 8 px
    b = np.zeros((4, 4), bool)
    b[:, 0] = True  # 4 px
    c = np.zeros((4, 4), bool)
    c[3, 3] = True  # 1 px
    gt = np.zeros((4, 4), np.uint8)
    gt[1:, 0] = 1  # IoU: a 1/10, b 3/4, c 0
    union = a | b | c
    np.testing.assert_array_equal(reduce_masks([a, b, c], "union", (4, 4)), union)
    np.testing.assert_array_equal(reduce_masks([c, b, a], "largest", (4, 4)), a)
    np.testing.assert_array_equal(reduce_masks([b, b.copy()], "largest", (4, 4)), b)
    np.testing.assert_array_equal(reduce_masks([a, b, c], "oracle", (4, 4), gt), b)
    far = np.zeros((4, 4), np.uint8)
    far[2, 2] = 1  # overlaps nothing: the oracle keeps nothing
    assert not reduce_masks([a, b, c], "oracle", (4, 4), far).any()
    empty = reduce_masks([], "union", (3, 5))
    assert empty.shape == (3, 5) and not empty.any()
    with pytest.raises(ValueError, match="GT"):
        reduce_masks([a], "oracle", (4, 4))
    with pytest.raises(ValueError, match="reduce"):
        reduce_masks([a], "mean", (4, 4))


def test_load_sam_strict_and_names_bad_keys(sam_file, tmp_path: Path) -> None:
    path, sam = sam_file
    loaded = load_sam("vit_b", path, "cpu")
    for key, value in sam.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    state = dict(sam.state_dict())
    del state["mask_decoder.iou_token.weight"]
    state["extra.weight"] = torch.zeros(1)
    bad = tmp_path / "bad_sam.pth"
    torch.save(state, bad)
    with pytest.raises(CheckpointError) as err:
        load_sam("vit_b", bad)
    for text in ("bad_sam.pth", "mask_decoder.iou_token.weight", "extra.weight"):
        assert text in str(err.value)
    with pytest.raises(ValueError, match="model_type"):
        load_sam("vit_x", path)


class _EmptyGT:
    """One grey image whose GT is empty (no box can be drawn)."""

    names = ["empty"]
    image_paths = [Path("empty.jpg")]

    def __len__(self) -> int:
        return 1

    def load(self, index: int) -> tuple:
        return np.full((20, 30, 3), 128, np.uint8), np.zeros((20, 30), np.uint8)


def test_box_mode_empty_gt_writes_zero_map(sam_file, tmp_path: Path) -> None:
    summary = run_baseline(sam_file[1], _EmptyGT(), "box", tmp_path, "s", progress=False)
    png = _read(tmp_path / "pred" / "s" / "empty.png")
    assert png.shape == (20, 30) and png.dtype == np.uint8 and not png.any()
    assert summary["empty_gt"] == 1 and summary["images_per_s"] is None


def test_box_mode_cli_equals_sam_predictor(sam_file, dis5k_root, data_config, tmp_path, capsys):
    path, sam = sam_file
    data_cfg = data_config("dis5k", dis5k_root)
    out = tmp_path / "run"
    argv = ["--config", str(_config(tmp_path, data_cfg)), "--split", "DIS-TE1"]
    argv += ["--sam-checkpoint", str(path), "--mode", "box", "--out-dir", str(out)]
    run = baselines.main(argv + ["--limit", "2", "--device", "cpu", "--score", "--quiet"])
    dataset = build_dataset(data_cfg, "DIS-TE1", 1024, train=False)
    for i in range(2):
        png = _read(out / "pred" / "DIS-TE1" / f"{dataset.names[i]}.png")
        assert png.dtype == np.uint8 and png.shape == dataset.load(i)[1].shape
    image, gt = dataset.load(0)
    ys, xs = np.nonzero(gt)
    predictor = SamPredictor(sam)
    predictor.set_image(image)
    box = np.array([xs.min(), ys.min(), xs.max(), ys.max()])
    logits, _, _ = predictor.predict(box=box, multimask_output=False, return_logits=True)
    expected = np.rint(torch.sigmoid(torch.from_numpy(logits[0])).numpy() * 255).astype(np.uint8)
    np.testing.assert_array_equal(
        _read(out / "pred" / "DIS-TE1" / f"{dataset.names[0]}.png"), expected
    )
    assert run["method"] == "SAM ViT-B GT box"
    n_params = sum(p.numel() for p in sam.parameters()) / 1e6
    assert run["efficiency"]["params_total_M"] == pytest.approx(n_params)
    assert run["efficiency"]["params_trainable_M"] == pytest.approx(n_params)
    assert run["efficiency"]["fps"] > 0
    assert run["meta"]["mode"] == "box" and run["meta"]["split DIS-TE1"]["num_images"] == 2
    assert run["dis"]["DIS-TE1"]["num_images"] == 2 and "maxFm" in run["dis"]["DIS-TE1"]
    stdout = capsys.readouterr().out
    assert "wrote 2 maps" in stdout and str(out / "run.json") in stdout


def test_auto_mode_oracle_map_is_the_best_generated_mask(
    sam_file, dis5k_root, data_config, tmp_path, monkeypatch
):
    calls = _capture_generate(monkeypatch)
    dataset = build_dataset(data_config("dis5k", dis5k_root), "DIS-TE1", 1024, train=False)
    settings = AutoSettings(points_per_side=2, pred_iou_thresh=0.0, stability_score_thresh=0.0)
    summary = run_baseline(
        sam_file[1],
        dataset,
        "auto",
        tmp_path,
        "DIS-TE1",
        "oracle",
        settings,
        limit=1,
        progress=False,
    )
    assert len(calls) == 1 and summary["masks"] == len(calls[0]) > 0
    _, gt = dataset.load(0)
    png = _read(tmp_path / "pred" / "DIS-TE1" / f"{dataset.names[0]}.png")
    assert png.shape == gt.shape and png.dtype == np.uint8
    masks = [r["segmentation"] for r in calls[0]]
    ious = [(m & (gt > 0)).sum() / max((m | (gt > 0)).sum(), 1) for m in masks]
    assert max(ious) > 0  # the oracle picks a mask here, not the empty fallback
    expected = masks[int(np.argmax(ious))]
    np.testing.assert_array_equal(png, expected.astype(np.uint8) * 255)


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_auto_mode_cos_writes_scored_coco_instances(
    sam_file, cod10k_root, data_config, tmp_path, monkeypatch
):
    calls = _capture_generate(monkeypatch)
    data_cfg = data_config("cod10k", cod10k_root)
    out = tmp_path / "run"
    argv = ["--config", str(_config(tmp_path, data_cfg)), "--split", "Test", "--mode", "auto"]
    argv += ["--sam-checkpoint", str(sam_file[0]), "--out-dir", str(out), "--limit", "1"]
    run = baselines.main(argv + TINY_AUTO + ["--quiet", "--device", "cpu"])
    assert len(calls) == 1 and calls[0]
    records = calls[0]
    dataset = build_dataset(data_cfg, "Test", 1024, train=False)
    coco = dataset.coco_gt()
    stem = dataset.image_paths[0].stem
    image_id = next(im["id"] for im in coco["images"] if Path(im["file_name"]).stem == stem)
    results = json.loads((out / "metrics" / "Test.results.json").read_text())
    assert len(results) == len(records)
    for entry, record in zip(results, records):
        assert entry["image_id"] == image_id and entry["category_id"] == 1
        assert entry["score"] == pytest.approx(record["predicted_iou"])
        rle = dict(entry["segmentation"], counts=entry["segmentation"]["counts"].encode())
        np.testing.assert_array_equal(mask_utils.decode(rle).astype(bool), record["segmentation"])
    gt_subset = json.loads((out / "metrics" / "Test.gt.json").read_text())
    assert [im["id"] for im in gt_subset["images"]] == [image_id]
    union = np.logical_or.reduce([r["segmentation"] for r in records])
    png = _read(out / "pred" / "Test" / f"{dataset.names[0]}.png")
    np.testing.assert_array_equal(png, union.astype(np.uint8) * 255)
    cos = run["cos"]["COD10K"]
    assert cos["protocol"] == "all" and cos["num_results"] == len(records)
    assert {"AP", "AP50", "AP75"} <= set(cos)
    meta = run["meta"]
    assert meta["reduce"] == "union" and meta["reduce_is_oracle"] is False
    assert meta["auto_settings"]["points_per_side"] == 2
    assert run["method"] == "SAM ViT-B auto (union)"


def test_box_mode_cos_score_maps_as_instances(sam_file, cod10k_root, data_config, tmp_path):
    data_cfg = data_config("cod10k", cod10k_root)
    out = tmp_path / "run"
    argv = ["--config", str(_config(tmp_path, data_cfg)), "--split", "Test", "--mode", "box"]
    argv += ["--sam-checkpoint", str(sam_file[0]), "--out-dir", str(out), "--limit", "1"]
    run = baselines.main(argv + ["--score", "--quiet", "--device", "cpu"])
    cos = run["cos"]["COD10K"]
    assert cos["num_images"] == 1 and cos["protocol"] == "all"
    assert json.loads((out / "metrics" / "Test.json").read_text())["AP"] == cos["AP"]
    assert run["method"] == "SAM ViT-B GT box" and "dis" not in run
