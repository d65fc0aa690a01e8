"""Hiera branch latency with hiera-transformer's 5-D attention vs the window-batched 4-D one.

    python benchmarks/hiera_attention.py [--variant base_plus] [--size 512] [--batch 1]
        [--iters 5] [--threads N] [--device cpu|cuda] [--dtype fp32|bf16]

Both forms run in the same process on the same weights and input, alternating, so machine load
affects them alike; the script also prints the largest difference between their stage maps.
"""

from __future__ import annotations

import argparse

import torch

from pmgsam.efficiency.alternating import ab_parser, prepare, time_alternating
from pmgsam.modeling.image_encoder import HIERA_SPECS, HieraBranch


def build_parser() -> argparse.ArgumentParser:
    return ab_parser(__doc__.split("\n\n")[0], HIERA_SPECS, "base_plus", 512)


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    device = prepare(args)
    branch = HieraBranch(args.variant, args.size).to(device)
    x = torch.rand(args.batch, 3, args.size, args.size, device=device)

    def form(window_batched: bool):
        def call():
            branch.set_window_batched_attention(window_batched)
            return branch(x)

        return call

    print(
        f"Hiera {args.variant} S={args.size} batch={args.batch} device={args.device} "
        f"dtype={args.dtype} threads={torch.get_num_threads()} torch={torch.__version__}"
    )
    forms = {"5-D (package)": form(False), "4-D (window-batched)": form(True)}
    time_alternating(forms, args)


if __name__ == "__main__":
    main()
