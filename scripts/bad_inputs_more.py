"""More cases of the bad-input corpus (scripts/bad_inputs.py builds and runs them with its own):
symbolic link loops, a config that is not a mapping or holds a value of the wrong type, a COCO
annotation of an image that is not listed, a decompression bomb, a split the dataset lacks,
masks named as their images but for case, an empty weights file."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path
from typing import Any, Callable, List


def _png_header(width: int, height: int) -> bytes:
    """A PNG of ``width`` x ``height`` RGB pixels whose pixel data is missing: its header alone
    is what PIL's decompression-bomb guard reads."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def more_cases(root: Path, case: Callable[..., Any], infer: List[str], data: Path) -> List[Any]:
    """Write these cases' inputs under ``root``; ``case`` is bad_inputs.Case, ``infer`` the
    inference command with its checkpoint, ``data`` a generated DIS5K root."""
    images = root / "images"  # two good images, written by bad_inputs.build_corpus
    looping = root / "looping_images"  # a.png -> b.png -> a.png beside a good image
    looping.mkdir()
    (looping / "ok.png").write_bytes((images / "img0.png").read_bytes())
    (looping / "a.png").symlink_to(looping / "b.png")
    (looping / "b.png").symlink_to(looping / "a.png")
    out_loop = root / "out_loop"  # an --out that links to itself
    out_loop.symlink_to(out_loop)
    bomb = root / "bomb_images"
    bomb.mkdir()
    (bomb / "scan.png").write_bytes(_png_header(30000, 30000))
    (root / "list_config.yaml").write_text("- model\n- data\n", encoding="utf-8")
    coco = {"images": [{"id": 1, "file_name": "img0.png", "height": 40, "width": 50}],
            "annotations": [{"id": 1, "image_id": 7, "category_id": 1,
                             "segmentation": [[1, 1, 20, 1, 20, 20]]}],
            "categories": [{"id": 1, "name": "object"}]}  # fmt: skip
    (root / "coco_orphan.json").write_text(json.dumps(coco), encoding="utf-8")
    cased = root / "case_data"  # masks exported as IMG_0.PNG beside img_0.png
    for sub, name in (("images", "img_0.png"), ("masks", "IMG_0.PNG")):
        (cased / sub).mkdir(parents=True)
        (cased / sub / name).write_bytes((root / "gt" / "img0.png").read_bytes())
    (root / "empty.safetensors").write_bytes(b"")  # a save cut off by a full disk
    train = ["train.py", "--config", "configs/demo.yaml", "--output-dir", str(root / "run2"),
             f"data.root={data}", "data.num_workers=0"]  # fmt: skip
    return [
        case("image-symlink-loop", "inference", [*infer, "--input", str(looping), "--out",
             str(root / "p20")], "a.png -> b.png -> a.png among the images", [images],
             "symbolic link loop"),
        case("out-symlink-loop", "inference", [*infer, "--input", str(images), "--out",
             str(out_loop)], "--out a link to itself", [images], "symbolic link loop"),
        case("train-out-symlink-loop", "train", [*train[:4], str(out_loop), *train[5:]],
             "--output-dir a link to itself", expect="symbolic link loop"),
        case("decompression-bomb", "inference", [*infer, "--input", str(bomb), "--out",
             str(root / "p21")], "a 30000x30000 PNG (header only)", [bomb],
             "more pixels than PIL opens"),
        case("config-is-a-list", "train", ["train.py", "--config",
             str(root / "list_config.yaml")], "a YAML config that is a list",
             expect="must contain a mapping"),
        case("batch-size-a-string", "train", [*train, 'train.batch_size="4"'],
             "a quoted number for an integer key", expect="must be an integer"),
        case("cos-orphan-annotation", "evaluate", ["evaluate.py", "--task", "cos",
             "--pred-dir", str(root / "gt"), "--gt-json", str(root / "coco_orphan.json"),
             "--out", str(root / "ap2.json")], "an annotation of an image id not listed",
             [root / "gt"], "which 'images' does not list"),
        case("evaluate-unknown-split", "evaluate", ["evaluate.py", "--config",
             "configs/demo.yaml", "--checkpoint", str(root / "tiny.safetensors"), "--splits",
             "DIS-TE9", "--output-dir", str(root / "unknown_split"), f"data.root={data}"],
             "--splits naming no split of the dataset",
             expect="unknown split 'DIS-TE9'"),
        case("train-masks-named-but-for-case", "train", [*train, "data.dataset=folder",
             f"data.root={cased}", "data.train_split=all", "data.val_split=null",
             f"data.split_dir={root / 'case_splits'}"], "img_0.png and its mask IMG_0.PNG",
             [cased], "named alike but for case"),
        case("empty-checkpoint", "inference", ["-m", "pmgsam.engine.inference",
             "--checkpoint", str(root / "empty.safetensors"), "--input", str(images), "--out",
             str(root / "p22")], "a weights file of 0 bytes", expect="the file is empty"),
    ]  # fmt: skip
