"""Scoring inputs: the one mask reader's rules, the torch/PySODMetrics-free scoring path, our
S-measure against PySODMetrics, and one clear error (naming the file) for each bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import List, Tuple

import cv2
import numpy as np
import py_sod_metrics as psm
import pytest
from cli_cases import evaluate_main
from mask_cases import coco_dict
from PIL import Image

from pmgsam.data.datasets import SegmentationDataset
from pmgsam.data.io import DataError, MaskValueWarning, load_mask
from pmgsam.evaluation.dis_metrics import normalisation_lut
from pmgsam.evaluation.scoring import EvaluationInputError, evaluate_dis_folder
from pmgsam.evaluation.smeasure import s_measure
from pmgsam.utils.cli import exit_status
from pmgsam.utils.rle import encode_rle

ROOT = Path(__file__).resolve().parents[1]


def _scene(h: int = 60, w: int = 80, seed: int = 0) -> tuple:
    """A soft prediction and a 0/255 GT with two objects."""
    rng = np.random.default_rng(seed)
    gt = np.zeros((h, w), np.uint8)
    gt[10:35, 12:40] = 255
    gt[40:55, 50:75] = 255
    pred = cv2.GaussianBlur(gt.astype(np.float32), (0, 0), 2) + rng.normal(0, 30, (h, w))
    return np.clip(pred, 0, 255).astype(np.uint8), gt


# --- S-measure: our histogram version against PySODMetrics ---
def _psm_sm(pred: np.ndarray, gt: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PySODMetrics' own empty-quadrant warnings
        m = psm.Smeasure()
        m.step(pred, gt)
        return float(m.get_results()["sm"])


def _sm_cases() -> list:
    rng = np.random.default_rng(7)
    pred, gt = _scene()
    h, w = gt.shape
    half = np.zeros_like(gt)
    half[: h // 2, : w // 2] = 255  # quadrant split on the GT centroid: constant quadrants
    stepped = pred.copy()
    stepped[: h // 2] = 77  # one prediction level over whole quadrants
    cases = [
        (pred, gt),
        (pred, np.zeros_like(gt)),  # all-zero GT: 1 - mean(pred)
        (pred, np.full_like(gt, 255)),  # all-one GT: mean(pred)
        (np.zeros_like(pred), gt),
        (np.full_like(pred, 255), gt),
        (np.full_like(pred, 77), gt),  # constant prediction: no min-max normalisation
        (np.full_like(pred, 77), half),  # constant prediction and constant quadrants
        (stepped, half),
        (half.copy(), half),  # perfect
        (255 - gt, gt),  # inverted
        (((pred > 128) * 255).astype(np.uint8), gt),
    ]
    for k in range(40):  # small random maps, where quadrants are tiny or a single pixel
        hh, ww = rng.integers(2, 12, 2)
        p = rng.integers(0, 256, (hh, ww)).astype(np.uint8)
        if k % 3 == 0:
            p[: hh // 2] = rng.integers(0, 256)
        g = ((rng.random((hh, ww)) > rng.random()) * 255).astype(np.uint8)
        cases.append((p, g))
    return cases


def _scene_folders(tmp_path: Path, names: List[str]) -> Tuple[Path, Path]:
    """``tmp_path/pred`` and ``tmp_path/gt`` holding the :func:`_scene` pair under each name."""
    pdir, gdir = tmp_path / "pred", tmp_path / "gt"
    pdir.mkdir()
    gdir.mkdir()
    pred, gt = _scene()
    for name in names:
        cv2.imwrite(str(pdir / f"{name}.png"), pred)
        cv2.imwrite(str(gdir / f"{name}.png"), gt)
    return pdir, gdir


def test_smeasure_equals_pysodmetrics_on_varied_maps():
    compared = 0
    for pred, gt in _sm_cases():
        ref = _psm_sm(pred, gt)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours = s_measure(pred, gt > 128, normalisation_lut(pred))
        if np.isnan(ref):  # PySODMetrics' empty quadrant (centroid on the last row / column)
            assert np.isnan(ours)
            continue
        assert abs(ours - ref) <= 1e-12, (ours, ref, pred.shape)
        compared += 1
    assert compared >= 30
    # Edge cases against hand-computed values: all-zero GT scores 1 - mean, all-one GT the mean.
    pred = np.array([[0, 255], [255, 255]], np.uint8)
    lut = normalisation_lut(pred)
    assert s_measure(pred, np.zeros((2, 2), bool), lut) == pytest.approx(0.25, abs=1e-15)
    assert s_measure(pred, np.ones((2, 2), bool), lut) == pytest.approx(0.75, abs=1e-15)


def test_scoring_path_imports_neither_pysodmetrics_nor_torch(tmp_path: Path):
    pdir, gdir = _scene_folders(tmp_path, ["a"])
    code = (
        "import sys, runpy; sys.argv = ['evaluate.py', '--pred-dir', sys.argv[1], '--gt-dir', "
        "sys.argv[2], '--out', sys.argv[3], '--workers', '2', '--quiet']\n"
        "try:\n    runpy.run_path('evaluate.py', run_name='__main__')\n"
        "except SystemExit as e:\n    assert not e.code, e.code\n"
        "print(sorted(m for m in ('torch', 'sklearn', 'py_sod_metrics') if m in sys.modules))"
    )
    out = tmp_path / "m.json"
    res = subprocess.run(
        [sys.executable, "-c", code, str(pdir), str(gdir), str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert res.stdout.strip().splitlines()[-1] == "[]"
    assert json.loads(out.read_text())["num_images"] == 1


# --- the one mask reader: the same rule in training and evaluation ---
def _gt_variants(gt: np.ndarray, folder: Path) -> dict:
    """The same GT stored as gray, alpha-only, red-on-black, palette and 0/1 labels."""
    folder.mkdir()
    on = gt > 127
    rgba = np.zeros(gt.shape + (4,), np.uint8)
    rgba[..., 3] = gt
    red = np.zeros(gt.shape + (3,), np.uint8)
    red[..., 0] = gt
    pal = Image.fromarray(on.astype(np.uint8), mode="P")
    pal.putpalette([0, 0, 0, 128, 0, 0] + [0] * 762)  # VOC-style: index 1 is dark red
    files = {
        "gray": Image.fromarray(gt),
        "alpha": Image.fromarray(rgba, mode="RGBA"),
        "red": Image.fromarray(red, mode="RGB"),
        "palette": pal,
        "labels01": Image.fromarray(on.astype(np.uint8)),
    }
    for name, img in files.items():
        img.save(folder / f"{name}.png")
    return {name: folder / f"{name}.png" for name in files}


def test_alpha_coloured_palette_and_01_gt_score_like_gray(tmp_path: Path):
    pred, gt = _scene()
    variants = _gt_variants(gt, tmp_path / "gt")
    pdir = tmp_path / "pred"
    pdir.mkdir()
    for name in variants:
        cv2.imwrite(str(pdir / f"{name}.png"), pred)
    with pytest.warns(MaskValueWarning, match=r"2 files.*labels01\.png.*0/1 labels"):
        _, per = evaluate_dis_folder(pdir, tmp_path / "gt", workers=2, progress=False)
    rows = {r.name: r.row() for r in per}
    assert rows["gray"]["maxFm"] > 0.5
    for name in variants:
        assert rows[name] == dict(rows["gray"], name=name), name
    # The training dataset reads the same files through the same reader.
    img = tmp_path / "img.png"
    cv2.imwrite(str(img), np.dstack([pred] * 3))
    paths = list(variants.values())
    ds = SegmentationDataset([img] * len(paths), paths, image_size=32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        masks = [ds.load(i)[1] for i in range(len(paths))]
    named = sorted(Path(str(w.message).split("'")[1]).name for w in caught)
    assert named == ["labels01.png", "palette.png"]
    assert all(w.category is MaskValueWarning for w in caught)
    for m in masks:
        np.testing.assert_array_equal(m, (gt > 127).astype(np.uint8))


def test_16bit_prediction_below_256_warns_naming_the_file(tmp_path: Path):
    pred, _ = _scene()
    cv2.imwrite(str(tmp_path / "raw.png"), pred.astype(np.uint16))
    with pytest.warns(MaskValueWarning, match=r"raw\.png.*16-bit.*never exceeds"):
        m = load_mask(tmp_path / "raw.png", "prediction", labels_01=False)
    assert m.max() <= 1  # scaled as 16-bit, as documented
    cv2.imwrite(str(tmp_path / "full.png"), pred.astype(np.uint16) * 257)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a real 16-bit map reads silently and exactly
        np.testing.assert_array_equal(load_mask(tmp_path / "full.png"), pred)


# --- bad files: one line naming the file, exit code 2 ---
def _bad_png(kind: str, path: Path, like: np.ndarray) -> None:
    if kind == "zero-byte":
        path.write_bytes(b"")
    elif kind == "not-an-image":
        path.write_text("hello, I am text")
    else:  # header intact, pixel data cut off
        cv2.imwrite(str(path), like)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("side", ["pred", "gt"])
@pytest.mark.parametrize("kind", ["zero-byte", "not-an-image", "truncated"])
def test_dis_scoring_bad_png_one_line_naming_the_file(tmp_path: Path, capsys, kind, side):
    pdir, gdir = _scene_folders(tmp_path, ["im0", "im1"])
    folder = pdir if side == "pred" else gdir
    _bad_png(kind, folder / "im1.png", _scene()[0])
    args = ["--pred-dir", str(pdir), "--gt-dir", str(gdir), "--out", str(tmp_path / "m.json")]
    # A truncated file passes the header check and fails in a worker process.
    workers = "2" if kind == "truncated" else "1"
    assert exit_status(evaluate_main, args + ["--quiet", "--workers", workers]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("prog: error: ") and len(err.splitlines()) == 1
    assert str(folder / "im1.png") in err
    assert not (tmp_path / "m.json").exists()


def test_appledouble_files_are_skipped(tmp_path: Path):
    pdir, gdir = _scene_folders(tmp_path, ["a"])
    (pdir / "._a.png").write_bytes(b"\x00\x05\x16\x07AppleDouble")  # macOS resource fork
    (gdir / "._a.png").write_bytes(b"\x00\x05\x16\x07AppleDouble")
    summary, _ = evaluate_dis_folder(pdir, gdir, progress=False)
    assert summary["num_images"] == 1


# --- COS GT files ---
def _cos_case(tmp_path: Path) -> tuple:
    pdir = tmp_path / "pred"
    pdir.mkdir()
    m = np.zeros((20, 30), np.uint8)
    m[5:15, 5:20] = 255
    cv2.imwrite(str(pdir / "c.png"), m)
    ann = {"id": 1, "image_id": 1, "category_id": 1, "segmentation": encode_rle(m > 0)}
    good = coco_dict((20, 30), [ann], ["c.jpg"])
    return pdir, good


def _bad_coco(good: dict, kind: str):
    if kind == "list":
        return [good]
    bad = json.loads(json.dumps(good))
    if kind == "no-categories":
        del bad["categories"]
    elif kind == "empty-images":
        bad["images"] = []
    elif kind == "bad-segmentation":
        bad["annotations"][0]["segmentation"] = 7
    elif kind == "bad-rle":
        bad["annotations"][0]["segmentation"] = {"counts": "x", "size": [3, 3]}
    return bad


@pytest.mark.parametrize(
    "kind",
    ["missing", "empty", "malformed", "list", "no-categories", "empty-images", "bad-segmentation"]
    + ["bad-rle"],
)
def test_cos_bad_gt_json_one_line_naming_the_file(tmp_path: Path, capsys, kind):
    pdir, good = _cos_case(tmp_path)
    gt_json = tmp_path / "gt.json"
    if kind == "empty":
        gt_json.write_text("")
    elif kind == "malformed":
        gt_json.write_text('{"images": [')
    elif kind != "missing":
        gt_json.write_text(json.dumps(_bad_coco(good, kind)))
    out = tmp_path / "ap.json"
    args = ["--task", "cos", "--pred-dir", str(pdir), "--gt-json", str(gt_json), "--out", str(out)]
    assert exit_status(evaluate_main, args + ["--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("prog: error: ") and len(err.splitlines()) == 1, err
    assert str(gt_json) in err
    assert not out.exists()
    # The good file scores (the error above came from the edit, not from the setup).
    gt_json.write_text(json.dumps(good))
    assert evaluate_main(args + ["--quiet"]) == 0
    assert json.loads(out.read_text())["AP"] == pytest.approx(1.0)


# --- pmgsam.report ---
def test_report_refuses_empty_malformed_runs_and_an_out_file(tmp_path: Path, capsys):
    from pmgsam import report

    good = tmp_path / "good"
    good.mkdir()
    (good / "run.json").write_text(json.dumps({"cos": {"COD10K": {"AP": 0.5}}}))
    for name, text in (("empty", "{}"), ("broken", '{"dis": '), ("array", "[1, 2]")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "run.json").write_text(text)
        argv = [good, tmp_path / name, "--out", tmp_path / "t"]
        assert exit_status(report.main, argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and str(tmp_path / name / "run.json") in err, err
    assert not (tmp_path / "t").exists()
    out_file = tmp_path / "tables.md"
    out_file.write_text("keep me")
    assert exit_status(report.main, [good, "--out", out_file]) == 2
    assert "tables.md" in capsys.readouterr().err
    assert out_file.read_text() == "keep me"
    assert report.main([str(good), "--out", str(tmp_path / "t")]) == 0
    assert (tmp_path / "t" / "cos.md").exists()


def test_unreadable_mask_is_a_data_error_naming_it(tmp_path: Path):
    (tmp_path / "m.png").write_bytes(b"")
    with pytest.raises(DataError, match=r"m\.png"):
        load_mask(tmp_path / "m.png")
    assert issubclass(EvaluationInputError, DataError)
