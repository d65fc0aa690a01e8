"""Folder inference at DIS sizes: what writing the maps costs, and what writer threads save.

    python benchmarks/folder_inference.py [--model pmgsam_tiny] [--size S] [--num 16]
        [--image-size 4000x3000] [--batch 4] [--workers N] [--rounds 2] [--writers 0,1,2,4]
        [--device cpu|cuda] [--dtype fp32|bf16] [--channels-last]

Writes ``--num`` JPEGs of random shapes and thin lines (and keeps their masks) of
``--image-size`` in a temporary folder, then times, alternating in one process:

1. the map writer alone (:class:`~pmgsam.engine.map_writer.MapWriter`) with each count of
   ``--writers`` threads, on maps shaped like a trained model's (the masks blurred, σ = 2 px:
   mostly exact 0 and 255 with soft edges) on ``--device``: the time of a map's two halves
   (its 0-255 levels to the host, in the caller; PNG encode + write, on the threads), then
   maps per second of the writer and of the threads' half alone; on CUDA also with each
   map's copy to the host waited for by the caller (``overlap_copies=False``) rather than
   by the writer threads;
2. ``Predictor.predict_dataset`` on the folder with the maps written in between (0 threads)
   and with the default count for the device (``write_threads_for``; 1 on the CPU, where
   the default is 0), on CUDA also with the copies waited for by the caller, images per
   second,
   after a warm-up batch. The model has random weights: its maps are nearly flat and cheaper
   to encode than a trained model's (part 1 says by how much), so part 2 understates the gain.

The maps of every setting are checked to be byte-identical.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List
from unittest import mock

import cv2
import numpy as np
import torch

from pmgsam.efficiency.alternating import prepare
from pmgsam.engine import map_writer
from pmgsam.engine.map_writer import MapWriter, prediction_workers, write_threads_for
from pmgsam.engine.performance_config import PerformanceConfig
from pmgsam.engine.prediction_maps import host_levels, save_levels_png
from pmgsam.engine.predictor import ImageFolder, Predictor
from pmgsam.modeling.build import build_model
from pmgsam.modeling.registry import list_models
from pmgsam.utils.cli import non_negative_int, positive_int


def image_size(text: str) -> tuple:
    width, _, height = text.partition("x")
    return positive_int(width), positive_int(height)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="pmgsam_tiny", choices=sorted(list_models()))
    parser.add_argument("--size", type=positive_int, default=None, help="S (the model's own)")
    parser.add_argument("--num", type=positive_int, default=16, help="images")
    parser.add_argument("--image-size", type=image_size, default=(4000, 3000), help="WxH")
    parser.add_argument("--batch", type=positive_int, default=4)
    parser.add_argument(
        "--workers",
        type=non_negative_int,
        default=None,
        help="image-loading workers (default: inference's, prediction_workers)",
    )
    parser.add_argument("--rounds", type=positive_int, default=2)
    parser.add_argument(
        "--writers",
        default="0,1,2,4",
        type=lambda text: [non_negative_int(t) for t in text.split(",")],
        help="writer thread counts timed in part 1",
    )
    parser.add_argument("--threads", type=positive_int, default=None, help="torch threads")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--channels-last", action="store_true")
    return parser


def write_folder(folder: Path, num: int, width: int, height: int) -> List[torch.Tensor]:
    """``num`` JPEG photos of random shapes and thin lines on textured backgrounds in
    ``folder``; returns their masks blurred (σ = 2 px) as maps a trained model might give
    (mostly exact 0 and 255, soft edges). Drawn at full size: a few seconds for 24 at 12 MP
    (the dataset generator, which also writes the test splits, takes minutes)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    maps = []
    for k in range(num):
        mask = np.zeros((height, width), np.uint8)
        for _ in range(4):
            centre = (int(rng.integers(width)), int(rng.integers(height)))
            axes = (
                int(rng.integers(width // 12, width // 4)),
                int(rng.integers(height // 12, height // 4)),
            )
            cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 255, -1)
        for _ in range(30):
            ends = rng.integers(0, [width, height, width, height])
            cv2.line(mask, (int(ends[0]), int(ends[1])), (int(ends[2]), int(ends[3])), 255, 3)
        small = rng.integers(0, 256, (height // 16, width // 16, 3), dtype=np.uint8)
        photo = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
        photo[mask > 0] = (photo[mask > 0] // 2 + 100).astype(np.uint8)
        cv2.imwrite(str(folder / f"img{k:03d}.jpg"), photo, [cv2.IMWRITE_JPEG_QUALITY, 90])
        maps.append(torch.from_numpy(cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), 2.0)))
    return maps


def _rate(count: int, seconds: float) -> float:
    return count / seconds


def _encode_alone(levels: List[np.ndarray], threads: int, folder: Path) -> float:
    start = time.perf_counter()
    paths = [folder / f"{k}.png" for k in range(len(levels))]
    if threads:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(save_levels_png, levels, paths))
    else:
        for arr, path in zip(levels, paths):
            save_levels_png(arr, path)
    return _rate(len(levels), time.perf_counter() - start)


def time_writers(maps: List[torch.Tensor], counts: List[int], out: Path, rounds: int) -> None:
    """Part 1: the two halves of a map's write, then maps/s of the writer and of its threads'
    half alone (encode + write) per thread count; for GPU maps also with the copies to the
    host waited for by the caller."""
    halves: Dict[str, List[float]] = {"levels to the host": [], "encode + write": []}
    levels = []
    for k, prob in enumerate(maps):
        start = time.perf_counter()
        levels.append(host_levels(prob, out / "halves" / f"{k}.png"))
        middle = time.perf_counter()
        save_levels_png(levels[-1], out / "halves" / f"{k}.png")
        halves["levels to the host"].append(middle - start)
        halves["encode + write"].append(time.perf_counter() - middle)
    gpu = maps[0].device.type == "cuda"
    settings = [(n, True) for n in counts] + [(n, False) for n in counts if n and gpu]
    writer: Dict[tuple, List[float]] = {s: [] for s in settings}
    alone: Dict[int, List[float]] = {n: [] for n in counts}
    folders = ["halves"]  # every setting's maps, compared byte for byte at the end
    for r in range(rounds):
        for n, overlap in settings:
            folders.append(f"writer{n}{'' if overlap else 'w'}_{r}")
            start = time.perf_counter()
            with MapWriter(n, overlap_copies=overlap) as maps_writer:
                for k, prob in enumerate(maps):
                    maps_writer.write(prob, out / folders[-1] / f"{k}.png")
            writer[n, overlap].append(_rate(len(maps), time.perf_counter() - start))
            if overlap:
                folders.append(f"alone{n}_{r}")
                alone[n].append(_encode_alone(levels, n, out / folders[-1]))
    same_bytes(out, folders)
    mb = statistics.mean(p.stat().st_size for p in (out / "halves").iterdir()) / 1e6
    print(f"part 1, the map writer alone: {len(maps)} model-like maps, {mb:.2f} MB each as PNG")
    for name, values in halves.items():
        print(f"  {name}: median {1000 * statistics.median(values):.1f} ms per map")
    for n in counts:
        print(
            f"  {n} writer thread(s): MapWriter {statistics.median(writer[n, True]):6.1f} maps/s, "
            f"encode + write alone {statistics.median(alone[n]):6.1f} maps/s"
        )
    for n, overlap in settings:
        if not overlap:
            print(
                f"  {n} writer thread(s), each copy to the host waited for by the caller: "
                f"MapWriter {statistics.median(writer[n, False]):6.1f} maps/s"
            )


def same_bytes(out: Path, folders: List[str]) -> None:
    first = {p.name: p.read_bytes() for p in (out / folders[0]).iterdir()}
    for folder in folders[1:]:
        other = {p.name: p.read_bytes() for p in (out / folder).iterdir()}
        if other != first:
            raise SystemExit(f"maps of {folder} differ from those of {folders[0]}")


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    device = prepare(args)
    width, height = args.image_size
    with tempfile.TemporaryDirectory() as tmp:
        images = Path(tmp) / "images"
        start = time.perf_counter()
        maps = [m.to(device) for m in write_folder(images, args.num, width, height)]
        took = time.perf_counter() - start
        print(f"{args.num} images of {width}x{height} on {device} (written in {took:.1f} s)")
        time_writers(maps, args.writers, Path(tmp), args.rounds)

        model = build_model(args.model, **({"image_size": args.size} if args.size else {}))
        amp = "bf16" if args.dtype == "bf16" else "none"
        performance = PerformanceConfig(channels_last=args.channels_last)
        predictor = Predictor(model.eval(), device, amp, performance=performance)
        dataset = ImageFolder(images, model.config.image_size)
        names = dataset.names
        workers = prediction_workers(device, args.workers)
        auto = write_threads_for(device, workers)
        # On the CPU the default is 0; one thread there still shows what the overlap gives.
        threads = max(1, auto)
        label = "the default here" if auto else "the default on a GPU; 0 here"
        settings = {
            "written in between (0 threads)": (0, True),
            f"{threads} thread(s) ({label})": (threads, True),
        }
        if device.type == "cuda":
            waited = f"{threads} thread(s), each copy to the host waited for by the caller"
            settings[waited] = (threads, False)
        warm = torch.utils.data.Subset(dataset, list(range(min(args.batch, len(names)))))
        predictor.predict_dataset(warm, Path(tmp) / "warm", args.batch, 0, progress=False)
        rates: Dict[str, List[float]] = {name: [] for name in settings}
        for r in range(args.rounds):
            for k, (name, (threads, overlap)) in enumerate(settings.items()):
                # predict_dataset has no option for waiting in the caller (the writer before
                # it overlapped the copies): the writer's rule is replaced for the run.
                rule = (
                    contextlib.nullcontext()
                    if overlap
                    else mock.patch.object(map_writer, "_overlaps", lambda prob: False)
                )
                start = time.perf_counter()
                with rule:
                    predictor.predict_dataset(
                        dataset, Path(tmp) / f"pred{k}_{r}", args.batch, workers,
                        progress=False, write_threads=threads,
                    )  # fmt: skip
                rates[name].append(len(names) / (time.perf_counter() - start))
        folders = [f"pred{k}_{r}" for k in range(len(settings)) for r in range(args.rounds)]
        same_bytes(Path(tmp), folders)
        print(
            f"part 2, predict_dataset ({args.model}, S={model.config.image_size}, batch "
            f"{args.batch}, {workers} workers, {args.dtype}):"
        )
        for name, values in rates.items():
            runs = ", ".join(f"{v:.1f}" for v in values)
            print(f"  {name}: median {statistics.median(values):7.1f} images/s (runs: {runs})")


if __name__ == "__main__":
    main()
