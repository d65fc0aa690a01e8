"""Generated datasets in the official DIS5K / COD10K-v3 / NC4K layouts (for tests and the demo).

``python -m pmgsam.data.synthetic --layout dis5k --out DIR --num 20 --seed 0 --size 320x240``

* ``dis5k`` -> ``DIR/DIS5K/{DIS-TR,DIS-VD,DIS-TE1..4}/{im,gt}``: ``num`` training images and
  ``max(2, num // 4)`` in each other split. Salient objects made of several parts with holes and
  thin wires / fences, textured to contrast with a textured background.
* ``cod10k`` -> ``DIR/COD10K-v3/{Train,Test}/{Image,GT_Object,GT_Edge,GT_Instance}`` plus
  ``CAM_Instance_<Split>.json`` (COCO, polygons, several category ids) in each split folder:
  ``num`` CAM images for Train and ``max(2, num // 2)`` for Test, plus a few ``COD10K-NonCAM-*``
  images without any GT (as in the official release). Instance PNGs are palette images.
* ``nc4k`` -> ``DIR/NC4K/{Imgs,GT,Instance}``: one pool of ``num`` images; instance PNGs are RGB.

Camouflaged images hold 1-3 blob instances whose texture and colour follow the background. Image
sizes vary around ``--size`` (same area, aspect ratio jittered). Everything is deterministic for a
seed (>= 0); ``num`` is in [2, :data:`MAX_NUM`], each side of ``size`` in [24, :data:`MAX_SIDE`].
``synthetic_manifest.json`` in the dataset folder records the parameters and the number of
instances of every image; a second call with the same parameters reuses the existing tree. The
images and masks are drawn by :mod:`pmgsam.data.synthetic_drawing`; this module writes them.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Dict, List, Tuple

import cv2
import numpy as np
from PIL import Image

from pmgsam.utils.cli import non_negative_int

from .io import DataError
from .synthetic_drawing import camo_image, dis_mask, image_hw, render

LAYOUTS = {"dis5k": "DIS5K", "cod10k": "COD10K-v3", "nc4k": "NC4K"}
MANIFEST = "synthetic_manifest.json"
_DIS_CATEGORIES = ["Accessories", "Furniture", "Electrical", "Frame", "Tool", "Kitchen"]
_COD_CLASSES = [("Aquatic", "Fish"), ("Terrestrial", "Lizard"), ("Flying", "Moth")]
_INSTANCE_COLOURS = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48)]


def _write_jpg(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])


def _write_png(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), arr if arr.ndim == 2 else cv2.cvtColor(arr, cv2.COLOR_RGB2BGR))


def _palette_png(path: Path, label: np.ndarray) -> None:
    img = Image.fromarray(label.astype(np.uint8), mode="P")
    palette = [0, 0, 0] + [c for col in _INSTANCE_COLOURS for c in col]
    img.putpalette(palette + [0] * (768 - len(palette)))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)


def _polygons(mask: np.ndarray) -> List[List[float]]:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    return [c.reshape(-1).astype(float).tolist() for c in contours if len(c) >= 3]


def _dis5k(out: Path, num: int, seed: int, size: Tuple[int, int], bar) -> Dict[str, Dict]:
    counts = {"DIS-TR": num, "DIS-VD": max(2, num // 4)}
    counts.update({f"DIS-TE{i}": max(2, num // 4) for i in range(1, 5)})
    manifest: Dict[str, Dict] = {}
    for s_idx, (split, n) in enumerate(counts.items()):
        manifest[split] = {}
        tag = split.split("-")[1]
        for i in range(n):
            rng = np.random.default_rng([seed, s_idx, i])
            h, w = image_hw(rng, size)
            cat = int(rng.integers(len(_DIS_CATEGORIES)))
            stem = f"{cat + 1}#{_DIS_CATEGORIES[cat]}#{tag}#Synthetic#{i + 1:04d}"
            mask = dis_mask(rng, h, w)
            _write_jpg(out / split / "im" / f"{stem}.jpg", render(rng, h, w, mask, camo=False))
            _write_png(out / split / "gt" / f"{stem}.png", mask * 255)
            manifest[split][stem] = None
            bar(1)
    return manifest


def _cod10k(out: Path, num: int, seed: int, size: Tuple[int, int], bar) -> Dict[str, Dict]:
    manifest: Dict[str, Dict] = {}
    counter = 0
    for s_idx, (split, n_cam, n_non) in enumerate(
        (("Train", num, max(1, num // 4)), ("Test", max(2, num // 2), max(1, num // 8)))
    ):
        base = out / split
        manifest[split] = {}
        coco = {"images": [], "annotations": [], "categories": []}
        coco["categories"] = [{"id": i + 1, "name": c[1]} for i, c in enumerate(_COD_CLASSES)]
        for i in range(n_cam + n_non):
            rng = np.random.default_rng([seed, s_idx, i])
            counter += 1
            cls = int(rng.integers(len(_COD_CLASSES)))
            kind = "CAM" if i < n_cam else "NonCAM"
            sup, sub = _COD_CLASSES[cls]
            stem = f"COD10K-{kind}-{cls + 1}-{sup}-{cls + 1}-{sub}-{counter}"
            if kind == "NonCAM":
                h, w = image_hw(rng, size)
                _write_jpg(
                    base / "Image" / f"{stem}.jpg", render(rng, h, w, np.zeros((h, w)), False)
                )
                bar(1)
                continue
            label, union, img = camo_image(rng, size)
            h, w = label.shape
            _write_jpg(base / "Image" / f"{stem}.jpg", img)
            _write_png(base / "GT_Object" / f"{stem}.png", union * 255)
            edge = cv2.morphologyEx(union, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
            _write_png(base / "GT_Edge" / f"{stem}.png", edge * 255)
            _palette_png(base / "GT_Instance" / f"{stem}.png", label)
            # Ids unrelated to sample order, as in the official file.
            image_id = 5000 + counter
            coco["images"].append(
                {"id": image_id, "file_name": f"{stem}.jpg", "height": h, "width": w}
            )
            for v in range(1, int(label.max()) + 1):
                m = (label == v).astype(np.uint8)
                x, y, bw, bh = cv2.boundingRect(m)
                coco["annotations"].append(
                    {
                        "id": len(coco["annotations"]) + 1,
                        "image_id": image_id,
                        "category_id": cls + 1,
                        "segmentation": _polygons(m),
                        "area": float(m.sum()),
                        "bbox": [x, y, bw, bh],
                        "iscrowd": 0,
                    }
                )
            manifest[split][stem] = int(label.max())
            bar(1)
        (base / f"CAM_Instance_{split}.json").write_text(json.dumps(coco))
    return manifest


def _nc4k(out: Path, num: int, seed: int, size: Tuple[int, int], bar) -> Dict[str, Dict]:
    manifest: Dict[str, Dict] = {"all": {}}
    colours = np.array([(0, 0, 0)] + _INSTANCE_COLOURS, np.uint8)
    for i in range(num):
        rng = np.random.default_rng([seed, 0, i])
        label, union, img = camo_image(rng, size)
        stem = str(i + 1)
        _write_jpg(out / "Imgs" / f"{stem}.jpg", img)
        _write_png(out / "GT" / f"{stem}.png", union * 255)
        _write_png(out / "Instance" / f"{stem}.png", colours[label])
        manifest["all"][stem] = int(label.max())
        bar(1)
    return manifest


# Drawing takes ~100 bytes a pixel (4096x4096: ~2 GB); MAX_NUM makes ~700k COD10K files.
MAX_SIDE = 4096
MAX_NUM = 100_000


def parse_size(text: str) -> Tuple[int, int]:
    """``"320x240"`` -> (320, 240) as (width, height)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError as err:
        raise ValueError(f"size must look like 320x240 (WxH), got {text!r}") from err
    if w < 24 or h < 24:
        raise ValueError(f"size must be at least 24x24, got {text!r}")
    if w > MAX_SIDE or h > MAX_SIDE:
        raise ValueError(f"size must be at most {MAX_SIDE}x{MAX_SIDE}, got {text!r}")
    return w, h


def _size_option(text: str) -> Tuple[int, int]:
    """argparse type of ``--size`` (argparse drops a ValueError's message, not this one's)."""
    try:
        return parse_size(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def generate(
    layout: str,
    out: str | Path,
    num: int = 20,
    seed: int = 0,
    size: Tuple[int, int] = (320, 240),
    overwrite: bool = False,
    progress: bool = False,
    overwrite_option: str = "overwrite=True",
) -> Path:
    """Write a synthetic dataset under ``out`` and return its root (e.g. ``out/DIS5K``).

    ``size`` is (width, height); ``overwrite`` removes an earlier generated tree (only one that
    carries this generator's manifest) whose parameters differ. ``overwrite_option`` is how the
    caller sets it, named in the error (the CLI's is ``--overwrite``).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {sorted(LAYOUTS)}, got {layout!r}")
    if not 2 <= num <= MAX_NUM:
        raise ValueError(f"num must be in [2, {MAX_NUM}], got {num}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative (numpy's rule), got {seed}")
    root = Path(out) / LAYOUTS[layout]
    params = {"layout": layout, "num": num, "seed": seed, "size": list(size)}
    manifest_path = root / MANIFEST
    if root.exists() and any(root.iterdir()):
        old = json.loads(manifest_path.read_text()) if manifest_path.is_file() else None
        if old is not None and old.get("params") == params:
            return root
        if old is None or not overwrite:
            raise DataError(
                f"'{root}' already exists"
                + (
                    f" with other parameters; pass {overwrite_option}"
                    if old
                    else " and was not made by this generator; choose another output folder"
                )
            )
        shutil.rmtree(root)
    total = {"dis5k": num + 5 * max(2, num // 4), "nc4k": num}.get(
        layout, num + max(2, num // 2) + max(1, num // 4) + max(1, num // 8)
    )
    pbar = None
    if progress:
        from tqdm import tqdm

        pbar = tqdm(total=total, desc=f"synthetic {layout}", unit="img")
    bar = pbar.update if pbar is not None else (lambda n: None)
    writer = {"dis5k": _dis5k, "cod10k": _cod10k, "nc4k": _nc4k}[layout]
    try:
        splits = writer(root, num, seed, tuple(size), bar)
    finally:
        if pbar is not None:
            pbar.close()
    manifest_path.write_text(json.dumps({"params": params, "splits": splits}, indent=1))
    return root


def load_manifest(root: str | Path) -> Dict:
    """The manifest of a generated tree: ``{"params": ..., "splits": {split: {stem: n_inst}}}``."""
    return json.loads((Path(root) / MANIFEST).read_text())


def main(argv: List[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m pmgsam.data.synthetic", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--layout", required=True, choices=sorted(LAYOUTS))
    parser.add_argument(
        "--out", required=True, help="output folder (the dataset folder goes in it)"
    )
    parser.add_argument("--num", type=int, default=20, help="training images (see module doc)")
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument("--size", type=_size_option, default=(320, 240), help="WxH, e.g. 320x240")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an earlier generated tree"
    )
    parser.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    args = parser.parse_args(argv)
    if not 2 <= args.num <= MAX_NUM:
        parser.error(f"--num must be at least 2 (each split needs images), at most {MAX_NUM}, "
                     f"got {args.num}")  # fmt: skip
    root = generate(
        args.layout,
        args.out,
        args.num,
        args.seed,
        args.size,
        args.overwrite,
        not args.no_progress,
        overwrite_option="--overwrite",
    )
    splits = load_manifest(root)["splits"]
    summary = ", ".join(f"{s}: {len(v)}" for s, v in splits.items())
    print(f"wrote {args.layout} to {root} ({summary})")


if __name__ == "__main__":
    from pmgsam.utils.cli import run_cli

    run_cli(main, "python -m pmgsam.data.synthetic")
