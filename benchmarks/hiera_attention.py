"""Hiera branch latency with hiera-transformer's 5-D attention vs the window-batched 4-D one.

    python benchmarks/hiera_attention.py [--variant base_plus] [--size 512] [--batch 1]
        [--iters 5] [--threads N] [--device cpu|cuda] [--dtype fp32|bf16]

Both forms run in the same process on the same weights and input, alternating, so machine load
affects them alike; the script also prints the largest difference between their stage maps.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from pmgsam.engine.distributed import autocast, synchronize
from pmgsam.modeling.image_encoder import HIERA_SPECS, HieraBranch


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", default="base_plus", choices=sorted(HIERA_SPECS))
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    return parser


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    branch = HieraBranch(args.variant, args.size).to(device)
    x = torch.rand(args.batch, 3, args.size, args.size, device=device)
    amp = torch.bfloat16 if args.dtype == "bf16" else None
    times = {"5-D (package)": [], "4-D (window-batched)": []}
    outputs = {}
    with torch.inference_mode(), autocast(device, amp):
        for i in range(args.iters + 1):  # the first round is warm-up
            for name, fast in (("5-D (package)", False), ("4-D (window-batched)", True)):
                branch.set_window_batched_attention(fast)
                synchronize(device)
                start = time.perf_counter()
                outputs[name] = branch(x)
                synchronize(device)
                if i:
                    times[name].append(time.perf_counter() - start)
    diff = max((a.float() - b.float()).abs().max().item() for a, b in zip(*outputs.values()))
    print(
        f"Hiera {args.variant} S={args.size} batch={args.batch} device={args.device} "
        f"dtype={args.dtype} threads={torch.get_num_threads()} torch={torch.__version__}"
    )
    medians = {k: statistics.median(v) for k, v in times.items()}
    for name, med in medians.items():
        print(
            f"  {name:22s} median {1000 * med:9.1f} ms  (runs: "
            + ", ".join(f"{1000 * t:.0f}" for t in times[name])
            + ")"
        )
    slow, fast = medians.values()
    print(f"  speed-up 5-D / 4-D: {slow / fast:.2f}x | max |diff| of the stage maps {diff:.2e}")


if __name__ == "__main__":
    main()
