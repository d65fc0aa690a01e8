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

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from pmgsam.efficiency.alternating import ab_parser, prepare, time_alternating
from pmgsam.modeling.u2net import REBNCONV, U2NET_CLASSES, build_u2net


def build_parser() -> argparse.ArgumentParser:
    parser = ab_parser(__doc__.split("\n\n")[0], U2NET_CLASSES, "u2net", 256)
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
    device = prepare(args)
    net = build_u2net(args.variant).to(device).eval()
    nets = {"as built": net, "BatchNorm folded": folded_copy(net)}
    x = torch.rand(args.batch, 3, args.size, args.size, device=device)
    if args.channels_last:
        nets = {k: v.to(memory_format=torch.channels_last) for k, v in nets.items()}
        x = x.contiguous(memory_format=torch.channels_last)
    print(
        f"U²-Net {args.variant} S={args.size} batch={args.batch} device={args.device} "
        f"dtype={args.dtype} channels_last={args.channels_last} "
        f"threads={torch.get_num_threads()} torch={torch.__version__}"
    )
    time_alternating({name: (lambda n=n: n.features(x)) for name, n in nets.items()}, args)


if __name__ == "__main__":
    main()
