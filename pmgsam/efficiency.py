"""Efficiency report: parameters, FLOPs per image, latency/throughput and peak memory.

    python -m pmgsam.efficiency --model pmgsam_hiera_b+ [--size 1024] [--batch 1]
        [--device cuda|cpu] [--dtype bf16|fp32] [--iters 10] [--warmup 3] [--json out.json]
        [--config experiment.yaml] [--run-dir results/<run> [--method NAME]]

FLOPs come from ``torch.utils.flop_counter.FlopCounterMode`` (one multiply-add = 2 FLOPs; ops
it does not count, such as normalisation and pointwise activations, are excluded) and are split
by top-level component so the frozen/trainable ratio of the design budget can be read off.
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Dict, Optional, Union

import torch
from torch.utils.flop_counter import FlopCounterMode

from pmgsam.engine.distributed import synchronize
from pmgsam.modeling.build import build_model, list_models
from pmgsam.modeling.config import ModelConfig
from pmgsam.modeling.pmgsam import FROZEN_BRANCHES
from pmgsam.utils.io import atomic_path


def count_parameters(model: torch.nn.Module) -> Dict[str, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"total": total, "trainable": trainable, "frozen": total - trainable}


def _autocast(device: torch.device, dtype: str):
    if dtype == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return nullcontext()


def count_flops(model: torch.nn.Module, images: torch.Tensor, dtype: str = "fp32") -> Dict:
    """FLOPs of one forward pass per image, split into components and frozen/trainable."""
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), _autocast(images.device, dtype), counter:
        model(images)
    per_module = counter.get_flop_counts()
    root = type(model).__name__
    components: Dict[str, float] = {}
    for name, ops in per_module.items():
        parts = name.split(".")
        if len(parts) == 2 and parts[0] == root:
            components[parts[1]] = sum(ops.values()) / images.shape[0]
    total = counter.get_total_flops() / images.shape[0]
    # A branch entered through a method other than forward (U²-Net's ``features``) has no
    # entry of its own; it gets whatever the other components leave of the total.
    unattributed = [b for b in FROZEN_BRANCHES if b not in components]
    if len(unattributed) == 1:
        components[unattributed[0]] = total - sum(components.values())
    frozen = sum(v for k, v in components.items() if k in FROZEN_BRANCHES)
    return {
        "total": total,
        "frozen": frozen,
        "trainable": total - frozen,
        "trainable_over_frozen": (total - frozen) / frozen if frozen else float("nan"),
        "components": components,
    }


def measure_speed(
    model: torch.nn.Module, images: torch.Tensor, dtype: str, iters: int, warmup: int
) -> Dict[str, Any]:
    """Synchronised latency per batch and images/s after ``warmup`` passes."""
    device = images.device
    with torch.inference_mode(), _autocast(device, dtype):
        for _ in range(warmup):
            model(images)
        synchronize(device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        times = []
        for _ in range(iters):
            start = time.perf_counter()
            model(images)
            synchronize(device)
            times.append(time.perf_counter() - start)
    times.sort()
    median = times[len(times) // 2]
    result: Dict[str, Any] = {
        "latency_ms_median": 1000 * median,
        "latency_ms_mean": 1000 * sum(times) / len(times),
        "images_per_s": images.shape[0] / median,
        "peak_memory_mb": None,
    }
    if device.type == "cuda":
        result["peak_memory_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return result


def efficiency_report(
    model_name: Union[str, ModelConfig],
    size: Optional[int] = None,
    batch: int = 1,
    device: str = "cpu",
    dtype: str = "fp32",
    iters: int = 10,
    warmup: int = 3,
) -> Dict[str, Any]:
    overrides = {"image_size": size} if size else {}
    dev = torch.device(device)
    model = build_model(model_name, **overrides).to(dev).eval()
    s = model.config.image_size
    images = torch.rand(batch, 3, s, s, device=dev)
    report: Dict[str, Any] = {
        "model": model_name if isinstance(model_name, str) else "config",
        "image_size": s,
        "batch": batch,
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "dtype": dtype,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "params": count_parameters(model),
        "flops_per_image": count_flops(model, images[:1], dtype),
    }
    report["speed"] = measure_speed(model, images, dtype, iters, warmup)
    return report


def format_report(r: Dict[str, Any]) -> str:
    p, f, s = r["params"], r["flops_per_image"], r["speed"]
    lines = [
        f"model {r['model']}  S={r['image_size']}  batch={r['batch']}  device={r['device']}  "
        f"dtype={r['dtype']}  torch={r['torch']}  threads={r['threads']}",
        f"parameters: total {p['total'] / 1e6:.2f} M | trainable {p['trainable'] / 1e6:.2f} M | "
        f"frozen {p['frozen'] / 1e6:.2f} M",
        f"FLOPs/image: total {f['total'] / 1e9:.1f} G | frozen branches {f['frozen'] / 1e9:.1f} G"
        f" | trainable parts {f['trainable'] / 1e9:.1f} G "
        f"({100 * f['trainable_over_frozen']:.1f} % of frozen)",
        "  by component: " + ", ".join(f"{k} {v / 1e9:.1f} G" for k, v in f["components"].items()),
        f"latency/batch: median {s['latency_ms_median']:.1f} ms (mean {s['latency_ms_mean']:.1f})"
        f" | throughput {s['images_per_s']:.2f} images/s",
    ]
    if s["peak_memory_mb"] is not None:
        lines.append(f"peak memory (CUDA, allocated): {s['peak_memory_mb']:.0f} MB")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="pmgsam_hiera_b+", choices=list_models())
    parser.add_argument("--config", help="measure the model of this experiment YAML instead")
    parser.add_argument("--size", type=int, default=None, help="input side S (default: model's)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--json", default=None, help="also write the report as JSON here")
    parser.add_argument(
        "--run-dir", help="add the figures to <run-dir>/run.json for python -m pmgsam.report"
    )
    parser.add_argument("--method", help="method name in run.json (default: the run dir name)")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda requested but CUDA is not available")
    model: Union[str, ModelConfig] = args.model
    if args.config:
        from pmgsam.engine.config import ExperimentConfig
        from pmgsam.utils.config import load_config

        model = load_config(ExperimentConfig, args.config).model
    report = efficiency_report(
        model, args.size, args.batch, args.device, args.dtype, args.iters, args.warmup
    )
    if args.config:
        report["model"] = args.config
    print(format_report(report))
    if args.json:
        with atomic_path(args.json) as tmp, open(tmp, "w") as f:
            json.dump(report, f, indent=2)
    if args.run_dir:
        from pmgsam.evaluation.tables import efficiency_from_report, write_run_json

        method = args.method or Path(args.run_dir).resolve().name
        path = write_run_json(args.run_dir, method, efficiency=efficiency_from_report(report))
        print(f"efficiency added to {path}")


if __name__ == "__main__":
    from pmgsam.utils.cli import run_cli

    run_cli(main, "pmgsam.efficiency")
