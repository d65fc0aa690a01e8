"""U²-Net branch latency as built vs with each BatchNorm folded into the convolution before it.

    python benchmarks/u2net_bn_fold.py [--variant u2net] [--size 256] [--batch 1] [--iters 5]
        [--threads N] [--device cpu|cuda] [--dtype fp32|bf16] [--channels-last]

The folded copy (``torch.nn.utils.fusion.fuse_conv_bn_eval`` on every conv → BatchNorm pair of
a deep copy) and the original run alternately in one process on the same input, so machine
load affects them alike; the script also prints the largest difference of the feature maps.
Nothing in the package folds yet: this measures whether it should (BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from pmgsam.engine.distributed import autocast, synchronize
from pmgsam.modeling.u2net import REBNCONV, U2NET_VARIANTS, build_u2net


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", default="u2net", choices=sorted(U2NET_VARIANTS))
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--channels-last", action="store_true")
    return parser


def folded_copy(net: nn.Module) -> nn.Module:
    """A deep copy of an eval-mode U²-Net whose BatchNorms are folded into their convs."""
    out = copy.deepcopy(net)
    for unit in out.modules():
        if isinstance(unit, REBNCONV):
            unit.conv_s1 = fuse_conv_bn_eval(unit.conv_s1, unit.bn_s1)
            unit.bn_s1 = nn.Identity()
    return out


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    net = build_u2net(args.variant).to(device).eval()
    nets = {"as built": net, "BatchNorm folded": folded_copy(net)}
    x = torch.rand(args.batch, 3, args.size, args.size, device=device)
    if args.channels_last:
        nets = {k: v.to(memory_format=torch.channels_last) for k, v in nets.items()}
        x = x.contiguous(memory_format=torch.channels_last)
    amp = torch.bfloat16 if args.dtype == "bf16" else None
    times = {name: [] for name in nets}
    outputs = {}
    with torch.inference_mode(), autocast(device, amp):
        for i in range(args.iters + 1):  # the first round is warm-up
            for name, branch in nets.items():
                synchronize(device)
                start = time.perf_counter()
                outputs[name] = branch.features(x)
                synchronize(device)
                if i:
                    times[name].append(time.perf_counter() - start)
    diff = max((a.float() - b.float()).abs().max().item() for a, b in zip(*outputs.values()))
    print(
        f"U²-Net {args.variant} S={args.size} batch={args.batch} device={args.device} "
        f"dtype={args.dtype} channels_last={args.channels_last} "
        f"threads={torch.get_num_threads()} torch={torch.__version__}"
    )
    medians = {k: statistics.median(v) for k, v in times.items()}
    for name, med in medians.items():
        runs = ", ".join(f"{1000 * t:.0f}" for t in times[name])
        print(f"  {name:17s} median {1000 * med:9.1f} ms  (runs: {runs})")
    built, folded = medians.values()
    print(f"  speed-up built / folded: {built / folded:.2f}x | max |diff| of the maps {diff:.2e}")


if __name__ == "__main__":
    main()
