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
instances of every image; a second call with the same parameters reuses the existing tree.
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

LAYOUTS = {"dis5k": "DIS5K", "cod10k": "COD10K-v3", "nc4k": "NC4K"}
MANIFEST = "synthetic_manifest.json"
_DIS_CATEGORIES = ["Accessories", "Furniture", "Electrical", "Frame", "Tool", "Kitchen"]
_COD_CLASSES = [("Aquatic", "Fish"), ("Terrestrial", "Lizard"), ("Flying", "Moth")]
_INSTANCE_COLOURS = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48)]


def _image_hw(rng: np.random.Generator, size: Tuple[int, int]) -> Tuple[int, int]:
    base_w, base_h = size
    aspect = (base_w / base_h) * float(np.exp(rng.uniform(-0.45, 0.45)))
    area = base_w * base_h
    w = max(24, int(round(np.sqrt(area * aspect))))
    h = max(24, int(round(area / w)))
    return h, w


def _hsv_colour(rng: np.random.Generator, hue: float, sat: float, val: float) -> np.ndarray:
    hsv = np.uint8([[[int(hue) % 180, int(np.clip(sat, 0, 255)), int(np.clip(val, 0, 255))]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def _texture(
    rng: np.random.Generator, h: int, w: int, c0: np.ndarray, c1: np.ndarray
) -> np.ndarray:
    """Smooth noise + an oriented grating, mapped between two colours; (h, w, 3) float32."""
    t = np.zeros((h, w), np.float32)
    for cell, amp in ((int(rng.integers(24, 64)), 1.0), (int(rng.integers(4, 10)), 0.5)):
        grid = rng.random((h // cell + 2, w // cell + 2)).astype(np.float32)
        t += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    theta, period = rng.uniform(0, np.pi), rng.uniform(6, 30)
    yy, xx = np.ogrid[:h, :w]
    phase = (xx * np.cos(theta) + yy * np.sin(theta)) * (2 * np.pi / period) + rng.uniform(0, 6.3)
    t += 0.4 * np.sin(phase).astype(np.float32)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    img = c0 + t[:, :, None] * (c1 - c0)
    return img + rng.normal(0, 3.0, (h, w, 3)).astype(np.float32)


def _blob(rng: np.random.Generator, cx: float, cy: float, radius: float) -> np.ndarray:
    """Smooth random star-shaped polygon (int32 points) around (cx, cy)."""
    theta = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    r = np.ones_like(theta)
    for k in (2, 3, 5):
        r += rng.uniform(0, 0.35 / k * 2) * np.sin(k * theta + rng.uniform(0, 6.3))
    r = radius * np.clip(r, 0.35, None)
    pts = np.stack([cx + r * np.cos(theta), cy + r * np.sin(theta)], axis=1)
    return np.round(pts).astype(np.int32)


def _curve(rng: np.random.Generator, h: int, w: int, n_ctrl: int = 4) -> np.ndarray:
    """Smooth polyline through random control points (for wires)."""
    ctrl = np.stack([rng.uniform(0, w, n_ctrl), rng.uniform(0, h, n_ctrl)], axis=1)
    s = np.linspace(0, n_ctrl - 1, 60)
    xs = np.interp(s, np.arange(n_ctrl), ctrl[:, 0])
    ys = np.interp(s, np.arange(n_ctrl), ctrl[:, 1])
    return np.round(np.stack([xs, ys], axis=1)).astype(np.int32)


def _dis_mask(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Several parts with holes, thin wires and sometimes a fence-like grid; {0, 1} uint8."""
    m = np.zeros((h, w), np.uint8)
    side = min(h, w)
    for _ in range(int(rng.integers(1, 4))):
        cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
        radius = rng.uniform(0.1, 0.22) * side
        if rng.random() < 0.5:
            axes = (int(radius), int(radius * rng.uniform(0.5, 1.0)))
            cv2.ellipse(m, (int(cx), int(cy)), axes, rng.uniform(0, 180), 0, 360, 1, -1)
        else:
            cv2.fillPoly(m, [_blob(rng, cx, cy, radius)], 1)
        for _ in range(int(rng.integers(0, 3))):
            hole_r = max(2, int(radius * rng.uniform(0.15, 0.35)))
            off = rng.uniform(-0.4, 0.4, 2) * radius
            cv2.circle(m, (int(cx + off[0]), int(cy + off[1])), hole_r, 0, -1)
    for _ in range(int(rng.integers(1, 5))):
        cv2.polylines(m, [_curve(rng, h, w)], False, 1, int(rng.integers(1, 3)))
    if rng.random() < 0.4:
        x0, y0 = int(rng.uniform(0, 0.5) * w), int(rng.uniform(0, 0.5) * h)
        x1, y1 = x0 + int(0.4 * w), y0 + int(0.4 * h)
        step = int(rng.integers(5, 10))
        for x in range(x0, x1, step):
            cv2.line(m, (x, y0), (x, y1), 1, 1)
        cv2.line(m, (x0, y0), (x1, y0), 1, 2)
    return m


def _instances(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Label map with 1-3 blob instances (mostly non-overlapping), labels 1..k, int32."""
    label = np.zeros((h, w), np.int32)
    side = min(h, w)
    k = 0
    for _ in range(int(rng.integers(1, 4))):
        for _attempt in range(10):
            blob = np.zeros((h, w), np.uint8)
            r = rng.uniform(0.1, 0.22) * side
            cx, cy = rng.uniform(r, w - r), rng.uniform(r, h - r)
            cv2.fillPoly(blob, [_blob(rng, cx, cy, r)], 1)
            if not (label[blob > 0] > 0).any():
                break
        k += 1
        label[blob > 0] = k
    # An occluded instance may vanish or shrink to a sliver: relabel the survivors 1..n.
    out = np.zeros_like(label)
    n = 0
    for v in range(1, k + 1):
        if (label == v).sum() >= 30:
            n += 1
            out[label == v] = n
    return out


def _render(rng: np.random.Generator, h: int, w: int, fg: np.ndarray, camo: bool) -> np.ndarray:
    hue, sat, val = rng.uniform(0, 180), rng.uniform(60, 200), rng.uniform(90, 200)
    c0, c1 = _hsv_colour(rng, hue, sat, val - 60), _hsv_colour(rng, hue + 15, sat, val + 40)
    bg = _texture(rng, h, w, c0, c1)
    if camo:
        # Same palette with a slight shift: the object is visible only through its texture seams.
        shift = rng.uniform(-12, 12, 3).astype(np.float32)
        obj = _texture(rng, h, w, c0 + shift, c1 + shift)
        alpha = cv2.GaussianBlur(fg.astype(np.float32), (5, 5), 0)[:, :, None]
    else:
        ohue = hue + rng.uniform(50, 130)
        oval = 255 - val if rng.random() < 0.5 else val
        d0, d1 = _hsv_colour(rng, ohue, 180, oval - 50), _hsv_colour(rng, ohue + 10, 220, oval + 50)
        obj = _texture(rng, h, w, d0, d1)
        alpha = fg.astype(np.float32)[:, :, None]
    img = bg * (1 - alpha) + obj * alpha
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


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
            h, w = _image_hw(rng, size)
            cat = int(rng.integers(len(_DIS_CATEGORIES)))
            stem = f"{cat + 1}#{_DIS_CATEGORIES[cat]}#{tag}#Synthetic#{i + 1:04d}"
            mask = _dis_mask(rng, h, w)
            _write_jpg(out / split / "im" / f"{stem}.jpg", _render(rng, h, w, mask, camo=False))
            _write_png(out / split / "gt" / f"{stem}.png", mask * 255)
            manifest[split][stem] = None
            bar(1)
    return manifest


def _camo_image(rng: np.random.Generator, size: Tuple[int, int]):
    h, w = _image_hw(rng, size)
    label = _instances(rng, h, w)
    union = (label > 0).astype(np.uint8)
    return label, union, _render(rng, h, w, union, camo=True)


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
                h, w = _image_hw(rng, size)
                _write_jpg(
                    base / "Image" / f"{stem}.jpg", _render(rng, h, w, np.zeros((h, w)), False)
                )
                bar(1)
                continue
            label, union, img = _camo_image(rng, size)
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
        label, union, img = _camo_image(rng, size)
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
) -> Path:
    """Write a synthetic dataset under ``out`` and return its root (e.g. ``out/DIS5K``).

    ``size`` is (width, height); ``overwrite`` removes an earlier generated tree (only one that
    carries this generator's manifest) whose parameters differ.
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
                    " with other parameters; pass overwrite=True / --overwrite"
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
        args.layout, args.out, args.num, args.seed, args.size, args.overwrite, not args.no_progress
    )
    splits = load_manifest(root)["splits"]
    summary = ", ".join(f"{s}: {len(v)}" for s, v in splits.items())
    print(f"wrote {args.layout} to {root} ({summary})")


if __name__ == "__main__":
    from pmgsam.utils.cli import run_cli

    run_cli(main, "python -m pmgsam.data.synthetic")
