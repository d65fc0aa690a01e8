"""Evaluation speed: pmgsam's DIS scoring vs serial PySODMetrics on 2K-4K masks.

Generates ``--num`` DIS-like soft prediction / GT pairs (2048x1536 ... 3840x2160) as PNGs in a
temporary folder (deleted afterwards unless ``--keep``), then times, in one run:

* baseline: PySODMetrics, one image after another: Fmeasure, WeightedFmeasure, MAE, Smeasure,
  Emeasure and its HumanCorrectionEffortMeasure (PNG reading included);
* pmgsam: ``evaluate_dis_folder`` with ``--workers`` processes (reading, pool start included),
  official DIS HCE.

It checks F, wF, MAE, S, E agree to 1e-9 and prints both HCE means (their definitions differ on
soft maps, see pmgsam.evaluation.hce). Usage::

    python benchmarks/eval_speed.py --num 16 --workers 2
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import cv2
import numpy as np

SIZES = [(1536, 2048), (1728, 2304), (2048, 2732), (2160, 3840), (1920, 2560), (2048, 3072)]


def make_pair(h: int, w: int, seed: int) -> tuple:
    """DIS-like GT (large polygons, thin structures, holes) and a soft, shifted, noisy map."""
    rng = np.random.default_rng(seed)
    gt = np.zeros((h, w), np.uint8)
    for _ in range(6):
        pts = rng.integers(0, [w, h], size=(int(rng.integers(3, 9)), 2)).astype(np.int32)
        cv2.fillPoly(gt, [cv2.convexHull(pts)], 255)
    for _ in range(40):
        a, b = rng.integers(0, [w, h], size=(2, 2)).tolist()
        cv2.line(gt, tuple(a), tuple(b), 255, int(rng.integers(1, 6)))
    for _ in range(15):
        c = rng.integers(0, [w, h]).tolist()
        cv2.circle(gt, tuple(c), int(rng.integers(5, 80)), 0, -1)
    shift = np.float32([[1, 0, rng.uniform(-3, 3)], [0, 1, rng.uniform(-3, 3)]])
    f = cv2.GaussianBlur(cv2.warpAffine(gt.astype(np.float32), shift, (w, h)), (0, 0), 3)
    f += cv2.GaussianBlur(rng.normal(0, 60, (h, w)).astype(np.float32), (0, 0), 8) * 4
    for _ in range(10):
        c = rng.integers(0, [w, h]).tolist()
        cv2.circle(f, tuple(c), int(rng.integers(3, 40)), float(rng.uniform(100, 255)), -1)
    return np.clip(f, 0, 255).astype(np.uint8), gt


def baseline(pred_dir: Path, gt_dir: Path) -> dict:
    import py_sod_metrics as psm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ms = [
            psm.Fmeasure(),
            psm.WeightedFmeasure(),
            psm.MAE(),
            psm.Smeasure(),
            psm.Emeasure(),
            psm.HumanCorrectionEffortMeasure(),
        ]
    for gt_path in sorted(gt_dir.glob("*.png")):
        gt = cv2.imread(str(gt_path), cv2.IMREAD_GRAYSCALE)
        pred = cv2.imread(str(pred_dir / gt_path.name), cv2.IMREAD_GRAYSCALE)
        for m in ms:
            m.step(pred, gt)
    fm, wfm, mae, sm, em, hce = (m.get_results() for m in ms)
    return {
        "maxFm": float(fm["fm"]["curve"].max()),
        "wFmeasure": float(wfm["wfm"]),
        "MAE": float(mae["mae"]),
        "Smeasure": float(sm["sm"]),
        "meanEm": float(em["em"]["curve"].mean()),
        "HCE": float(hce["hce"]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--num", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", help="write the generated data here and keep it")
    ap.add_argument("--json", help="also write the timings to this JSON file")
    args = ap.parse_args()

    from pmgsam.evaluation.scoring import evaluate_dis_folder

    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="pmgsam_evalspeed_"))
    pred_dir, gt_dir = root / "pred", root / "gt"
    pred_dir.mkdir(parents=True, exist_ok=True)
    gt_dir.mkdir(parents=True, exist_ok=True)
    try:
        pixels = 0
        for i in range(args.num):
            h, w = SIZES[i % len(SIZES)]
            pred, gt = make_pair(h, w, args.seed + i)
            cv2.imwrite(str(pred_dir / f"{i:03d}.png"), pred)
            cv2.imwrite(str(gt_dir / f"{i:03d}.png"), gt)
            pixels += h * w
        print(f"{args.num} pairs, {pixels / args.num / 1e6:.1f} MP on average, in {root}")

        t0 = time.perf_counter()
        ours, _ = evaluate_dis_folder(pred_dir, gt_dir, workers=args.workers, progress=False)
        t_ours = time.perf_counter() - t0
        print(f"pmgsam ({args.workers} workers): {t_ours:.1f} s")
        t0 = time.perf_counter()
        ref = baseline(pred_dir, gt_dir)
        t_ref = time.perf_counter() - t0
        print(f"PySODMetrics serial: {t_ref:.1f} s")

        diffs = {
            k: abs(ours[k] - ref[k]) for k in ("maxFm", "wFmeasure", "MAE", "Smeasure", "meanEm")
        }
        assert max(diffs.values()) <= 1e-9, diffs
        result = {
            "num_images": args.num,
            "workers": args.workers,
            "pysodmetrics_serial_s": round(t_ref, 2),
            "pmgsam_s": round(t_ours, 2),
            "speedup": round(t_ref / t_ours, 2),
            "max_abs_diff_F_wF_MAE_S_E": max(diffs.values()),
            "HCE_official_pmgsam": ours["HCE"],
            "HCE_pysodmetrics_variant": ref["HCE"],
        }
        print(json.dumps(result, indent=2))
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
