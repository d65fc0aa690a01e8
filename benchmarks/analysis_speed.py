"""Per-image passes of the analyses: the figures' ranking by IoU, the overlap subset and the
Pre-Mask analysis' scoring.

Generates with :mod:`pmgsam.data.synthetic` a DIS5K tree (``--num`` training images, so
``num // 4`` in each of DIS-TE1..4) and a COD10K tree (``num // 2`` CAM test images) of
``--size`` images in a temporary folder (deleted afterwards unless ``--keep``), writes blurred
copies of the DIS-TE masks as one run's predictions and Pre-Mask maps, then times in this
process, best of ``--repeat``:

* ``figures.worst_images(..., "iou", ...)`` over DIS-TE (what ``figures --by iou`` waits on);
* ``overlap.overlapping_image_ids`` on the COD10K test instances, for each rule;
* ``premask.analyse`` of the Pre-Mask and final maps of DIS-TE (two maps per image scored,
  the files and the scatter plot written).

To compare with another checkout, run this file with ``PYTHONPATH`` set to that checkout::

    python benchmarks/analysis_speed.py --num 800 --size 320x240 --repeat 3
"""

from __future__ import annotations

import argparse
import inspect
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# png_files is a sibling: on the path when run as a script, not when a test loads this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from png_files import read_gray, write_png  # noqa: E402


def _best(call: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def _quiet(fn: Callable[..., Any]) -> Dict[str, bool]:
    """``progress=False`` where the checkout's function takes it (older ones have no bar)."""
    return {"progress": False} if "progress" in inspect.signature(fn).parameters else {}


def _predictions(dis: Path, run: Path, seed: int) -> None:
    """Blurred GT masks (a different blur per image and kind) as the run's DIS-TE final and
    Pre-Mask probability maps."""
    rng = np.random.default_rng(seed)
    for kind in ("pred", "premask"):
        for part in ("DIS-TE1", "DIS-TE2", "DIS-TE3", "DIS-TE4"):
            out = run / kind / part
            out.mkdir(parents=True)
            for gt in sorted((dis / part / "gt").glob("*.png")):
                mask = read_gray(gt)
                blur = cv2.GaussianBlur(mask, (0, 0), rng.uniform(0.5, 6))
                write_png(out / gt.name, blur)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--num", type=int, default=800, help="DIS-TR images (see the docstring)")
    p.add_argument("--size", default="320x240", help="WxH of the generated images")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--keep", help="generate into this folder and keep it (reused if there)")
    args = p.parse_args()
    from pmgsam.analysis import figures, overlap
    from pmgsam.analysis.inputs import split_images
    from pmgsam.data.synthetic import generate
    from pmgsam.evaluation.coco_gt import load_coco

    w, h = (int(v) for v in args.size.split("x"))
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="analysis_speed_"))
    try:
        dis = generate("dis5k", folder, args.num, 0, (w, h), progress=False)
        cod = generate("cod10k", folder, args.num, 1, (w, h), progress=False)
        run = folder / "run"
        if not run.is_dir():
            _predictions(dis, run, 0)
        config = ROOT / "configs" / "pmgsam_dis5k.yaml"
        images = split_images(config, "DIS-TE", [f"data.root={dis}"])
        kwargs = _quiet(figures.worst_images)
        seconds = _best(
            lambda: figures.worst_images(images, run, "DIS-TE", "iou", 8, **kwargs), args.repeat
        )
        print(f"figures --by iou, {len(images.names)} maps: {seconds:.3f} s")
        data = json.loads((cod / "Test" / "CAM_Instance_Test.json").read_text(encoding="utf-8"))
        coco = load_coco(data)
        kwargs = _quiet(overlap.overlapping_image_ids)
        for rule in overlap.RULES:
            ids = overlap.overlapping_image_ids(coco, rule, 1, **kwargs)
            seconds = _best(
                lambda rule=rule: overlap.overlapping_image_ids(coco, rule, 1, **kwargs),
                args.repeat,
            )
            print(
                f"overlap --rule {rule}, {len(data['images'])} images ({len(ids)} chosen): "
                f"{seconds:.3f} s"
            )
        from pmgsam.analysis import premask
        from pmgsam.analysis.inputs import part_folders

        sources = {
            premask.PREMASK: images.maps(part_folders(run, "premask", "DIS-TE"), "Pre-Mask"),
            premask.FINAL: images.maps(part_folders(run, "pred", "DIS-TE"), "final"),
        }
        kwargs = _quiet(premask.analyse)
        out = folder / "premask_out"
        seconds = _best(
            lambda: premask.analyse(images.names, images.mask_paths, sources, out, **kwargs),
            args.repeat,
        )
        print(f"premask analyse, {2 * len(images.names)} maps: {seconds:.3f} s")
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
