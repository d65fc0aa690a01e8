"""Generated datasets in the official DIS5K / COD10K-v3 / NC4K layouts (for tests and the demo).

``python -m pmgsam.data.synthetic --layout dis5k --out DIR --num 20 --seed 0 --size 320x240``
(``--quiet``, or its older name ``--no-progress``, hides the progress bar)

* ``dis5k`` -> ``DIR/DIS5K/{DIS-TR,DIS-VD,DIS-TE1..4}/{im,gt}``: ``num`` training images and
  ``max(2, num // 4)`` in each other split. Salient objects made of several parts with holes and
  thin wires / fences, textured to contrast with a textured background.
* ``cod10k`` -> ``DIR/COD10K-v3/{Train,Test}/{Image,GT_Object,GT_Edge,GT_Instance}`` plus
  ``CAM_Instance_<Split>.json`` (COCO, RLE, several category ids) in each split folder:
  ``num`` CAM images for Train and ``max(2, num // 2)`` for Test, plus a few ``COD10K-NonCAM-*``
  images without any GT (as in the official release). Instance PNGs are palette images.
* ``nc4k`` -> ``DIR/NC4K/{Imgs,GT,Instance}``: one pool of ``num`` images; instance PNGs are RGB.

Camouflaged images hold 1-3 blob instances whose texture and colour follow the background. Image
sizes vary around ``--size`` (same area, aspect ratio jittered). Everything is deterministic for a
seed (>= 0); ``num`` is in [2, :data:`MAX_NUM`], each side of ``size`` in [24, :data:`MAX_SIDE`].
``synthetic_manifest.json`` in the dataset folder records the parameters, the files written and
the number of instances of every image; a second call with the same parameters reuses the tree
(refused when its image or mask folders hold files the generator did not write, which would
join the dataset), ``--overwrite`` removes only the files it names (see
:func:`pmgsam.data.synthetic_files.remove_own_files`). The images and masks are drawn by
:mod:`pmgsam.data.synthetic_drawing` and encoded by :mod:`pmgsam.data.synthetic_files`; this
module lays them out.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path, PurePosixPath
from typing import Dict, Iterator, List, Optional, Set, Tuple

import cv2
import numpy as np

from pmgsam.utils.cli import CommandParser, HelpFormatter, NonEmpty, non_negative_int
from pmgsam.utils.rle import encode_rle

from .dis5k_splits import DIS5K_TEST_SPLITS, DIS5K_TRAIN
from .io import DataError
from .synthetic_drawing import camo_image, dis_mask, image_hw, render
from .synthetic_files import (
    INSTANCE_COLOURS,
    MANIFEST,
    read_manifest,
    refuse_mixed_in,
    remove_own_files,
    write_jpg,
    write_palette_png,
    write_png,
)

LAYOUTS = {"dis5k": "DIS5K", "cod10k": "COD10K-v3", "nc4k": "NC4K"}
_DIS_CATEGORIES = ["Accessories", "Furniture", "Electrical", "Frame", "Tool", "Kitchen"]
_COD_CLASSES = [("Aquatic", "Fish"), ("Terrestrial", "Lizard"), ("Flying", "Moth")]


# The folders (and extensions) of one image's files, by kind of image.
_FOLDERS = {
    "dis5k": (("im", ".jpg"), ("gt", ".png")),
    "CAM": (("Image", ".jpg"), ("GT_Object", ".png"), ("GT_Edge", ".png"), ("GT_Instance", ".png")),
    "NonCAM": (("Image", ".jpg"),),
    "nc4k": (("Imgs", ".jpg"), ("GT", ".png"), ("Instance", ".png")),
}
_COD_SPLITS = ("Train", "Test")


def _items(layout: str, num: int, seed: int, size: Tuple[int, int]) -> Iterator[Tuple]:
    """``(split, stem, kind, rng, extra)`` of every image in writing order. A name takes the
    first draws of the image's generator, which the writer goes on drawing from; ``extra`` is
    the (h, w) of a DIS5K image, the class index of a COD10K one."""
    if layout == "nc4k":
        for i in range(num):
            yield "all", str(i + 1), "nc4k", np.random.default_rng([seed, 0, i]), None
        return
    if layout == "dis5k":
        counts = {DIS5K_TRAIN: num, **{split: max(2, num // 4) for split in DIS5K_TEST_SPLITS}}
        for s_idx, (split, n) in enumerate(counts.items()):
            for i in range(n):
                rng = np.random.default_rng([seed, s_idx, i])
                h, w = image_hw(rng, size)
                cat = int(rng.integers(len(_DIS_CATEGORIES)))
                stem = f"{cat + 1}#{_DIS_CATEGORIES[cat]}#{split[4:]}#Synthetic#{i + 1:04d}"
                yield split, stem, "dis5k", rng, (h, w)
        return
    counter = 0
    cam = {"Train": (num, max(1, num // 4)), "Test": (max(2, num // 2), max(1, num // 8))}
    for s_idx, split in enumerate(_COD_SPLITS):
        n_cam, n_non = cam[split]
        for i in range(n_cam + n_non):
            rng = np.random.default_rng([seed, s_idx, i])
            counter += 1
            cls = int(rng.integers(len(_COD_CLASSES)))
            kind = "CAM" if i < n_cam else "NonCAM"
            sup, sub = _COD_CLASSES[cls]
            yield split, f"COD10K-{kind}-{cls + 1}-{sup}-{cls + 1}-{sub}-{counter}", kind, rng, cls


def _item_files(split: str, stem: str, kind: str) -> List[str]:
    """The files of one image, relative to the dataset folder (posix)."""
    prefix = "" if split == "all" else f"{split}/"
    return [f"{prefix}{folder}/{stem}{ext}" for folder, ext in _FOLDERS[kind]]


def _plan(layout: str, num: int, seed: int, size: Tuple[int, int]) -> Tuple[List[str], Dict]:
    """What :func:`generate` writes for these parameters: the files (sorted, relative, the
    manifest aside) and the stems each split of the manifest lists. Names only, nothing drawn."""
    files: List[str] = [f"{s}/CAM_Instance_{s}.json" for s in _COD_SPLITS if layout == "cod10k"]
    listed: Dict[str, List[str]] = {}
    for split, stem, kind, _, _ in _items(layout, num, seed, tuple(size)):
        files += _item_files(split, stem, kind)
        listed.setdefault(split, []).extend([stem] if kind != "NonCAM" else [])
    return sorted(files), listed


def _dis5k(out: Path, num: int, seed: int, size: Tuple[int, int], bar) -> Dict[str, Dict]:
    manifest: Dict[str, Dict] = {}
    for split, stem, kind, rng, (h, w) in _items("dis5k", num, seed, size):
        im, gt = (out / f for f in _item_files(split, stem, kind))
        mask = dis_mask(rng, h, w)
        write_jpg(im, render(rng, h, w, mask, camo=False))
        write_png(gt, mask * 255)
        manifest.setdefault(split, {})[stem] = None
        bar(1)
    return manifest


def _cod10k(out: Path, num: int, seed: int, size: Tuple[int, int], bar) -> Dict[str, Dict]:
    manifest: Dict[str, Dict] = {split: {} for split in _COD_SPLITS}
    categories = [{"id": i + 1, "name": c[1]} for i, c in enumerate(_COD_CLASSES)]
    cocos = {s: {"images": [], "annotations": [], "categories": categories} for s in _COD_SPLITS}
    for counter, (split, stem, kind, rng, cls) in enumerate(_items("cod10k", num, seed, size), 1):
        paths = [out / f for f in _item_files(split, stem, kind)]
        if kind == "NonCAM":
            h, w = image_hw(rng, size)
            write_jpg(paths[0], render(rng, h, w, np.zeros((h, w)), False))
            bar(1)
            continue
        label, union, img = camo_image(rng, size)
        h, w = label.shape
        write_jpg(paths[0], img)
        write_png(paths[1], union * 255)
        edge = cv2.morphologyEx(union, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
        write_png(paths[2], edge * 255)
        write_palette_png(paths[3], label)
        coco = cocos[split]
        # Ids unrelated to sample order, as in the official file.
        image_id = 5000 + counter
        coco["images"].append({"id": image_id, "file_name": f"{stem}.jpg", "height": h, "width": w})
        for v in range(1, int(label.max()) + 1):
            m = (label == v).astype(np.uint8)
            ann = {"id": len(coco["annotations"]) + 1, "image_id": image_id, "category_id": cls + 1}
            # Compressed RLE decodes to exactly the GT_Instance mask (polygons through the
            # pixel centres rasterise about half a pixel smaller).
            ann.update(segmentation=encode_rle(m), area=float(m.sum()), iscrowd=0)
            coco["annotations"].append(dict(ann, bbox=list(cv2.boundingRect(m))))
        manifest[split][stem] = int(label.max())
        bar(1)
    for split, coco in cocos.items():
        (out / split / f"CAM_Instance_{split}.json").write_text(json.dumps(coco), encoding="utf-8")
    return manifest


def _nc4k(out: Path, num: int, seed: int, size: Tuple[int, int], bar) -> Dict[str, Dict]:
    manifest: Dict[str, Dict] = {"all": {}}
    colours = np.array([(0, 0, 0)] + INSTANCE_COLOURS, np.uint8)
    for split, stem, kind, rng, _ in _items("nc4k", num, seed, size):
        im, gt, inst = (out / f for f in _item_files(split, stem, kind))
        label, union, img = camo_image(rng, size)
        write_jpg(im, img)
        write_png(gt, union * 255)
        write_png(inst, colours[label])
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

    ``size`` is (width, height); ``overwrite`` replaces an earlier generated tree (only one that
    carries this generator's manifest) whose parameters differ, removing only the files it wrote.
    ``overwrite_option`` is how the caller sets it, named in errors (the CLI's ``--overwrite``).
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
    files = _plan(layout, num, seed, tuple(size))[0]
    if root.exists() and any(root.iterdir()):
        old = read_manifest(manifest_path)
        same = old is not None and old.get("params") == params
        if same and old.get("complete", True):  # an earlier generator wrote no "complete"
            refuse_mixed_in(root, _own_files(old), files)
            return root
        if old is None or not (overwrite or same):  # an interrupted run of these is redone
            why = f"with other parameters; pass {overwrite_option}" if old else "and was not "
            why += "" if old else "made by this generator; choose another output folder"
            raise DataError(f"'{root}' already exists {why}")
        remove_own_files(root, _own_files(old), files, overwrite_option)
    root.mkdir(parents=True, exist_ok=True)
    # Written first, so that an interrupted run leaves a tree whose files are known.
    manifest = {"params": params, "complete": False, "splits": {}, "files": files}
    manifest_path.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    total = sum(f.endswith(".jpg") for f in files)  # one JPEG an image
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
    manifest.update(complete=True, splits=splits)
    manifest_path.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return root


def _own_files(old: Dict) -> Optional[Set[str]]:
    """The files (relative to the dataset folder) an earlier run recorded writing, the
    manifest included; None when the manifest does not tell them.

    A manifest of the generator before ``files`` was recorded names them by its parameters,
    checked against the stems its splits list (which it wrote after all the images)."""
    files = old.get("files")
    try:
        if files is None:
            p = old["params"]
            num, seed, size = int(p["num"]), int(p["seed"]), (int(p["size"][0]), int(p["size"][1]))
            if p["layout"] not in LAYOUTS or not 2 <= num <= MAX_NUM or seed < 0:
                return None
            files, listed = _plan(p["layout"], num, seed, size)
            stems = {k: sorted(v) for k, v in old["splits"].items()}
            files = files if stems == {k: sorted(v) for k, v in listed.items()} else None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        return None
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        return None
    paths = [PurePosixPath(f) for f in files]
    if any(p.is_absolute() or ".." in p.parts or not p.parts for p in paths):
        return None
    return {p.as_posix() for p in paths} | {MANIFEST}


def load_manifest(root: str | Path) -> Dict:
    """The manifest of a generated tree: ``{"params": ..., "splits": {split: {stem: n_inst}}}``."""
    return json.loads((Path(root) / MANIFEST).read_text(encoding="utf-8"))


def build_parser() -> argparse.ArgumentParser:
    """The generator's options (tests check the README's commands against them)."""
    parser = CommandParser(
        prog="python -m pmgsam.data.synthetic",
        description=__doc__.split("\n")[0],
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--layout",
        required=True,
        choices=sorted(LAYOUTS),
        help="the official folder layout to write",
    )
    parser.add_argument(
        "--out",
        required=True,
        type=NonEmpty("an output folder"),
        help="output folder (the dataset folder goes in it)",
    )
    parser.add_argument(
        "--num",
        type=int,
        default=20,
        help="training images; dis5k: max(2, num // 4) in each other split, cod10k: "
        "max(2, num // 2) CAM test images (plus a few NonCAM ones per split), nc4k: one pool "
        "of num images",
    )
    parser.add_argument(
        "--seed", type=non_negative_int, default=0, help="random seed (same seed, same dataset)"
    )
    parser.add_argument(
        "--size",
        type=_size_option,
        default=(320, 240),
        help="WxH of the images, around which their sides vary (default: 320x240)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an earlier generated tree (its files)"
    )
    parser.add_argument(
        "--quiet",
        "--no-progress",  # its first name, kept for the scripts that use it
        dest="quiet",
        action="store_true",
        help="no progress bar, as every other command's --quiet",
    )
    return parser


def main(argv: List[str] | None = None) -> None:
    """Generate the dataset the options describe and print its image counts."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 2 <= args.num <= MAX_NUM:
        parser.error(f"--num must be at least 2 (each split needs images), at most {MAX_NUM}, "
                     f"got {args.num}")  # fmt: skip
    # A complete tree of these parameters is kept as it is: say so rather than "wrote".
    before = read_manifest(Path(args.out) / LAYOUTS[args.layout] / MANIFEST)
    root = generate(
        args.layout,
        args.out,
        args.num,
        args.seed,
        args.size,
        args.overwrite,
        not args.quiet,
        overwrite_option="--overwrite",
    )
    manifest = load_manifest(root)
    if manifest == before:
        print(f"kept {args.layout} in {root}, generated before with these parameters "
              f"({_summary(manifest)})")  # fmt: skip
    else:
        print(f"wrote {args.layout} to {root} ({_summary(manifest)})")


def _summary(manifest: Dict) -> str:
    """Images per split; the splits list COD10K's CAM images only, its NonCAM ones are added."""
    # An earlier generator's manifest names no files: they follow from its parameters.
    files = manifest.get("files") or sorted(_own_files(manifest) or ())
    noncam = {s: sum(f.startswith(f"{s}/Image/COD10K-NonCAM-") for f in files)
              for s in manifest["splits"]}  # fmt: skip
    return ", ".join(f"{s}: {len(v)}" + (f" CAM + {noncam[s]} NonCAM" if noncam[s] else "")
                     for s, v in manifest["splits"].items())  # fmt: skip


if __name__ == "__main__":
    from pmgsam.utils.cli import run_cli

    run_cli(main, "python -m pmgsam.data.synthetic")
