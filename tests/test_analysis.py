"""The paper's analyses: Pre-Mask statistics, overlap subsets, figures (CPU, hand-made data)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mask_cases import coco_annotation, coco_dict, png_size
from pycocotools import mask as mask_utils
from scipy import stats

import pmgsam
from pmgsam.analysis.__main__ import main
from pmgsam.analysis.overlap import overlapping_image_ids, subset_coco
from pmgsam.analysis.plots import quality_scatter
from pmgsam.analysis.premask import FINAL, PREMASK, analyse, binary_iou, pearson, quadrant_counts
from pmgsam.data import unpad_and_resize
from pmgsam.engine.inference import ImageFolder, Predictor
from pmgsam.evaluation.coco_gt import load_coco
from pmgsam.utils.config import ConfigError
from pmgsam.utils.outputs import OutputError

DEMO = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"


def test_pearson_and_quadrants_match_scipy_and_numpy() -> None:
    pre = [0.10, 0.30, 0.45, 0.55, 0.90, 0.20, 0.70, 0.05]
    final = [0.85, 0.95, 0.40, 0.90, 0.97, 0.81, 0.60, 0.10]
    assert pearson(pre, final) == pytest.approx(stats.pearsonr(pre, final)[0], abs=1e-12)
    q = quadrant_counts(pre, final, 0.5, 0.8)
    x, y = np.array(pre), np.array(final)
    assert q["corrected"] == np.count_nonzero((x < 0.5) & (y > 0.8)) == 3
    assert q == {"corrected": 3, "kept_good": 2, "kept_poor": 2, "degraded": 1}
    # Thresholds are options: a stricter "good final" moves 0.81 and 0.85 out of the quadrant.
    assert quadrant_counts(pre, final, 0.5, 0.9)["corrected"] == 1
    assert np.isnan(pearson([0.1, 0.2, 0.3], [0.5, 0.5, 0.5]))


def test_binary_iou_by_hand() -> None:
    gt = np.zeros((4, 4), np.uint8)
    gt[:2, :2] = 255  # 4 pixels
    pred = np.zeros((4, 4), np.uint8)
    pred[:2, 1:3] = 200  # 4 pixels, 2 shared -> IoU 2 / 6
    pred[3, 3] = 127  # exactly 0.5 probability is background
    assert binary_iou(pred, gt) == pytest.approx(2 / 6)
    assert binary_iou(np.zeros_like(gt), np.zeros_like(gt)) == 1.0
    # 128 is probability 128/255 = 0.502, above 0.5: foreground.
    assert binary_iou(np.array([[128, 0]], np.uint8), np.array([[255, 0]], np.uint8)) == 1.0


def test_binary_iou_gt_threshold_and_quadrant_boundaries() -> None:
    # GT is foreground above 128 (DIS tools): a 128 pixel is background, so a prediction
    # covering both pixels has IoU 1/2 (not 1).
    assert binary_iou(np.array([[255, 255]], np.uint8), np.array([[255, 128]], np.uint8)) == 0.5
    # Exactly on a threshold: Pre-Mask IoU 0.5 is not "poor" (< 0.5), final IoU 0.8 is not
    # "good" (> 0.8). So (0.5, 0.8) is degraded and (0.49, 0.81) corrected.
    q = quadrant_counts([0.5, 0.49], [0.8, 0.81], 0.5, 0.8)
    assert q == {"corrected": 1, "kept_good": 0, "kept_poor": 0, "degraded": 1}
    # Series of different lengths are an error; numpy would broadcast a single y and say NaN.
    with pytest.raises(ValueError, match="equally long"):
        pearson([0.1, 0.2, 0.3], [0.5])


def _write_maps(folder: Path, maps: dict) -> list:
    folder.mkdir(parents=True)
    for stem, arr in maps.items():
        cv2.imwrite(str(folder / f"{stem}.png"), arr)
    return [folder / f"{stem}.png" for stem in maps]


def test_analyse_scores_and_summarises_hand_made_maps(tmp_path) -> None:
    # GT 4x8 (not square), foreground = left half (16 of 32 pixels), for three images.
    gt = np.zeros((4, 8), np.uint8)
    gt[:, :4] = 255
    stems = ["a", "b", "c"]
    gts = _write_maps(tmp_path / "gt", {s: gt for s in stems})
    weak = np.where(gt > 0, 100, 0).astype(np.uint8)  # probability 0.39: still background
    narrow = np.zeros_like(gt)
    narrow[:, :3] = 255  # 12 of the 16 GT pixels
    pre = _write_maps(tmp_path / "pre", {"a": gt, "b": np.zeros_like(gt), "c": weak})
    final = _write_maps(tmp_path / "final", {"a": gt, "b": gt, "c": narrow})
    # A prior at half resolution (2x4), resized to the GT's 4x8 by the analysis.
    half = np.zeros((2, 4), np.uint8)
    half[:, :2] = 255
    prior = _write_maps(tmp_path / "prior", {s: half for s in stems})
    sources = {"Prior": prior, PREMASK: pre, FINAL: final}
    summary = analyse(stems, gts, sources, tmp_path / "out", 0.5, 0.8, figure_size=(1, 1))
    means = summary["means"]
    # Pre-Mask IoU: a 1, b 0, c 0 (100 <= 127 is background; read as a 0/1 label mask it
    # would become 255 and give IoU 1). Mean 1/3 (the median would be 0).
    assert means[PREMASK]["IoU"] == pytest.approx(1 / 3)
    # Pre-Mask MAE: a 0, b 16/32 = 0.5, c 0: PySODMetrics min-max normalises a map that is
    # not constant, so the 0/100 map counts as 0/1 there (only the IoU binarises raw values).
    assert means[PREMASK]["MAE"] == pytest.approx((0 + 0.5 + 0) / 3)
    # Final IoU: 1, 1, 12/16 -> mean 2.75 / 3; a perfect map has S-measure 1 and MAE 0.
    assert means[FINAL]["IoU"] == pytest.approx(2.75 / 3)
    # Prior: bilinear upsampling puts 191 (> 127) in column 3 and 64 in column 4, so IoU 1
    # and, per row, errors of 64/255 on two of 8 pixels.
    assert means["Prior"]["IoU"] == 1.0
    assert means["Prior"]["MAE"] == pytest.approx(2 * 64 / 255 / 8, abs=1e-3)
    # Pearson of x = [1, 0, 0] and y = [1, 1, 0.75]: dx = [2, -1, -1]/3, dy = [1, 1, -2]/12;
    # sum dx*dy = 3/36, sum dx^2 = 2/3, sum dy^2 = 1/24 -> (1/12) / sqrt(1/36) = 0.5.
    assert summary["pearson_premask_final_iou"] == pytest.approx(0.5)
    # a: (1, 1) kept good; b: (0, 1) corrected; c: (0, 0.75) kept poor.
    assert summary["quadrants"] == {"corrected": 1, "kept_good": 1, "kept_poor": 1, "degraded": 0}
    rows = (tmp_path / "out" / "per_image.csv").read_text().splitlines()
    header, row_b = rows[0].split(","), dict(zip(rows[0].split(","), rows[2].split(",")))
    assert header[:4] == ["name", "Prior IoU", "Prior Smeasure", "Prior MAE"]
    assert row_b["name"] == "b" and float(row_b["Pre-Mask IoU"]) == 0.0
    assert float(row_b["Pre-Mask MAE"]) == 0.5
    assert float(row_b["Final mask Smeasure"]) == pytest.approx(1.0)
    assert float(row_b["Final mask MAE"]) == 0.0

    assert summary["empty_gt_images"] == []

    # One image: no correlation can be measured; the summary says null, not NaN.
    one = analyse(["a"], gts[:1], {PREMASK: pre[:1], FINAL: final[:1]}, tmp_path / "one",
                  figure_size=(1, 1))  # fmt: skip
    assert one["pearson_premask_final_iou"] is None
    # The two maps every analysis compares must be there.
    with pytest.raises(ValueError, match="'Final mask' entry"):
        analyse(["a"], gts[:1], {PREMASK: pre[:1]}, tmp_path / "none")


def test_pearson_and_quadrants_compare_the_iou_series(tmp_path) -> None:
    # GT: the left half of a 4x8 image (16 px). Pre-Mask IoU 1, 0, 0; final maps keep 4, 3 and
    # 2 of the 4 GT columns: IoU 1, 0.75, 0.5. By hand: dx = [2, -1, -1]/3, dy = [1, 0, -1]/4,
    # sum dx*dy = 1/4, sum dx^2 = 2/3, sum dy^2 = 1/8, so r = (1/4) / sqrt(1/12) = sqrt(3)/2.
    # With t_final 0.7, b (0, 0.75) is corrected and c (0, 0.5) kept poor. Another per-image
    # score (S-measure, MAE) in place of the IoU gives other numbers.
    gt = np.zeros((4, 8), np.uint8)
    gt[:, :4] = 255
    stems = ["a", "b", "c"]
    gts = _write_maps(tmp_path / "gt", {s: gt for s in stems})
    finals = {}
    for stem, cols in zip(stems, (4, 3, 2)):
        finals[stem] = np.zeros_like(gt)
        finals[stem][:, :cols] = 255
    empty = np.zeros_like(gt)
    pre = _write_maps(tmp_path / "pre", {"a": gt, "b": empty, "c": empty})
    final = _write_maps(tmp_path / "final", finals)
    summary = analyse(stems, gts, {PREMASK: pre, FINAL: final}, tmp_path / "out", 0.5, 0.7,
                      figure_size=(1, 1))  # fmt: skip
    assert summary["pearson_premask_final_iou"] == pytest.approx(np.sqrt(3) / 2, abs=1e-12)
    assert summary["quadrants"] == {"corrected": 1, "kept_good": 1, "kept_poor": 1, "degraded": 0}
    # Two images are enough: (1, 1) and (0, 0.75) lie on a rising line, r = 1.
    two = analyse(stems[:2], gts[:2], {PREMASK: pre[:2], FINAL: final[:2]}, tmp_path / "two",
                  figure_size=(1, 1))  # fmt: skip
    assert two["pearson_premask_final_iou"] == pytest.approx(1.0, abs=1e-12)


def test_scatter_is_a_png_of_the_requested_size(tmp_path) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.random(50), rng.random(50)
    path = quality_scatter(
        x, y, tmp_path / "s.png", 0.5, 0.8, pearson(x, y), size=(2.0, 1.5), dpi=100
    )
    assert path.stat().st_size > 1000
    assert png_size(path) == (200, 150)


def test_predictor_writes_premask_maps(tmp_path) -> None:
    torch.manual_seed(0)
    model = pmgsam.build_model("pmgsam_tiny", image_size=64).eval()
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(1)
    cv2.imwrite(str(folder / "a.png"), rng.integers(0, 255, (40, 90, 3), dtype=np.uint8))
    dataset = ImageFolder(folder, 64)
    Predictor(model, "cpu").predict_dataset(
        dataset, tmp_path / "pred", batch_size=1, num_workers=0, premask_dir=tmp_path / "pre"
    )
    sample = dataset[0]
    with torch.no_grad():
        out = model(sample["image"][None])
    expected = {}
    for key in ("pre_mask", "mask"):
        prob = unpad_and_resize(torch.sigmoid(out[key])[0, 0], sample["orig_size"], 64)
        expected[key] = np.rint(prob.numpy() * 255).astype(np.uint8)
    written = cv2.imread(str(tmp_path / "pre" / "a.png"), cv2.IMREAD_UNCHANGED)
    final = cv2.imread(str(tmp_path / "pred" / "a.png"), cv2.IMREAD_UNCHANGED)
    assert written.shape == (40, 90)
    assert np.abs(written.astype(int) - expected["pre_mask"]).max() <= 1
    assert np.abs(final.astype(int) - expected["mask"]).max() <= 1
    assert not np.array_equal(expected["pre_mask"], expected["mask"])


def _coco_with_cases() -> dict:
    h = w = 20
    anns = []

    def add(img: int, mask: np.ndarray) -> None:
        anns.append(coco_annotation(len(anns) + 1, img, mask))

    def m(y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        out = np.zeros((h, w), bool)
        out[y0:y1, x0:x1] = True
        return out

    add(1, m(0, 5, 0, 5))  # 1: two squares sharing an edge: touching, boxes only abut
    add(1, m(0, 5, 5, 10))
    ell = m(0, 1, 0, 10) | m(0, 10, 0, 1)  # 2: an L and a square inside its box, far apart
    add(2, ell)
    add(2, m(6, 9, 6, 9))
    add(3, m(0, 4, 0, 4))  # 3: separate objects
    add(3, m(12, 16, 12, 16))
    add(4, m(5, 10, 5, 10))  # 4: a single object
    return coco_dict((h, w), anns, [f"im{i}.jpg" for i in (1, 2, 3, 4)])


def test_overlap_subset_on_a_hand_made_coco_file(tmp_path) -> None:
    data = _coco_with_cases()
    coco = load_coco(data)
    assert overlapping_image_ids(coco, "touch") == [1]
    assert overlapping_image_ids(coco, "box") == [2]
    assert overlapping_image_ids(coco, "either") == [1, 2]
    # The L and the square of image 2 are 6 pixels apart (8-connected steps).
    assert overlapping_image_ids(coco, "touch", distance=5) == [1]
    assert overlapping_image_ids(coco, "touch", distance=6) == [1, 2]
    sub = subset_coco(data, [2])
    assert [im["id"] for im in sub["images"]] == [2] and len(sub["annotations"]) == 2

    # CLI: list, share, and AP beside the full set in the run's COS table.
    # Boxes come from the masks: stored bbox fields (here all wrong) do not decide.
    wrong = {**data, "annotations": [{**a, "bbox": [0, 0, 1, 1]} for a in data["annotations"]]}
    assert overlapping_image_ids(load_coco(wrong), "box") == [2]

    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(data))
    run = tmp_path / "run"
    pred = run / "pred" / "Test"
    pred.mkdir(parents=True)
    for im in data["images"]:
        union = np.zeros((20, 20), np.uint8)
        for a in data["annotations"]:
            if a["image_id"] == im["id"]:
                union |= mask_utils.decode(a["segmentation"]).astype(np.uint8)
        cv2.imwrite(str(pred / f"im{im['id']}.png"), union * 255)
    args = ["overlap", "--gt-json", str(gt), "--rule", "touch", "--name", "TOY"]
    args += ["--out", str(tmp_path / "ov"), "--pred-dir", str(pred), "--run", str(run)]
    assert main(args) == 0
    assert (tmp_path / "ov" / "overlap_images.txt").read_text() == "im1.jpg\n"
    summary = json.loads((tmp_path / "ov" / "overlap_summary.json").read_text())
    assert summary["share"] == pytest.approx(0.25)
    # Images, not instances: image 1 holds the subset's two touching instances.
    assert (summary["num_overlap_images"], summary["num_images"]) == (1, 4)
    cos = json.loads((run / "run.json").read_text())["cos"]
    assert cos["TOY overlap"]["num_images"] == 1 and cos["TOY"]["num_images"] == 4
    # Connected components merge the touching pair, so AP drops on the subset.
    assert cos["TOY overlap"]["AP"] < cos["TOY"]["AP"]

    # A full-set AP the run already records (evaluate.py's) is kept; the subset is updated.
    record = json.loads((run / "run.json").read_text())
    record["cos"]["TOY"]["AP"] = 0.123
    (run / "run.json").write_text(json.dumps(record))
    assert main(args) == 0
    assert json.loads((run / "run.json").read_text())["cos"]["TOY"]["AP"] == 0.123
    # Maps from elsewhere would be recorded as the run's: refused before anything is written.
    other = shutil.copytree(pred, tmp_path / "other_maps")
    before = (run / "run.json").read_bytes()
    foreign = args[: args.index("--pred-dir") + 1] + [str(other), "--run", str(run)]
    with pytest.raises(ConfigError, match="is not a map folder of --run"):
        main(foreign)
    assert (run / "run.json").read_bytes() == before
    # Nor are the subset files written into the GT file's own folder.
    with pytest.raises(OutputError, match="is the dataset folder"):
        main(["overlap", "--gt-json", str(gt), "--name", "TOY", "--out", str(tmp_path)])
    assert not (tmp_path / "overlap_gt.json").exists()


def _fake_run(root: Path, dis5k_root: Path, split: str, method: str, good: set) -> Path:
    """A run folder whose maps equal the GT for images in ``good`` and are empty otherwise."""
    run = root / method
    for kind in ("pred", "premask"):
        (run / kind / split).mkdir(parents=True)
    for gt in sorted((dis5k_root / split / "gt").glob("*.png")):
        mask = cv2.imread(str(gt), cv2.IMREAD_GRAYSCALE)
        cv2.imwrite(str(run / "pred" / split / gt.name), mask if gt.stem in good else 0 * mask)
        cv2.imwrite(str(run / "premask" / split / gt.name), 0 * mask)
    (run / "run.json").write_text(json.dumps({"method": method}))
    return run


def test_premask_and_figures_cli(tmp_path, dis5k_root, capsys) -> None:
    stems = sorted(p.stem for p in (dis5k_root / "DIS-TE1" / "gt").glob("*.png"))
    run = _fake_run(tmp_path, dis5k_root, "DIS-TE1", "Ours", set(stems))
    other = _fake_run(tmp_path, dis5k_root, "DIS-TE1", "Other", {stems[0]})
    prior = tmp_path / "prior"
    shutil.copytree(run / "pred" / "DIS-TE1", prior)
    data = [f"data.root={dis5k_root}", f"data.split_dir={tmp_path / 'splits'}"]
    common = ["--config", str(DEMO), "--split", "DIS-TE1"]
    args = ["premask", "--run", str(run), "--prior-dir", f"Oracle={prior}"] + common + data
    assert main(args + ["--pre-threshold", "0.3", "--final-threshold", "0.9"]) == 0
    out = run / "analysis" / "premask_DIS-TE1"
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["pre_threshold"], summary["final_threshold"]) == (0.3, 0.9)
    # Empty Pre-Masks (IoU 0) and perfect final maps: every image was "corrected".
    assert summary["quadrants"]["corrected"] == len(stems) == summary["num_images"]
    assert summary["means"]["Oracle"]["IoU"] == 1.0 and summary["means"]["Pre-Mask"]["IoU"] == 0.0
    assert list(summary["means"]) == ["Oracle", "Pre-Mask", "Final mask"]
    assert png_size(out / "fig10_scatter.png") == (round(3.5 * 300), round(3.2 * 300))

    figs = tmp_path / "figs"
    args = ["figures", "--runs", str(other), str(run), "--worst", "2", "--by", "iou"]
    args += ["--out", str(figs), "--width", "3.5", "--dpi", "200"] + common + data
    assert main(args) == 0
    grid = figs / "qualitative_DIS-TE1.png"
    assert png_size(grid)[0] == 700 and grid.stat().st_size > 1000
    # "Other" is right on stems[0] only: its worst image is the other one.
    worst = (figs / "failures_DIS-TE1_iou.txt").read_text().splitlines()
    assert f"wrote {figs / 'failures_DIS-TE1_iou.txt'}" in capsys.readouterr().out
    assert worst[0].split("\t") == [stems[1], "0.0"]
    assert worst[1].split("\t") == [stems[0], "1.0"]
    # By HCE, read from the run's per-image metrics: the highest comes first.
    (other / "metrics").mkdir()
    rows = [f"{stems[0]},50", f"{stems[1]},10"]
    (other / "metrics" / "DIS-TE1.per_image.csv").write_text("name,HCE\n" + "\n".join(rows))
    args[args.index("iou")] = "hce"
    assert main(args) == 0
    worst = (figs / "failures_DIS-TE1_hce.txt").read_text().splitlines()
    assert [w.split("\t")[0] for w in worst] == [stems[0], stems[1]]
