"""The least time a GPU could take for a PMG-SAM forward or training step, from the bytes and
FLOPs of its operators, component by component (no GPU needed: the model runs on the meta
device).

    python benchmarks/traffic_floor.py [--model pmgsam_hiera_b+] [--size S] [--batch 8]
        [--train] [--dtype bf16|fp32] [--gpu h100|h200] [--bandwidth TB/s] [--peak TFLOP/s]
        [--measured-ms MS] [--top N] [--no-bn-fold]

Per component and pass (forward, or backward with ``--train``): GB moved and GFLOPs per image,
operator calls per batch (each a kernel launch in eager mode), and two floors in ms per image
(:mod:`pmgsam.efficiency.traffic`): ``eager`` (every operator at its roofline) and ``anchors``
(only the convolutions, matrix products and attention, which a compiled form cannot fuse
away). The totals give the images/s each floor allows; ``--measured-ms`` (a measured time per
image) prints how many times each floor it is; ``--top N`` then lists the N operators (by
component, pass and ATen name, calls summed) with the largest eager floor. ``--gpu`` takes
the bandwidth and dense bf16 peak of an SXM part (H100 3.35 TB/s, H200 4.8 TB/s, both 989
TFLOP/s; A100 40 GB, the paper's, 1.555 TB/s and 312 TFLOP/s; TF32 half the peak for
``--dtype fp32``); ``--bandwidth`` / ``--peak`` override them.
The speed options are the package defaults (``PerformanceConfig()``: window-batched Hiera
attention, the frozen U²-Net's BatchNorms folded; ``--no-bn-fold`` leaves them unfolded, as the
H200 records of 2026-11-30 ran); memory format changes no byte count.
"""

from __future__ import annotations

import argparse
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

from pmgsam.efficiency.traffic import (
    OPTIMIZER,
    OpTraffic,
    count_traffic,
    optimizer_traffic,
    summarise,
)
from pmgsam.engine.performance import prepare_model
from pmgsam.engine.performance_config import PerformanceConfig
from pmgsam.modeling.build import build_model
from pmgsam.modeling.registry import list_models
from pmgsam.utils.cli import non_negative_int, positive_float, positive_int

#: (bandwidth TB/s, dense bf16 TFLOP/s) of the SXM parts; the A100 40 GB trained the paper.
GPUS = {"a100": (1.555, 312.0), "h100": (3.35, 989.0), "h200": (4.8, 989.0)}
DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="pmgsam_hiera_b+", choices=sorted(list_models()))
    parser.add_argument("--size", type=positive_int, default=None, help="S (the model's own)")
    parser.add_argument("--batch", type=positive_int, default=8)
    parser.add_argument("--train", action="store_true", help="a training step, not a forward")
    parser.add_argument("--dtype", default="bf16", choices=sorted(DTYPES))
    parser.add_argument("--gpu", default="h100", choices=sorted(GPUS))
    parser.add_argument("--bandwidth", type=positive_float, help="TB/s (overrides --gpu)")
    parser.add_argument("--peak", type=positive_float, help="TFLOP/s (overrides --gpu)")
    parser.add_argument(
        "--measured-ms", type=positive_float, help="a measured time per image to set beside"
    )
    parser.add_argument(
        "--no-bn-fold", action="store_true", help="the U²-Net's BatchNorms as built (unfolded)"
    )
    parser.add_argument(
        "--top", type=non_negative_int, default=0, metavar="N", help="list the N largest operators"
    )
    return parser


def device_limits(args: argparse.Namespace) -> Tuple[float, float]:
    """(bytes/s, FLOP/s) of ``--gpu``, ``--bandwidth`` and ``--peak``."""
    bandwidth, peak = GPUS[args.gpu]
    if args.dtype == "fp32":
        peak /= 2  # TF32 tensor cores
    bandwidth = args.bandwidth or bandwidth
    peak = args.peak or peak
    return bandwidth * 1e12, peak * 1e12


def format_rows(rows: Dict[Tuple[str, bool], Dict[str, float]]) -> List[str]:
    """The table: a line per (component, pass), then the total."""
    head = f"{'component':<24}{'GB/img':>9}{'GFLOP/img':>11}{'ops/batch':>11}"
    lines = [head + f"{'eager ms/img':>14}{'anchors ms/img':>16}"]
    total = {"gb": 0.0, "gflop": 0.0, "ops": 0, "eager_ms": 0.0, "anchors_ms": 0.0}
    for (component, backward), row in rows.items():
        name = f"{component} {'backward' if backward else 'forward'}"
        if component == OPTIMIZER:
            name = "clipping + AdamW"
        lines.append(
            f"{name:<24}{row['gb']:>9.2f}{row['gflop']:>11.1f}{row['ops']:>11d}"
            f"{row['eager_ms']:>14.2f}{row['anchors_ms']:>16.2f}"
        )
        for key in total:
            total[key] += row[key]
    lines.append(
        f"{'total':<24}{total['gb']:>9.2f}{total['gflop']:>11.1f}{int(total['ops']):>11d}"
        f"{total['eager_ms']:>14.2f}{total['anchors_ms']:>16.2f}"
    )
    return lines


def top_operators(ops: Sequence[OpTraffic], bandwidth: float, peak: float, batch: int, n: int):
    """The ``n`` (component, pass, operator) groups with the largest eager floor, as lines."""
    groups: Dict[Tuple[str, bool, str], List[OpTraffic]] = {}
    for op in ops:
        groups.setdefault((op.component, op.backward, op.op), []).append(op)
    rows = []
    for (component, backward, name), members in groups.items():
        row = summarise(members, bandwidth, peak, per=batch)[(component, backward)]
        rows.append((row["eager_ms"], component, backward, name, row))
    rows.sort(key=lambda r: -r[0])
    total = sum(r[0] for r in rows)
    lines = [f"largest operators ({n}):"]
    for ms, component, backward, name, row in rows[:n]:
        where = f"{component} {'backward' if backward else 'forward'}"
        lines.append(
            f"  {where:<18}{name:<50}{row['gb']:>7.2f} GB/img{int(row['ops']):>6d} calls"
            f"{ms:>8.2f} ms/img{100 * ms / total:>6.1f} %"
        )
    return lines


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    """Print the table; returns the rows and the two floors (ms per image)."""
    args = build_parser().parse_args(argv)
    bandwidth, peak = device_limits(args)
    overrides = {"image_size": args.size} if args.size else {}
    with torch.device("meta"):
        model = build_model(args.model, **overrides)
    perf = PerformanceConfig(fold_frozen_batchnorm=not args.no_bn_fold)
    model = prepare_model(model.to(DTYPES[args.dtype]), perf)
    s = model.config.image_size
    images = torch.empty(args.batch, 3, s, s, device="meta", dtype=DTYPES[args.dtype])
    ops = count_traffic(model, images, args.train)
    if args.train:
        ops.append(optimizer_traffic(model))
    rows = summarise(ops, bandwidth, peak, per=args.batch)
    mode = "training step" if args.train else "forward"
    print(
        f"{args.model} {mode} S={s} batch={args.batch} dtype={args.dtype} "
        f"bandwidth={bandwidth / 1e12:g} TB/s peak={peak / 1e12:g} TFLOP/s "
        f"bn_fold={not args.no_bn_fold} torch={torch.__version__}"
    )
    print("\n".join(format_rows(rows)))
    floors = {
        "eager_ms": sum(r["eager_ms"] for r in rows.values()),
        "anchors_ms": sum(r["anchors_ms"] for r in rows.values()),
    }
    for key, label in (("eager_ms", "eager"), ("anchors_ms", "anchors")):
        line = f"  {label} floor: {floors[key]:.2f} ms per image, {1e3 / floors[key]:.1f} images/s"
        if args.measured_ms:
            line += f"; measured {args.measured_ms:g} ms is {args.measured_ms / floors[key]:.1f}x"
        print(line)
    if args.top:
        print("\n".join(top_operators(ops, bandwidth, peak, args.batch, args.top)))
    return {"rows": rows, **floors}


if __name__ == "__main__":
    main()
