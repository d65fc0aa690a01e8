"""Shared set-ups of the prediction-folder tests: a producer record, what a run does to its
output folder, a map replaced by hand, a folder of small images and an inference call."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import List, Optional, Tuple

import cv2
import numpy as np
import pytest

from pmgsam.engine.inference import main as inference_main
from pmgsam.utils.cli import exit_status
from pmgsam.utils.outputs import prepare_output_dir, settle_output_dir

PRODUCER_A = {"weights": "/w/a.safetensors", "weights_sha256": "a" * 64,
              "frozen_sha256": {"u2net": "f" * 64}, "image_size": 64, "amp": "none",
              "maps": "final"}  # fmt: skip


def run_into(
    out: Path, names, producer: Optional[dict], content: Optional[str] = None, warns: bool = False
) -> None:
    """What a run does to ``out``: the manifest first, then the maps (``content`` and the name;
    by default the first digit of the producer's weights SHA-256), then settling."""
    if warns:
        with pytest.warns(UserWarning, match="of an earlier run"):
            prepare_output_dir(out, names, tool="inference", producer=producer)
    else:
        prepare_output_dir(out, names, tool="inference", producer=producer)
    text = producer["weights_sha256"][0] if content is None else content
    for name in names:
        (out / name).write_text(f"{text} {name}")
    settle_output_dir(out, names)


def touch_later(path: Path) -> None:
    """What ``touch`` does: the same bytes, a modification time two seconds later (a file
    system's clock may be coarse)."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))


def replace_by_hand(path: Path) -> bytes:
    """Rewrite ``path`` in place with other bytes of the same length, two seconds newer (a
    size check alone would miss it; the explicit time, a file system's coarse clock)."""
    before = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    touch_later(path)
    assert path.stat().st_size == before.st_size
    return bytes(data)


def write_images(folder: Path, seed: int, first: Tuple[int, int], step: Tuple[int, int]) -> Path:
    """Three noise PNGs ``a``..``c`` in a new ``folder``: ``first`` (H, W), then ``step`` added."""
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for i, stem in enumerate("abc"):
        shape = (first[0] + step[0] * i, first[1] + step[1] * i, 3)
        cv2.imwrite(str(folder / f"{stem}.png"), rng.integers(0, 255, shape, dtype=np.uint8))
    return folder


def infer(weights: Path, images: Path, out: Path, *extra) -> Tuple[int, List[str]]:
    """Exit status of inference (batches of 3, no workers) and the messages of its warnings."""
    argv = ["--checkpoint", weights, "--input", images, "--out", out, "--num-workers", 0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = exit_status(inference_main, [*argv, "--batch-size", 3, "--quiet", *extra])
    return code, [str(w.message) for w in caught]


def same_map(got: bytes, want: bytes) -> bool:
    """Whether two 8-bit map PNGs hold the same prediction: equal shapes, every pixel within
    one level. The model's float output depends on the batch it was predicted in (the CPU's
    convolution kernels differ by ~1e-7 between batch sizes), which can move a pixel lying on a
    rounding boundary by one level; another image's map or a blank one differs by far more."""
    a, b = (cv2.imdecode(np.frombuffer(x, np.uint8), cv2.IMREAD_UNCHANGED) for x in (got, want))
    if a is None or b is None or a.shape != b.shape:
        return False
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max()) <= 1
