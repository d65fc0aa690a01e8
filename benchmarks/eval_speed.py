"""Scoring speed: ``python evaluate.py`` vs the six metrics computed serially with PySODMetrics.

Generates ``--num`` soft prediction / GT pairs (``--scene dis``: DIS-like thin structures and
holes with a noisy map; ``--scene simple``: two ellipses and a clean map) of mixed sizes (0.3 to
8 MP, cycling through ``SIZES``; ``--large``: 3-8 MP only) as PNGs in a temporary folder
(deleted afterwards unless ``--keep``), then times two whole commands, each in a fresh process
(interpreter start, imports, PNG reading and pool start-up included):

* baseline: ``python benchmarks/eval_speed.py --baseline P G``, PySODMetrics 1.6.2 in one
  process, one image after another: Fmeasure, WeightedFmeasure, MAE, Smeasure, Emeasure and its
  HumanCorrectionEffortMeasure;
* pmgsam: ``python evaluate.py --pred-dir P --gt-dir G --workers N --out M.json``.

The commands alternate ``--repeat`` times. It checks F, wF, MAE, S, E agree to 1e-9 and prints
both HCE means (their definitions differ on soft maps, see pmgsam.evaluation.hce). Usage::

    python benchmarks/eval_speed.py --num 12 --workers 2 --repeat 2
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# png_files is a sibling: on the path when run as a script, not when a test loads this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from png_files import read_gray, write_png  # noqa: E402

# (H, W) in MP: 0.3, 0.5, 0.8, 1.2, 0.3, 0.5, 2.1, 3.1, 0.3, 0.8, 5.0, 8.0 -- more small images
# than large ones, the harder case for a pool (start-up and imports weigh more).
SIZES = [
    (480, 640),
    (600, 800),
    (768, 1024),
    (960, 1280),
    (480, 640),
    (600, 800),
    (1080, 1920),
    (1536, 2048),
    (480, 640),
    (768, 1024),
    (1944, 2592),
    (2448, 3264),
]
LARGE_SIZES = [(1536, 2048), (1728, 2304), (2048, 2732), (2160, 3840), (1920, 2560), (2048, 3072)]


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


def make_simple_pair(h: int, w: int, seed: int) -> tuple:
    """A plain scene: two filled ellipses and a lightly blurred, slightly shifted prediction."""
    rng = np.random.default_rng(seed)
    gt = np.zeros((h, w), np.uint8)
    for _ in range(2):
        c = (int(rng.integers(w // 4, 3 * w // 4)), int(rng.integers(h // 4, 3 * h // 4)))
        axes = (int(rng.integers(w // 10, w // 4)), int(rng.integers(h // 10, h // 4)))
        cv2.ellipse(gt, c, axes, float(rng.uniform(0, 180)), 0, 360, 255, -1)
    shift = np.float32([[1, 0, rng.uniform(-2, 2)], [0, 1, rng.uniform(-2, 2)]])
    f = cv2.GaussianBlur(cv2.warpAffine(gt.astype(np.float32), shift, (w, h)), (0, 0), 2)
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
        gt = read_gray(gt_path)
        pred = read_gray(pred_dir / gt_path.name)
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


def _timed(cmd: list) -> tuple:
    """(wall seconds, stdout) of a command run to completion from the repository root."""
    t0 = time.perf_counter()
    # surrogateescape: evaluate.py prints the folder's name, whose bytes may not be UTF-8.
    res = subprocess.run(
        cmd, check=True, cwd=ROOT, stdout=subprocess.PIPE, text=True, errors="surrogateescape"
    )
    return time.perf_counter() - t0, res.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--num", type=int, default=12)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=1, help="alternating runs of both commands")
    ap.add_argument("--large", action="store_true", help="3-8 MP images only")
    ap.add_argument(
        "--scene",
        choices=["dis", "simple"],
        default="dis",
        help="dis: thin structures, holes, noisy map (default); simple: two ellipses, clean map",
    )
    ap.add_argument("--keep", help="write the generated data here and keep it")
    ap.add_argument("--json", help="also write the timings to this JSON file")
    ap.add_argument("--baseline", nargs=2, metavar=("PRED", "GT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.baseline:  # the timed baseline command: print PySODMetrics' numbers as JSON
        print(json.dumps(baseline(Path(args.baseline[0]), Path(args.baseline[1]))))
        return

    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="pmgsam_evalspeed_"))
    pred_dir, gt_dir = root / "pred", root / "gt"
    pred_dir.mkdir(parents=True, exist_ok=True)
    gt_dir.mkdir(parents=True, exist_ok=True)
    sizes = LARGE_SIZES if args.large else SIZES
    try:
        pixels = []
        for i in range(args.num):
            h, w = sizes[i % len(sizes)]
            make = make_pair if args.scene == "dis" else make_simple_pair
            pred, gt = make(h, w, args.seed + i)
            write_png(pred_dir / f"{i:03d}.png", pred)
            write_png(gt_dir / f"{i:03d}.png", gt)
            pixels.append(h * w / 1e6)
        print(
            f"{args.num} pairs, {min(pixels):.1f}-{max(pixels):.1f} MP "
            f"({np.mean(pixels):.1f} MP on average), in {root}"
        )
        out = root / "metrics.json"
        ours_cmd = [sys.executable, "evaluate.py", "--pred-dir", str(pred_dir)]
        ours_cmd += ["--gt-dir", str(gt_dir), "--workers", str(args.workers), "--out", str(out)]
        ref_cmd = [sys.executable, str(Path(__file__).resolve()), "--baseline"]
        ref_cmd += [str(pred_dir), str(gt_dir)]
        t_ours, t_ref = [], []
        for _ in range(args.repeat):
            t, ref_out = _timed(ref_cmd)
            t_ref.append(t)
            print(f"PySODMetrics serial: {t:.2f} s")
            t_ours.append(_timed(ours_cmd)[0])
            print(f"pmgsam evaluate.py --workers {args.workers}: {t_ours[-1]:.2f} s")

        ours = json.loads(out.read_text(encoding="utf-8"))
        ref = json.loads(ref_out)
        diffs = {
            k: abs(ours[k] - ref[k]) for k in ("maxFm", "wFmeasure", "MAE", "Smeasure", "meanEm")
        }
        assert max(diffs.values()) <= 1e-9, diffs
        result = {
            "scene": args.scene,
            "num_images": args.num,
            "megapixels_min_mean_max": [min(pixels), float(np.mean(pixels)), max(pixels)],
            "workers": args.workers,
            "pysodmetrics_serial_s": [round(t, 2) for t in t_ref],
            "pmgsam_evaluate_s": [round(t, 2) for t in t_ours],
            "speedup_per_run": [round(r / o, 2) for r, o in zip(t_ref, t_ours)],
            "max_abs_diff_F_wF_MAE_S_E": max(diffs.values()),
            "HCE_official_pmgsam": ours["HCE"],
            "HCE_pysodmetrics_variant": ref["HCE"],
        }
        print(json.dumps(result, indent=2))
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
