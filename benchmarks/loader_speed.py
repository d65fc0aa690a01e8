"""Training data loader throughput: augmentation before/after the resize, full/reduced decode.

    python benchmarks/loader_speed.py [--num 6] [--size 1024] [--rounds 2] [--workers 0]

Generates DIS5K-layout data at 2048×1536 and 3840×2160 (JPEG images, PNG masks) in a temporary
folder, then reads every training sample through the package's dataset and DataLoader with:

* before: crop, flip, rotate and colour jitter at the original resolution, then resize + pad
  (the order of pmgsam ≤ this change, rebuilt here from the same albumentations steps);
* after: crop at full resolution, resize, then flip, rotate and jitter at S (TrainTransform);
* after + reduced decode: the same, with JPEGs decoded at 1/2, 1/4 or 1/8 size where S and the
  crop allow (``data.reduced_decode``; at S=1024 the 3840x2160 images at 1/2, the 2048x1536
  ones at full size).

All three run alternately in the same process, with every augmentation enabled (p = 1) so
each sample pays for all of them; decoding the files is included, as in training.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import ConcatDataset, DataLoader

from pmgsam.data import build_dataset
from pmgsam.data.augmentation import TrainTransform, build_augmentation
from pmgsam.data.config import AugmentConfig, DataConfig
from pmgsam.data.synthetic import generate
from pmgsam.data.transforms import EvalTransform

SIZES = ((2048, 1536), (3840, 2160))


class AugmentAtFullSize:
    """The former training transform: every augmentation at the original size, then resize."""

    def __init__(self, image_size: int, cfg: AugmentConfig) -> None:
        self.crop, self.rest = build_augmentation(cfg)
        self.resize = EvalTransform(image_size)

    def __call__(self, image: np.ndarray, mask: np.ndarray):
        for pipeline in (self.crop, self.rest):
            pipeline.set_random_seed(int(torch.randint(0, 2**31 - 1, ()).item()))
            out = pipeline(image=image, mask=mask)
            image, mask = out["image"], out["mask"]
        return self.resize(image, mask)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num", type=int, default=6, help="training images per size")
    parser.add_argument("--size", type=int, default=1024, help="S")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    cfg = AugmentConfig(crop_prob=1, hflip_prob=1, rotate_prob=1, color_jitter_prob=1)
    with tempfile.TemporaryDirectory() as tmp:
        sets = []
        for w, h in SIZES:
            root = generate("dis5k", Path(tmp) / f"{w}x{h}", num=args.num, seed=0, size=(w, h))
            data = DataConfig(root=str(root), split_dir=str(Path(tmp) / f"splits{w}"))
            data.augment = cfg
            sets.append(build_dataset(data, "DIS-TR", args.size, train=True))
        dataset = ConcatDataset(sets)
        orders = {
            "before (augment at full size)": (AugmentAtFullSize(args.size, cfg), False),
            "after (crop, resize, augment at S)": (TrainTransform(args.size, cfg), False),
            "after + reduced JPEG decode": (TrainTransform(args.size, cfg), True),
        }
        rates = {name: [] for name in orders}
        for _ in range(args.rounds):
            for name, (transform, reduced) in orders.items():
                for ds in sets:
                    ds.transform, ds.reduced_decode = transform, reduced
                loader = DataLoader(dataset, batch_size=1, num_workers=args.workers)
                start = time.perf_counter()
                n = sum(batch["image"].shape[0] for batch in loader)
                rates[name].append(n / (time.perf_counter() - start))
    sizes = ", ".join(f"{w}x{h}" for w, h in SIZES)
    print(
        f"{len(dataset)} training images ({sizes}), S={args.size}, workers={args.workers}, "
        "every augmentation applied, JPEG/PNG decoding included"
    )
    for name, values in rates.items():
        runs = ", ".join(f"{v:.2f}" for v in values)
        print(f"  {name:36s} {statistics.median(values):6.2f} images/s (rounds: {runs})")
    before, after, reduced = (statistics.median(v) for v in rates.values())
    print(f"  loader speed-up: {after / before:.2f}x (order), {reduced / after:.2f}x (decode)")


if __name__ == "__main__":
    main()
