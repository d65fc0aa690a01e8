"""The least time a GPU could take for a PMG-SAM forward or training step, from the bytes and
FLOPs of its operators, component by component (no GPU needed: the model runs on the meta
device).

    python benchmarks/traffic_floor.py [--model pmgsam_hiera_b+] [--size S] [--batch 8]
        [--train] [--dtype bf16|fp32] [--gpu h100|h200] [--bandwidth TB/s] [--peak TFLOP/s]
        [--measured-ms MS]

Per component and pass (forward, or backward with ``--train``): GB moved and GFLOPs per image,
operator calls per batch (each a kernel launch in eager mode), and two floors in ms per image
(:mod:`pmgsam.efficiency.traffic`): ``eager`` (every operator at its roofline) and ``anchors``
(only the convolutions, matrix products and attention, which a compiled form cannot fuse
away). The totals give the images/s each floor allows; ``--measured-ms`` (a measured time per
image) prints how many times each floor it is. ``--gpu`` takes the bandwidth and dense bf16
peak of an SXM part (H100 3.35 TB/s, H200 4.8 TB/s, both 989 TFLOP/s; TF32 half that for
``--dtype fp32``); ``--bandwidth`` / ``--peak`` override them. The speed options are the
package defaults (``PerformanceConfig()``: window-batched Hiera attention, the frozen U²-Net's
BatchNorms folded); memory format changes no byte count.
"""

from __future__ import annotations

import argparse
from typing import Any, Dict, List, Optional, Tuple

import torch

from pmgsam.efficiency.traffic import OPTIMIZER, count_traffic, optimizer_traffic, summarise
from pmgsam.engine.performance import prepare_model
from pmgsam.engine.performance_config import PerformanceConfig
from pmgsam.modeling.build import build_model
from pmgsam.modeling.registry import list_models
from pmgsam.utils.cli import positive_int

#: (bandwidth TB/s, dense bf16 TFLOP/s) of the SXM parts.
GPUS = {"h100": (3.35, 989.0), "h200": (4.8, 989.0)}
DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


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
    return parser


def device_limits(args: argparse.Namespace) -> Tuple[float, float]:
    """(bytes/s, FLOP/s) of ``--gpu``, ``--bandwidth`` and ``--peak``."""
    bandwidth, peak = GPUS[args.gpu]
    if args.dtype == "fp32":
        peak /= 2  # TF32 tensor cores
    bandwidth = args.bandwidth or bandwidth
    peak = args.peak or peak
    return bandwidth * 1e12, peak * 1e12


def format_rows(rows: Dict[Tuple[str, bool], Dict[str, float]], batch: int) -> List[str]:
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


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    """Print the table; returns the rows and the two floors (ms per image)."""
    args = build_parser().parse_args(argv)
    bandwidth, peak = device_limits(args)
    overrides = {"image_size": args.size} if args.size else {}
    with torch.device("meta"):
        model = build_model(args.model, **overrides)
    model = prepare_model(model.to(DTYPES[args.dtype]), PerformanceConfig())
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
        f"torch={torch.__version__}"
    )
    print("\n".join(format_rows(rows, args.batch)))
    floors = {
        "eager_ms": sum(r["eager_ms"] for r in rows.values()),
        "anchors_ms": sum(r["anchors_ms"] for r in rows.values()),
    }
    for key, label in (("eager_ms", "eager"), ("anchors_ms", "anchors")):
        line = f"  {label} floor: {floors[key]:.2f} ms per image, {1e3 / floors[key]:.1f} images/s"
        if args.measured_ms:
            line += f"; measured {args.measured_ms:g} ms is {args.measured_ms / floors[key]:.1f}×"
        print(line)
    return {"rows": rows, **floors}


if __name__ == "__main__":
    main()
