"""Scoring a folder of DIS predictions: evaluate_dis_folder and the evaluate.py command line
(metrics files, missing or extra predictions, size mismatches, benchmark mode)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import cv2
import numpy as np
import pytest
from cli_cases import evaluate_main
from mask_cases import make_pair, pysod_scores
from skimage.morphology import skeletonize
from test_hce import ref_relax_hce

from pmgsam.evaluation import scoring
from pmgsam.evaluation.scoring import EvaluationInputError, evaluate_dis_folder
from pmgsam.utils.cli import exit_status


# --- folder scoring and CLI ---
def _write_folder(tmp_path: Path, n: int = 3) -> tuple:
    pdir, gdir = tmp_path / "pred", tmp_path / "gt"
    pdir.mkdir()
    gdir.mkdir()
    pairs = [make_pair(100 + 9 * i, 130, 40 + i) for i in range(n)]
    for i, (p, g) in enumerate(pairs):
        cv2.imwrite(str(pdir / f"img{i}.png"), p)
        cv2.imwrite(str(gdir / f"img{i}.png"), g)
    return pdir, gdir, pairs


def _die(item):
    os._exit(9)  # as the kernel's OOM killer ends a worker: no exception, no result


def test_a_worker_that_dies_is_an_error_not_a_hang(tmp_path: Path, monkeypatch):
    # multiprocessing.Pool would replace the dead worker and wait forever for its image.
    if not hasattr(signal, "SIGALRM"):
        pytest.skip("needs SIGALRM to bound the wait")
    pdir, gdir, _ = _write_folder(tmp_path, n=2)
    # Spawned workers (this process holds torch's threads) unpickle _die from this module.
    monkeypatch.setattr(scoring, "_score_indexed", _die)

    def hung(*_):
        raise AssertionError("scoring still waits for a dead worker after 60 s")

    signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    try:
        with pytest.raises(RuntimeError, match="worker process died"):
            evaluate_dis_folder(pdir, gdir, workers=2, progress=False)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)


def test_folder_scoring_parallel_matches_in_process(tmp_path: Path):
    pdir, gdir, pairs = _write_folder(tmp_path)
    s1, per1 = evaluate_dis_folder(pdir, gdir, workers=2, progress=False)
    s0, _ = evaluate_dis_folder(pdir, gdir, workers=1, progress=False)
    assert s1 == s0
    assert [r.name for r in per1] == ["img0", "img1", "img2"]
    ref = pysod_scores(pairs)
    assert all(abs(s1[k] - ref[k]) <= 1e-9 for k in ref)
    hces = [sum(ref_relax_hce(g, p, skeletonize(g > 128))) for p, g in pairs]  # official tool
    assert s1["HCE"] == pytest.approx(np.mean(hces), abs=1e-12)


def test_cli_writes_metrics_and_per_image(tmp_path: Path):
    pdir, gdir, _ = _write_folder(tmp_path)
    out = tmp_path / "res" / "metrics.json"
    assert (
        evaluate_main(
            [
                "--pred-dir",
                str(pdir),
                "--gt-dir",
                str(gdir),
                "--out",
                str(out),
                "--workers",
                "1",
                "--quiet",
            ]
        )
        == 0
    )
    data = json.loads(out.read_text())
    assert {"maxFm", "wFmeasure", "MAE", "Smeasure", "meanEm", "HCE", "num_images"} <= set(data)
    assert data["num_images"] == 3
    lines = (tmp_path / "res" / "metrics.per_image.csv").read_text().splitlines()
    assert lines[0].startswith("name,maxFm,wFmeasure,MAE,Smeasure,meanEm,HCE")
    assert [ln.split(",")[0] for ln in lines[1:]] == ["img0", "img1", "img2"]


def test_cli_missing_and_extra_predictions_are_listed(tmp_path: Path, capsys):
    pdir, gdir, _ = _write_folder(tmp_path)
    (pdir / "img1.png").unlink()
    cv2.imwrite(str(pdir / "stray.png"), np.zeros((5, 5), np.uint8))
    rc = exit_status(
        evaluate_main,
        ["--pred-dir", pdir, "--gt-dir", gdir, "--out", tmp_path / "m.json", "--quiet"],
    )
    err = capsys.readouterr().err
    assert rc == 2
    assert "1 GT image(s)" in err and "img1.png" in err
    assert "1 prediction(s)" in err and "stray.png" in err
    assert not (tmp_path / "m.json").exists()


def test_size_mismatch_error_and_resize(tmp_path: Path, capsys):
    pdir, gdir, pairs = _write_folder(tmp_path, n=2)
    p0, g0 = pairs[0]
    small = cv2.resize(p0, (65, 50), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(pdir / "img0.png"), small)
    args = ["--pred-dir", str(pdir), "--gt-dir", str(gdir), "--out", str(tmp_path / "m.json")]
    assert exit_status(evaluate_main, args + ["--quiet"]) == 2
    err = capsys.readouterr().err
    assert "img0.png 65x50 vs GT img0.png 130x100" in err and "--resize-pred" in err
    with pytest.raises(EvaluationInputError):
        evaluate_dis_folder(pdir, gdir, progress=False)
    summary, per = evaluate_dis_folder(pdir, gdir, resize_pred=True, progress=False)
    resized = cv2.resize(small, (130, 100), interpolation=cv2.INTER_LINEAR)
    ref = pysod_scores([(resized, g0)])
    assert per[0].wfm == pytest.approx(ref["wFmeasure"], abs=1e-9)
    assert per[0].hce.total == sum(ref_relax_hce(g0, resized, skeletonize(g0 > 128)))


# --- benchmark mode orchestration (prediction and dataset stubbed) ---
def test_benchmark_mode_predicts_scores_and_writes_run(tmp_path: Path, monkeypatch, capsys):
    import sys
    import types

    pdir, gdir, _ = _write_folder(tmp_path, n=2)
    calls = []

    def predict_split(config, checkpoint, split, out_dir, device, batch_size, overrides, **kw):
        calls.append((split, device, batch_size, list(overrides)))
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for p in sorted(pdir.iterdir()):
            (out / p.name).write_bytes(p.read_bytes())
        return out

    ds = types.SimpleNamespace(
        names=["img0", "img1"],
        mask_paths=[gdir / "img0.png", gdir / "img1.png"],
        skeleton_paths=None,
    )
    monkeypatch.setitem(
        sys.modules, "pmgsam.engine.inference", types.SimpleNamespace(predict_split=predict_split)
    )
    import pmgsam.data

    monkeypatch.setattr(pmgsam.data, "build_dataset", lambda *a, **k: ds, raising=False)
    import pmgsam.evaluation.benchmark as benchmark

    data = types.SimpleNamespace(dataset="dis5k", test_splits=["DIS-VD"], root=str(tmp_path))
    monkeypatch.setattr(benchmark, "_data_config", lambda *a: (data, 64))
    run_dir = tmp_path / "results" / "r1"
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"weights")  # only its digest is read: prediction is replaced
    config = tmp_path / "c.yaml"  # never read (_data_config is replaced), but it must exist
    config.write_text("{}\n", encoding="utf-8")
    args = [
        "--config",
        str(config),
        "--checkpoint",
        str(weights),
        "--dataset",
        "dis5k",
        "--splits",
        "DIS-VD,DIS-TE1",
        "--output-dir",
        str(run_dir),
        "--device",
        "cpu",
        "--batch-size",
        "2",
        "--workers",
        "1",
        "--quiet",
        "model.image_size=64",
    ]
    assert evaluate_main(args) == 0
    assert [c[0] for c in calls] == ["DIS-VD", "DIS-TE1"]
    assert calls[0][1:3] == ("cpu", 2) and "model.image_size=64" in calls[0][3]
    run = json.loads((run_dir / "run.json").read_text())
    assert run["method"] == "r1" and set(run["dis"]) == {"DIS-VD", "DIS-TE1"}
    assert run["dis"]["DIS-VD"]["num_images"] == 2
    assert (run_dir / "metrics" / "DIS-TE1.per_image.csv").exists()
    assert "### DIS-VD" in capsys.readouterr().out
