"""SAM baselines through ``evaluate.py --baseline``: prompts, maps, COCO instances, run.json.

SAM ViT-B runs at a 64-px input (random, seeded weights: conftest's ``sam_file``, saved at that
side; what is checked here does not depend on the side), on one thread, so the image encoder
costs a fraction of a second per image. The encoder is also memoised on (input, weights) for
this module: an image is encoded once however many tests prompt it, and the cached output is
the one a recomputation would give. GT boxes, mask reductions and loading SAM checkpoints:
tests/test_baselines_parts.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

import cv2
import numpy as np
import pytest
import torch
import yaml
from pycocotools import mask as mask_utils
from segment_anything import SamAutomaticMaskGenerator, SamPredictor
from segment_anything.modeling import ImageEncoderViT

import evaluate
from pmgsam.baselines.base import AutoBaseline
from pmgsam.baselines.runner import run_baseline
from pmgsam.data import build_dataset
from pmgsam.data.config import DataConfig
from pmgsam.evaluation.coco_gt import load_coco
from pmgsam.evaluation.run_json import write_run_json
from pmgsam.report import main as report_main
from pmgsam.utils.cli import exit_status
from pmgsam.utils.config import from_dict, to_dict

SIDE = 64  # the side conftest's sam_file was saved at
TINY_AUTO = ["--points-per-side", "2", "--pred-iou-thresh", "0", "--stability-score-thresh", "0"]
FAST = ["--device", "cpu", "--quiet", "--model-image-size", str(SIDE), "--speed-iters", "1"]
FAST += ["--speed-warmup", "0"]


# One thread for the module's runs too (module-scoped fixtures): on shared cores two OpenMP
# threads made each prompt ~100x slower.
pytestmark = pytest.mark.usefixtures("one_thread_module")


@pytest.fixture(scope="module", autouse=True)
def memoised_encoder(memoise):
    return memoise(ImageEncoderViT, "forward", lambda out: out.clone())


def _data_cfg(dataset: str, root: Path, split_dir: Path) -> DataConfig:
    splits = {"dis5k": ("DIS-TR", "DIS-VD", ["DIS-TE1"]), "nc4k": ("train", None, ["test"])}
    train, val, test = splits[dataset]
    values = {"dataset": dataset, "root": str(root), "num_workers": 0, "train_split": train}
    values.update(val_split=val, test_splits=test, split_dir=str(split_dir))
    return from_dict(DataConfig, values)


def _box_run(sam_path, dataset: str, root, split: str, tmp, extra=()):
    """Run sam-box on ``split``: (run.json, run folder, data config)."""
    data_cfg = _data_cfg(dataset, root, tmp / "splits")
    out = tmp / f"sam-box-{dataset}"
    argv = _argv("sam-box", sam_path, _config(tmp, data_cfg), dataset, split, out)
    return _evaluate(argv + list(extra)), out, data_cfg


@pytest.fixture(scope="module")
def dis_box_run(sam_file, dis5k_root, tmp_path_factory):
    """sam-box on the first two DIS-TE1 images."""
    tmp = tmp_path_factory.mktemp("dis_box")
    return _box_run(sam_file[0], "dis5k", dis5k_root, "DIS-TE1", tmp, ["--limit", "2"])


@pytest.fixture(scope="module")
def nc4k_box_run(sam_file, nc4k_root, tmp_path_factory):
    """sam-box (one box per GT instance) on the NC4K test split (20 % of 10 images)."""
    return _box_run(sam_file[0], "nc4k", nc4k_root, "test", tmp_path_factory.mktemp("nc4k_box"))


def _config(tmp_path: Path, data_cfg: Any) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({"data": to_dict(data_cfg)}))
    return path


def _evaluate(argv: List[str]) -> Dict[str, Any]:
    assert evaluate.main(argv) == 0
    out = Path(argv[argv.index("--output-dir") + 1])
    return json.loads((out / "run.json").read_text())


def _argv(baseline: str, ckpt: Path, cfg: Path, dataset: str, split: str, out: Path) -> List[str]:
    argv = ["--baseline", baseline, "--checkpoint", str(ckpt), "--config", str(cfg)]
    return argv + ["--dataset", dataset, "--splits", split, "--output-dir", str(out)] + FAST


def _capture_generate(monkeypatch: pytest.MonkeyPatch, cls: type) -> List[List[Dict[str, Any]]]:
    """Record what every ``cls.generate`` call returns."""
    calls: List[List[Dict[str, Any]]] = []
    original = cls.generate

    def generate(self: Any, image: np.ndarray) -> List[Dict[str, Any]]:
        records = original(self, image)
        calls.append(records)
        return records

    monkeypatch.setattr(cls, "generate", generate)
    return calls


def _read(path: Path) -> np.ndarray:
    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert arr is not None, path
    return arr


def _decode(entry: Dict[str, Any]) -> np.ndarray:
    rle = dict(entry["segmentation"], counts=entry["segmentation"]["counts"].encode())
    return mask_utils.decode(rle).astype(bool)


def test_sam_box_dis_equals_sam_predictor(sam_file, dis_box_run) -> None:
    model = sam_file[1]
    run, out, data_cfg = dis_box_run
    dataset = build_dataset(data_cfg, "DIS-TE1", 1024, train=False)
    image, gt = dataset.load(0)
    ys, xs = np.nonzero(gt)
    predictor = SamPredictor(model)
    predictor.set_image(image)
    box = np.array([xs.min(), ys.min(), xs.max(), ys.max()])
    logits, _, _ = predictor.predict(box=box, multimask_output=False, return_logits=True)
    expected = np.rint(torch.sigmoid(torch.from_numpy(logits[0])).numpy() * 255).astype(np.uint8)
    png = _read(out / "pred" / "DIS-TE1" / f"{dataset.names[0]}.png")
    np.testing.assert_array_equal(png, expected)
    assert run["method"] == "SAM ViT-B GT box"
    n_params = sum(p.numel() for p in model.parameters()) / 1e6
    assert run["efficiency"]["params_total_M"] == pytest.approx(n_params)
    # None, as a CPU timing of PMG-SAM records it: it replaces an earlier CUDA timing's figure.
    assert run["efficiency"]["fps"] > 0 and run["efficiency"]["peak_memory_MB"] is None
    flops = run["meta"]["efficiency_report"]["flops_per_image"]["total"]
    assert flops > 0 and run["efficiency"]["flops_G"] == pytest.approx(flops / 1e9)
    assert run["meta"]["mode"] == "box" and run["meta"]["split DIS-TE1"]["num_images"] == 2
    assert run["meta"]["efficiency_report"]["timed_prompts"] == 1
    scored = json.loads((out / "metrics" / "DIS-TE1.json").read_text())
    assert run["dis"]["DIS-TE1"]["maxFm"] == scored["maxFm"] and scored["num_images"] == 2


def test_sam_auto_oracle_map_is_the_best_generated_mask(
    sam_file, dis5k_root, data_config, tmp_path, monkeypatch
):
    calls = _capture_generate(monkeypatch, SamAutomaticMaskGenerator)
    dataset = build_dataset(data_config("dis5k", dis5k_root), "DIS-TE1", 1024, train=False)
    settings = {"points_per_side": 2, "pred_iou_thresh": 0.0, "stability_score_thresh": 0.0}
    baseline = AutoBaseline("sam", "vit_b", sam_file[1], settings)
    summary = run_baseline(
        baseline, dataset, tmp_path, "DIS-TE1", "oracle", limit=1, progress=False
    )
    assert len(calls) == 1 and summary["masks"] == len(calls[0]) > 0
    _, gt = dataset.load(0)
    png = _read(tmp_path / "pred" / "DIS-TE1" / f"{dataset.names[0]}.png")
    masks = [r["segmentation"] for r in calls[0]]
    ious = [(m & (gt > 0)).sum() / max((m | (gt > 0)).sum(), 1) for m in masks]
    assert max(ious) > 0  # the oracle picks a mask here, not the empty fallback
    np.testing.assert_array_equal(png, masks[int(np.argmax(ious))].astype(np.uint8) * 255)


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_sam_auto_cos_writes_scored_coco_instances(
    sam_file, cod10k_root, data_config, tmp_path, monkeypatch
):
    calls = _capture_generate(monkeypatch, SamAutomaticMaskGenerator)
    data_cfg = data_config("cod10k", cod10k_root)
    out = tmp_path / "run"
    argv = _argv("sam-auto", sam_file[0], _config(tmp_path, data_cfg), "cod10k", "Test", out)
    run = _evaluate(argv + TINY_AUTO + ["--limit", "1"])
    records = calls[0]  # the prediction; then the FLOP count and the timed pass
    assert records and len(calls) == 3
    dataset = build_dataset(data_cfg, "Test", 1024, train=False)
    coco = dataset.coco_gt()
    stem = dataset.image_paths[0].stem
    image_id = next(im["id"] for im in coco["images"] if Path(im["file_name"]).stem == stem)
    results = json.loads((out / "metrics" / "Test.results.json").read_text())
    assert len(results) == len(records)
    for entry, record in zip(results, records):
        assert entry["image_id"] == image_id and entry["category_id"] == 1
        assert entry["score"] == pytest.approx(record["predicted_iou"])
        np.testing.assert_array_equal(_decode(entry), record["segmentation"])
    gt_subset = json.loads((out / "metrics" / "Test.gt.json").read_text())
    assert [im["id"] for im in gt_subset["images"]] == [image_id]
    union = np.logical_or.reduce([r["segmentation"] for r in records])
    png = _read(out / "pred" / "Test" / f"{dataset.names[0]}.png")
    np.testing.assert_array_equal(png, union.astype(np.uint8) * 255)
    cos = run["cos"]["COD10K"]
    assert cos["protocol"] == "all" and cos["num_results"] == len(records)
    assert cos["subset"] == f"first 1 of {len(dataset)} images (--limit)"
    assert run["meta"]["auto_settings"]["points_per_side"] == 2
    # The generator settings other than segment-anything's defaults name the row.
    assert (
        run["method"] == "SAM ViT-B auto [points-per-side 2, pred-iou-thresh 0, "
        "stability-score-thresh 0]"
    )
    # No COS score reads --reduce: run.json once recorded "reduce": "union" here all the same.
    assert not {"reduce", "reduce_is_oracle", "reduce_note"} & set(run["meta"])
    assert run["meta"]["instances"].startswith("every generated mask is scored as a COCO")


def test_sam_box_cos_prompts_one_box_per_instance(sam_file, nc4k_box_run) -> None:
    model = sam_file[1]
    run, out, data_cfg = nc4k_box_run
    dataset = build_dataset(data_cfg, "test", 1024, train=False)
    coco_dict = dataset.coco_gt()
    coco = load_coco(coco_dict)
    ids = {Path(im["file_name"]).stem: im["id"] for im in coco_dict["images"]}
    results = json.loads((out / "metrics" / "test.results.json").read_text())
    predictor = SamPredictor(model)
    multi = 0
    for i in range(len(dataset)):
        image_id = ids[dataset.image_paths[i].stem]
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[image_id]))
        multi += len(anns) > 1
        predictor.set_image(dataset.load(i)[0])
        expected = []
        for ann in anns:
            ys, xs = np.nonzero(coco.annToMask(ann))
            box = np.array([xs.min(), ys.min(), xs.max(), ys.max()])
            logits, iou, _ = predictor.predict(box=box, multimask_output=False, return_logits=True)
            mask = torch.sigmoid(torch.from_numpy(logits[0])).numpy() > 0.5
            if mask.any():
                expected.append((mask, float(iou[0])))
        got = [r for r in results if r["image_id"] == image_id]
        assert len(got) == len(expected)
        for entry, (mask, score) in zip(got, expected):
            np.testing.assert_array_equal(_decode(entry), mask)
            assert entry["score"] == pytest.approx(score)
    assert multi > 0  # the data has images with several instances
    assert run["method"] == "SAM ViT-B GT box per instance"
    assert "per GT instance" in run["meta"]["box_prompt"]
    assert run["cos"]["NC4K"]["num_results"] == len(results)
    # Where its GT instances were read (NC4K: the Instance PNGs), as benchmark mode records.
    labels = run["cos"]["NC4K"]["instance_labels"]
    assert labels == {"kind": "png", "path": str(Path(data_cfg.root) / "Instance")}


def test_baseline_cli_errors(sam_file, dis5k_root, data_config, tmp_path, capsys) -> None:
    cfg = _config(tmp_path, data_config("dis5k", dis5k_root))
    argv = _argv("sam-box", sam_file[0], cfg, "dis5k", "DIS-TE1", tmp_path / "r")
    te = [a if a != "DIS-TE1" else "DIS-VD,DIS-TE" for a in argv]
    assert exit_status(evaluate.main, te) == 2
    assert "--splits DIS-TE: baseline mode scores single splits" in capsys.readouterr().err
    assert exit_status(evaluate.main, argv + ["--model-type", "tiny"]) == 2
    assert "tiny is a sam2 model" in capsys.readouterr().err
    assert exit_status(evaluate.main, argv + ["--esam-object-nms", "0.3"]) == 2
    assert "only apply to --baseline esam" in capsys.readouterr().err
    assert exit_status(evaluate.main, argv + ["--points-per-side", "4"]) == 2
    assert "--points-per-side only apply to sam-auto / sam2-auto" in capsys.readouterr().err
    auto = [a if a != "sam-box" else "sam-auto" for a in argv]
    assert exit_status(evaluate.main, auto + ["--use-m2m"]) == 2
    assert "--use-m2m is a SAM2 generator option" in capsys.readouterr().err
    no_ckpt = argv[:2] + argv[4:]  # without --checkpoint FILE
    assert exit_status(evaluate.main, no_ckpt) == 2
    assert "--checkpoint required with --baseline" in capsys.readouterr().err
    for ckpt, words in (
        (tmp_path / "none.pth", "does not exist"),
        (tmp_path, "is a folder, not a file"),
    ):
        wrong = [str(ckpt) if a == str(sam_file[0]) else a for a in argv]
        assert exit_status(evaluate.main, wrong) == 2
        assert f"checkpoint file '{ckpt}' {words}" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_baseline_runs_merge_into_the_report_next_to_pmgsam(
    dis_box_run, nc4k_box_run, tmp_path, capsys
) -> None:
    # PMG-SAM's hand-made run is perfect, but the GT-box rows are not ranked against it, so it
    # is the one ranked row, with nothing to beat: no cell is bold.
    perfect = {"maxFm": 1.0, "wFmeasure": 1.0, "MAE": 0.0, "Smeasure": 1.0, "meanEm": 1.0,
               "HCE": 0.0, "num_images": 2}  # fmt: skip
    pmg = tmp_path / "pmgsam"
    write_run_json(pmg, "PMG-SAM", dis={"DIS-TE1": perfect},
                   cos={"NC4K": {"AP": 1.0, "AP50": 1.0, "AP75": 1.0, "protocol": "all"}},
                   efficiency={"params_total_M": 0.001, "fps": 1e6})  # fmt: skip
    tables = tmp_path / "tables"
    assert (
        report_main([str(pmg), str(dis_box_run[1]), str(nc4k_box_run[1]), "--out", str(tables)])
        == 0
    )
    dis_md = (tables / "dis.md").read_text()
    d = json.loads((dis_box_run[1] / "metrics" / "DIS-TE1.json").read_text())
    cells = [f"{d[k]:.3f}" for k in ("maxFm", "wFmeasure", "MAE", "Smeasure", "meanEm")]
    assert (
        "| PMG-SAM | 1.000 | 1.000 | 0.000 | 1.000 | 1.000 | 0 |" in dis_md and "**" not in dis_md
    )
    assert "Prompted with GT boxes, not ranked" in dis_md
    assert f"| SAM ViT-B GT box | {' | '.join(cells)} | {d['HCE']:.0f} |" in dis_md
    # The COS-only run has no DIS row (it was a row of dashes); a note names it.
    assert "| SAM ViT-B GT box per instance |" not in dis_md
    assert "so not in this table: SAM ViT-B GT box per instance." in dis_md
    cos_md = (tables / "cos.md").read_text()
    c = json.loads((nc4k_box_run[1] / "metrics" / "test.json").read_text())
    row = " | ".join(f"{100 * c[k]:.1f}" for k in ("AP", "AP50", "AP75"))
    assert f"| SAM ViT-B GT box per instance | {row} |" in cos_md
    eff_md = (tables / "efficiency.md").read_text()
    fps = dis_box_run[0]["efficiency"]["fps"]
    assert f"| SAM ViT-B GT box | {dis_box_run[0]['efficiency']['params_total_M']:.1f} |" in eff_md
    assert f"{fps:.2f}" in eff_md.split("SAM ViT-B GT box |")[1].splitlines()[0]


def test_baseline_checks_every_split_before_predicting(
    sam_file, dis5k_root, data_config, tmp_path, capsys
) -> None:
    cfg = _config(tmp_path, data_config("dis5k", dis5k_root))
    out = tmp_path / "r"
    argv = _argv("sam-box", sam_file[0], cfg, "dis5k", "DIS-TE1,DIS-TE9", out)
    assert exit_status(evaluate.main, argv) == 2
    assert "DIS-TE9" in capsys.readouterr().err
    assert not out.exists()  # DIS-TE1 was not predicted first
