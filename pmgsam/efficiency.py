"""Efficiency report: parameters, FLOPs per image, latency/throughput and peak memory.

    python -m pmgsam.efficiency --model pmgsam_hiera_b+ [--size 1024] [--batch 1]
        [--device cuda|cpu] [--dtype bf16|fp32] [--iters 10] [--warmup 3] [--json out.json]
        [--train] [--compile] [--channels-last] [--compare sam_vit_b]
        [--config experiment.yaml] [--run-dir results/<run> [--method NAME]]

``--train`` times full training steps (forward, loss, backward, AdamW step) instead of
inference; ``--compare sam_vit_b`` also times segment-anything's automatic mask generator
(its default settings, randomly initialised weights) on the same images in the same process.
``--json`` writes a list of records (see :data:`RECORD_KEYS`), the format of
``benchmarks/results/*.json``.

FLOPs come from ``torch.utils.flop_counter.FlopCounterMode`` (one multiply-add = 2 FLOPs; ops
it does not count, such as normalisation and pointwise activations, are excluded) and are split
by top-level component so the frozen/trainable ratio of the design budget can be read off.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Union

import torch
from torch.utils.flop_counter import FlopCounterMode

from pmgsam.engine.config import LossConfig, OptimConfig, PerformanceConfig
from pmgsam.engine.distributed import autocast, synchronize
from pmgsam.engine.losses import SegmentationLoss
from pmgsam.engine.performance import (
    adamw_fused,
    enable_tf32,
    maybe_compile,
    prepare_model,
    to_memory_format,
)
from pmgsam.engine.schedulers import build_optimizer
from pmgsam.modeling.build import build_model, list_models
from pmgsam.modeling.config import ModelConfig
from pmgsam.modeling.pmgsam import FROZEN_BRANCHES
from pmgsam.utils.io import atomic_path


def count_parameters(model: torch.nn.Module) -> Dict[str, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"total": total, "trainable": trainable, "frozen": total - trainable}


def _amp_dtype(dtype: str) -> Optional[torch.dtype]:
    return torch.bfloat16 if dtype == "bf16" else None


@contextmanager
def _count_method(
    module: Optional[torch.nn.Module], method: str, counts: Dict[str, float], name: str
) -> Iterator[None]:
    """Count the FLOPs of every ``module.<method>`` call into ``counts[name]``.

    FlopCounterMode attributes FLOPs through forward hooks, so a branch entered through another
    method has no entry of its own; a nested counter around that method measures it (the
    outer counter still sees the same operations).
    """
    if module is None:
        yield
        return
    original = getattr(module, method)

    def counted(*args: Any, **kwargs: Any) -> Any:
        with FlopCounterMode(display=False) as inner:
            out = original(*args, **kwargs)
        counts[name] = counts.get(name, 0) + inner.get_total_flops()
        return out

    setattr(module, method, counted)
    try:
        yield
    finally:
        delattr(module, method)


def count_flops(model: torch.nn.Module, images: torch.Tensor, dtype: str = "fp32") -> Dict:
    """FLOPs of one forward pass per image, split into components and frozen/trainable.

    Every component is counted on its own; ``other`` holds what no component accounts for
    (operations of the top-level forward itself) and is absent when that is zero.
    """
    counter = FlopCounterMode(display=False)
    u2net_counts: Dict[str, float] = {}
    u2net = getattr(model, "u2net", None)
    counted_u2net = _count_method(u2net, "features", u2net_counts, "u2net")
    with torch.no_grad(), autocast(images.device, _amp_dtype(dtype)), counter, counted_u2net:
        model(images)
    per_module = counter.get_flop_counts()
    root = type(model).__name__
    n = images.shape[0]
    components: Dict[str, float] = {}
    for name, ops in per_module.items():
        parts = name.split(".")
        if len(parts) == 2 and parts[0] == root:
            components[parts[1]] = sum(ops.values()) / n
    for name, flops in u2net_counts.items():
        components[name] = flops / n
    total = counter.get_total_flops() / n
    other = total - sum(components.values())
    if other:
        components["other"] = other
    frozen = sum(v for k, v in components.items() if k in FROZEN_BRANCHES)
    return {
        "total": total,
        "frozen": frozen,
        "trainable": total - frozen,
        "trainable_over_frozen": (total - frozen) / frozen if frozen else float("nan"),
        "components": components,
    }


def _time_calls(
    step: Callable[[], Any], device: torch.device, batch: int, iters: int, warmup: int
) -> Dict[str, Any]:
    """Synchronised latency of ``step`` (one batch) and images/s after ``warmup`` calls."""
    for _ in range(warmup):
        step()
    synchronize(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        step()
        synchronize(device)
        times.append(time.perf_counter() - start)
    times.sort()
    median = times[len(times) // 2]
    result: Dict[str, Any] = {
        "latency_ms_median": 1000 * median,
        "latency_ms_mean": 1000 * sum(times) / len(times),
        "images_per_s": batch / median,
        "peak_memory_mb": None,
    }
    if device.type == "cuda":
        result["peak_memory_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return result


def measure_speed(
    model: Callable, images: torch.Tensor, dtype: str, iters: int, warmup: int
) -> Dict[str, Any]:
    """Inference latency per batch and images/s (``inference_mode``, optional bf16)."""
    device = images.device

    def step() -> None:
        with torch.inference_mode(), autocast(device, _amp_dtype(dtype)):
            model(images)

    return _time_calls(step, device, images.shape[0], iters, warmup)


def measure_training(
    model: torch.nn.Module,
    net: Callable,
    images: torch.Tensor,
    dtype: str,
    iters: int,
    warmup: int,
    perf: PerformanceConfig,
) -> Dict[str, Any]:
    """Full training steps as the trainer runs them: forward, loss, backward, clip, AdamW."""
    device = images.device
    torch.manual_seed(0)
    masks = (torch.rand(images.shape[0], 1, *images.shape[-2:], device=device) > 0.5).float()
    loss_fn = SegmentationLoss(LossConfig())
    optimizer = build_optimizer(model, OptimConfig(), fused=adamw_fused(perf, device))
    params = list(model.trainable_parameters())
    model.train()

    def step() -> None:
        with autocast(device, _amp_dtype(dtype)):
            outputs = net(images)
        loss, _ = loss_fn(outputs, masks)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()

    return _time_calls(step, device, images.shape[0], iters, warmup)


def measure_sam_amg(
    model_type: str, images: torch.Tensor, iters: int, warmup: int
) -> Dict[str, Any]:
    """segment-anything's ``SamAutomaticMaskGenerator`` (defaults) over the same images.

    The SAM weights are random (none can be downloaded here): with real weights more masks
    pass the quality filters and post-processing costs more, so this time is a lower bound.
    """
    from segment_anything import SamAutomaticMaskGenerator, sam_model_registry

    device = images.device
    torch.manual_seed(0)
    sam = sam_model_registry[model_type](checkpoint=None).to(device).eval()
    generator = SamAutomaticMaskGenerator(sam)
    arrays = [(img.permute(1, 2, 0) * 255).round().to(torch.uint8).cpu().numpy() for img in images]

    def step() -> None:
        for arr in arrays:
            generator.generate(arr)

    return _time_calls(step, device, len(arrays), iters, warmup)


RECORD_KEYS = (
    "device", "mode", "model", "dtype", "batch", "image_size", "compile",
    "images_per_s", "latency_ms", "peak_memory_mb", "torch", "commit",
)  # fmt: skip


def git_commit() -> str:
    """``git rev-parse HEAD`` of the checkout holding this package, or ``unknown``."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


def make_record(report: Dict[str, Any], mode: str, speed: Dict[str, Any], **extra) -> Dict:
    """One ``benchmarks/results`` record: :data:`RECORD_KEYS` plus ``extra`` notes."""
    record = {
        "device": report["device"],
        "mode": mode,
        "model": report["model"],
        "dtype": report["dtype"],
        "batch": report["batch"],
        "image_size": report["image_size"],
        "compile": report["compile"],
        "images_per_s": speed["images_per_s"],
        "latency_ms": speed["latency_ms_median"],
        "peak_memory_mb": speed["peak_memory_mb"],
        "torch": report["torch"],
        "commit": report["commit"],
        "threads": report["threads"],
        "channels_last": report["channels_last"],
    }
    record.update(extra)
    return record


def efficiency_report(
    model_name: Union[str, ModelConfig],
    size: Optional[int] = None,
    batch: int = 1,
    device: str = "cpu",
    dtype: str = "fp32",
    iters: int = 10,
    warmup: int = 3,
    train: bool = False,
    perf: Optional[PerformanceConfig] = None,
    compare: Optional[str] = None,
) -> Dict[str, Any]:
    """Parameters, FLOPs and timings of one model; ``report["records"]`` lists the timings.

    ``train`` times training steps instead of inference; ``compare`` (``sam_vit_b`` …) adds
    segment-anything's automatic mask generator on the same images.
    """
    perf = perf or PerformanceConfig()
    overrides = {"image_size": size} if size else {}
    dev = torch.device(device)
    enable_tf32(perf, dev)
    model = prepare_model(build_model(model_name, **overrides).to(dev).eval(), perf)
    s = model.config.image_size
    torch.manual_seed(0)
    images = to_memory_format(torch.rand(batch, 3, s, s, device=dev), perf)
    report: Dict[str, Any] = {
        "model": model_name if isinstance(model_name, str) else "config",
        "image_size": s,
        "batch": batch,
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "dtype": dtype,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "compile": perf.compile,
        "channels_last": perf.channels_last,
        "commit": git_commit(),
        "params": count_parameters(model),
        "flops_per_image": count_flops(model, images[:1], dtype),
    }
    net = maybe_compile(model, perf)
    if train:
        speed = measure_training(model, net, images, dtype, iters, warmup, perf)
    else:
        speed = measure_speed(net, images, dtype, iters, warmup)
    report["mode"] = "train" if train else "inference"
    report["speed"] = speed
    report["records"] = [make_record(report, report["mode"], speed)]
    if compare:
        sam_type = compare.removeprefix("sam_")
        amg = measure_sam_amg(sam_type, images, iters=max(1, iters // 2), warmup=min(warmup, 1))
        report["records"].append(
            make_record(
                report,
                "sam_amg",
                amg,
                model=compare,
                dtype="fp32",
                compile=False,
                channels_last=False,
                note="segment-anything SamAutomaticMaskGenerator defaults, random weights",
            )
        )
    return report


def format_report(r: Dict[str, Any]) -> str:
    p, f = r["params"], r["flops_per_image"]
    lines = [
        f"model {r['model']}  S={r['image_size']}  batch={r['batch']}  device={r['device']}  "
        f"dtype={r['dtype']}  torch={r['torch']}  threads={r['threads']}",
        f"parameters: total {p['total'] / 1e6:.2f} M | trainable {p['trainable'] / 1e6:.2f} M | "
        f"frozen {p['frozen'] / 1e6:.2f} M",
        f"FLOPs/image: total {f['total'] / 1e9:.1f} G | frozen branches {f['frozen'] / 1e9:.1f} G"
        f" | trainable parts {f['trainable'] / 1e9:.1f} G "
        f"({100 * f['trainable_over_frozen']:.1f} % of frozen)",
        "  by component: " + ", ".join(f"{k} {v / 1e9:.1f} G" for k, v in f["components"].items()),
    ]
    for rec in r.get("records", []):
        peak = rec["peak_memory_mb"]
        lines.append(
            f"{rec['mode']:9s} {rec['model']}: {rec['latency_ms']:.1f} ms per batch of "
            f"{rec['batch']} | {rec['images_per_s']:.2f} images/s"
            + (f" | peak {peak:.0f} MB (CUDA, allocated)" if peak is not None else "")
            + (f" | {rec['note']}" if rec.get("note") else "")
        )
    amg = [x for x in r.get("records", []) if x["mode"] == "sam_amg"]
    if amg and r.get("records"):
        ratio = r["records"][0]["images_per_s"] / amg[0]["images_per_s"]
        lines.append(f"speed-up vs {amg[0]['model']} automatic mask generator: {ratio:.1f}x")
    return "\n".join(lines)


def write_records(path: Union[str, Path], records: List[Dict[str, Any]]) -> None:
    """Write timing records as a JSON list (atomically; the parent folder is created)."""
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(records, f, indent=2)
        f.write("\n")


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
    parser.add_argument("--train", action="store_true", help="time training steps (AdamW)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--compile-mode", default="default")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument(
        "--hiera-attention",
        default="window",
        choices=["window", "package"],
        help="window-batched 4-D attention (default) or hiera-transformer's 5-D forward",
    )
    parser.add_argument(
        "--compare", choices=["sam_vit_b", "sam_vit_l", "sam_vit_h"], help="also time SAM AMG"
    )
    parser.add_argument(
        "--json", default=None, help="also write the timing records (a JSON list) here"
    )
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
    from pmgsam.utils.config import ConfigError

    perf = PerformanceConfig(
        hiera_window_attention=args.hiera_attention == "window",
        channels_last=args.channels_last,
        compile=args.compile,
        compile_mode=args.compile_mode,
    )
    try:
        perf.validate()
    except ConfigError as err:
        parser.error(str(err))
    report = efficiency_report(
        model,
        args.size,
        args.batch,
        args.device,
        args.dtype,
        args.iters,
        args.warmup,
        train=args.train,
        perf=perf,
        compare=args.compare,
    )
    if args.config:
        report["model"] = args.config
    print(format_report(report))
    if args.json:
        write_records(args.json, report["records"])
    if args.run_dir:
        from pmgsam.evaluation.tables import efficiency_from_report, write_run_json

        method = args.method or Path(args.run_dir).resolve().name
        path = write_run_json(args.run_dir, method, efficiency=efficiency_from_report(report))
        print(f"efficiency added to {path}")


if __name__ == "__main__":
    from pmgsam.utils.cli import run_cli

    run_cli(main, "pmgsam.efficiency")
