"""U²-Net branch latency as built vs with each BatchNorm folded into the convolution before it.

    python benchmarks/u2net_bn_fold.py [--variant u2net] [--size 256] [--batch 1] [--iters 5]
        [--threads N] [--device cpu|cuda] [--dtype fp32|bf16] [--channels-last]

The folded form is the package's own (``performance.fold_frozen_batchnorm``:
``pmgsam.modeling.u2net.set_batchnorm_folding`` on a frozen copy, per-call staleness check
included), so the figure is the option's. It and the original run alternately in one process on
the same input, so machine load affects them alike; the script prints the largest difference of
the feature maps, and that of the package's fold against an independent one
(``torch.nn.utils.fusion.fuse_conv_bn_eval`` replacing every conv → BatchNorm pair of a deep
copy), which must agree up to rounding.
"""

from __future__ import annotations

import argparse
import copy

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from pmgsam.efficiency.alternating import ab_parser, largest_difference, prepare, time_alternating
from pmgsam.engine.distributed import autocast
from pmgsam.modeling.u2net import REBNCONV, U2NET_CLASSES, build_u2net, set_batchnorm_folding


def build_parser() -> argparse.ArgumentParser:
    parser = ab_parser(__doc__.split("\n\n")[0], U2NET_CLASSES, "u2net", 256)
    parser.add_argument("--channels-last", action="store_true")
    return parser


def package_folded_copy(net: nn.Module) -> nn.Module:
    """A deep copy of a frozen eval-mode U²-Net with the package's BatchNorm folding on."""
    out = copy.deepcopy(net)
    set_batchnorm_folding(out, True)
    return out


def replaced_copy(net: nn.Module) -> nn.Module:
    """A deep copy whose convs are replaced by folded ones and BatchNorms by identities: the
    reference fold, independent of the package's (other module structure and state dict)."""
    out = copy.deepcopy(net)
    for unit in out.modules():
        if isinstance(unit, REBNCONV):
            unit.conv_s1 = fuse_conv_bn_eval(unit.conv_s1, unit.bn_s1)
            unit.bn_s1 = nn.Identity()
    return out


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    device = prepare(args)
    net = build_u2net(args.variant).to(device).eval().requires_grad_(False)
    nets = {"as built": net, "BatchNorm folded": package_folded_copy(net)}
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
    amp = torch.bfloat16 if args.dtype == "bf16" else None
    with torch.inference_mode(), autocast(device, amp):
        ours = nets["BatchNorm folded"].features(x)
        reference = replaced_copy(nets["as built"]).features(x)
    diff = largest_difference(ours, reference, "package fold", "fuse_conv_bn_eval")
    print(f"  package fold vs fuse_conv_bn_eval copy: max |diff| of the outputs {diff:.2e}")


if __name__ == "__main__":
    main()
