"""The efficiency report: one model's parameters, FLOPs and timing records."""

from __future__ import annotations

import gc
import json
import os
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import torch

from pmgsam import __version__
from pmgsam.efficiency.agreement import can_force_eager, describe, eager_agreement
from pmgsam.efficiency.flops import count_flops, count_parameters
from pmgsam.efficiency.timing import measure_amg, measure_speed, measure_training
from pmgsam.engine.cuda_graphs import GraphedInference, maybe_graph
from pmgsam.engine.performance import (
    configure_backends,
    maybe_compile,
    prepare_model,
    to_memory_format,
)
from pmgsam.engine.performance_config import PerformanceConfig
from pmgsam.modeling.build import build_model
from pmgsam.modeling.config import ModelConfig
from pmgsam.utils.cpus import torch_threads
from pmgsam.utils.io import atomic_path

AMG_PACKAGES = {
    "sam": "segment-anything SamAutomaticMaskGenerator",
    "sam2": "sam2 SAM2AutomaticMaskGenerator",
}

RECORD_KEYS = (
    "device", "mode", "model", "dtype", "batch", "image_size", "compile",
    "images_per_s", "latency_ms", "peak_memory_mb", "torch", "commit",
)  # fmt: skip


#: Names the commit where the package's folder is no git checkout: a copy of the working tree
#: without ``.git``, as a lent GPU machine receives it (BENCHMARKS.md's GPU calls set it).
COMMIT_ENV = "PMGSAM_COMMIT"


def git_commit() -> str:
    """``git rev-parse HEAD`` of the checkout holding this package; else the commit
    :data:`COMMIT_ENV` names; else ``unknown``.

    The checkout must be the project's own: its top level is the folder holding the
    ``pmgsam`` package. A copy of the project without ``.git`` placed inside another
    repository would otherwise report that repository's commit."""
    fallback = os.environ.get(COMMIT_ENV, "").strip() or "unknown"
    project = Path(__file__).resolve().parents[2]  # the folder holding pmgsam/
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--show-toplevel", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return fallback
    lines = out.stdout.splitlines()
    if out.returncode != 0 or len(lines) != 2 or not lines[1].strip():
        return fallback
    if Path(lines[0]).resolve() != project:
        return fallback
    return lines[1].strip()


def make_record(
    report: Dict[str, Any], mode: str, speed: Dict[str, Any], **extra: Any
) -> Dict[str, Any]:
    """One ``benchmarks/results`` record: :data:`RECORD_KEYS` plus ``extra`` notes.

    Arguments:
      report (dict): the efficiency report (device, model, dtype, batch, image size, compile
        scope and mode, torch, commit, pmgsam version, threads, channels-last and
        cuDNN-benchmark settings, ``hiera_attention`` when not the default window-batched
        form, ``fold_frozen_batchnorm``, ``tf32``, and ``cuda_graphs`` for inference or
        ``fused_optimizer`` for training).
      mode (str): what was timed (``inference``, ``train`` or ``sam_amg``).
      speed (dict): the timing (``images_per_s``, ``latency_ms_median``, ``first_call_ms``,
        ``peak_memory_mb``, ``peak_reserved_mb``).
      **extra: further keys of the record (notes), added last.
    """
    record = {
        "device": report["device"],
        "mode": mode,
        "model": report["model"],
        "dtype": report["dtype"],
        "batch": report["batch"],
        "image_size": report["image_size"],
        "compile": report["compile"],
        "compile_mode": report.get("compile_mode"),
        "images_per_s": speed["images_per_s"],
        "latency_ms": speed["latency_ms_median"],
        "first_call_ms": speed["first_call_ms"],
        "peak_memory_mb": speed["peak_memory_mb"],
        "peak_reserved_mb": speed["peak_reserved_mb"],
        "torch": report["torch"],
        "commit": report["commit"],
        "pmgsam": report.get("pmgsam"),
        "threads": report["threads"],
        "channels_last": report["channels_last"],
        "cudnn_benchmark": report["cudnn_benchmark"],
    }
    if "tf32" in report:  # process-wide: the generator's matmuls too
        record["tf32"] = report["tf32"]
    if mode != "sam_amg":  # PMG-SAM's Hiera and U²-Net, not the AMG's
        for key in ("hiera_attention", "fold_frozen_batchnorm", "bf16_group_norm"):
            if key in report:
                record[key] = report[key]
    # Each applies to one mode only: CUDA graphs replay predictions, AdamW steps in training.
    only = {"inference": "cuda_graphs", "train": "fused_optimizer"}.get(mode)
    if only in report:
        record[only] = report[only]
    record.update(extra)
    return record


def _amg_record(
    report: Dict[str, Any],
    compare: str,
    images: torch.Tensor,
    iters: int,
    warmup: int,
    points_per_side: int,
    progress: bool = True,
) -> Dict[str, Any]:
    """The record of ``compare``'s automatic mask generator timed on the same ``images``
    (``progress``: a bar over its passes, on stderr)."""
    amg = measure_amg(
        compare,
        images,
        iters=max(1, iters // 2),
        warmup=min(warmup, 1),
        points_per_side=points_per_side,
        progress=f"timing {compare} automatic mask generator" if progress else None,
    )
    points = "" if points_per_side == 32 else f" but {points_per_side}² points"
    kept = amg["masks_kept"]
    note = (
        f"{AMG_PACKAGES[compare.partition('_')[0]]} defaults{points}, random weights "
        f"({kept} mask(s) kept for the first image; real weights keep more, each "
        "post-processed, so this time is a lower bound)"
    )
    ours = report["image_size"]
    side = amg.get("image_size") or ours
    if side != ours:  # its ratios to PMG-SAM's record are then not like for like
        note += (
            f"; each {ours}x{ours} image resized to its {side} px input "
            f"({report['model']} ran at S={ours})"
        )
    return make_record(
        report,
        "sam_amg",
        amg,
        model=compare,
        dtype="fp32",
        compile=False,
        compile_mode=None,
        channels_last=False,
        # S is the generator's own input side, as a baseline's timing records it; the image
        # it was given is timed_image_size.
        image_size=side,
        timed_image_size=[ours, ours],
        points_per_side=points_per_side,
        flops_per_image=amg["flops_per_image"]["total"],
        encoder_flops_per_image=amg["flops_per_image"].get("image_encoder"),
        masks_kept=kept,
        note=note,
    )


def _environment(dev: torch.device, dtype: str, perf: PerformanceConfig) -> Dict[str, Any]:
    """What a timing depends on besides the model: device, precision, torch, settings, commit."""
    return {
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "dtype": dtype,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "compile": perf.compile_scope if perf.compile else False,
        "compile_mode": perf.compile_mode if perf.compile else None,
        "channels_last": perf.channels_last,
        "cudnn_benchmark": perf.cudnn_benchmark,
        "commit": git_commit(),
        # An installed release has no checkout to name: its version still traces the record.
        "pmgsam": __version__,
        # hiera-transformer's own 5-D attention runs at another speed than the default
        # window-batched form: recorded (only when used) so such a row is not ranked as like.
        **({} if perf.hiera_window_attention else {"hiera_attention": "package"}),
        # Always recorded: records made before the option lack it and ran the U²-Net unfolded,
        # so a missing key must read as unfolded, not as today's folded default.
        "fold_frozen_batchnorm": perf.fold_frozen_batchnorm,
        # Settings a --config may change: a record says what it timed with.
        "tf32": perf.tf32,
        "fused_optimizer": perf.fused_optimizer,
        "cuda_graphs": perf.cuda_graphs,
        "bf16_group_norm": perf.bf16_group_norm,
    }


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
    sam_points_per_side: int = 32,
    label: Optional[str] = None,
    threads: Optional[int] = None,
    progress: bool = True,
) -> Dict[str, Any]:
    """Parameters, FLOPs and timings of one model; ``report["records"]`` lists the timings.

    ``label`` names the model in the report and its records (default: ``model_name`` when it
    is a registered name, else ``"config"``). ``train`` times training steps instead of
    inference; ``compare`` (one of :data:`~pmgsam.baselines.settings.AMG_MODELS`) adds that
    model's automatic mask generator on the same images (``sam_points_per_side`` prompts per
    side, the packages' default 32), for inference only (with ``train``: ValueError).
    ``threads`` sets torch's intra-op thread count for the measurement (None: torch's own,
    which ``OMP_NUM_THREADS`` sets); the count is restored afterwards, and the report and its
    records say which one was used (``threads``).
    ``progress``: a tqdm bar on stderr over each timing's calls (advanced between calls,
    outside the timed spans), as the baselines' timing shows one.
    """
    if train and compare:  # its speed-up would set training steps against inference
        raise ValueError("compare times a generator's inference: it cannot go with train")
    perf = perf or PerformanceConfig()
    with torch_threads(threads):
        overrides = {"image_size": size} if size else {}
        dev = torch.device(device)
        configure_backends(perf, dev)
        model = prepare_model(build_model(model_name, **overrides).to(dev).eval(), perf)
        s = model.config.image_size
        torch.manual_seed(0)
        images = to_memory_format(torch.rand(batch, 3, s, s, device=dev), perf)
        report: Dict[str, Any] = {
            "model": label or (model_name if isinstance(model_name, str) else "config"),
            "image_size": s,
            "batch": batch,
            **_environment(dev, dtype, perf),
            "params": count_parameters(model),
            "flops_per_image": count_flops(model, images[:1], dtype),
        }
        net = maybe_compile(model, perf)
        report["mode"] = "train" if train else "inference"
        bar = f"timing {report['model']} {report['mode']}" if progress else None
        if train:
            speed = measure_training(model, net, images, dtype, iters, warmup, perf, bar)
        else:
            net = maybe_graph(net, model, perf.cuda_graphs)
            speed = measure_speed(net, images, dtype, iters, warmup, progress=bar)
        report["speed"] = speed
        # Forward FLOPs per image in every record, so a record compares with the generator's.
        flops = report["flops_per_image"]["total"]
        notes: Dict[str, Any] = {"flops_per_image": flops}
        graphed = isinstance(net, GraphedInference)
        # After the timing, outside its peak: a fast path's record is worth its figures only
        # if the path computes the model's outputs (agreement.py). Compiled code runs eagerly
        # for the comparison only from torch 2.6 on; before, such a record goes unchecked.
        if (graphed or perf.compile) and (can_force_eager() or not perf.compile):
            notes["vs_eager"] = eager_agreement(net, model, images, dtype, train, perf.compile)
        if graphed and dev.type == "cuda":
            notes["memory_note"] = (
                "CUDA graphs: peak_memory_mb counts the replays' tensors; the graph's own "
                "activation pool is in peak_reserved_mb"
            )
        report["records"] = [make_record(report, report["mode"], speed, **notes)]
        if compare:
            # Freed first: PMG-SAM's weights must not count in the generator's peak memory.
            del net, model
            gc.collect()
            if dev.type == "cuda":  # nor its cached blocks in the generator's reserved peak
                torch.cuda.empty_cache()
            report["records"].append(
                _amg_record(report, compare, images, iters, warmup, sam_points_per_side, progress)
            )
        return report


def _rate(images_per_s: float) -> str:
    """Two decimals, or three significant digits below 0.1 images/s: a generator taking
    minutes per image would print as 0.00, which a reader could copy into Table 1."""
    return f"{images_per_s:.2f}" if images_per_s >= 0.1 else f"{images_per_s:.3g}"


def format_report(r: Dict[str, Any]) -> str:
    """The printed report: parameters, FLOPs by component, each record's timing and, with a
    compared generator, the speed-up and FLOPs ratio."""
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
            f"{rec['batch']} | {_rate(rec['images_per_s'])} images/s"
            + (f" | peak {peak:.0f} MB (CUDA, allocated)" if peak is not None else "")
            + (f" | {rec['note']}" if rec.get("note") else "")
        )
        if rec.get("vs_eager"):
            lines.append("  " + describe(rec["vs_eager"]))
    amg = [x for x in r.get("records", []) if x["mode"] == "sam_amg"]
    if amg and r.get("records"):
        first = r["records"][0]
        sizes = ""
        if amg[0]["image_size"] != first["image_size"]:  # the ratios are not like for like
            sizes = (
                f", at different input sizes: {first['model']} S={first['image_size']}, "
                f"{amg[0]['model']} {amg[0]['image_size']} px"
            )
        ratio = first["images_per_s"] / amg[0]["images_per_s"]
        lines.append(f"speed-up vs {amg[0]['model']} automatic mask generator: {ratio:.1f}x{sizes}")
        ours, theirs = first["flops_per_image"], amg[0]["flops_per_image"]
        lines.append(
            f"FLOPs per image: {ours / 1e9:.1f} G vs {theirs / 1e9:.1f} G "
            f"({theirs / ours:.1f}x fewer{sizes})"
        )
    return "\n".join(lines)


def write_records(path: Union[str, Path], records: List[Dict[str, Any]]) -> None:
    """Write timing records as a JSON list (atomically; the parent folder is created)."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(records, f, indent=2)
        f.write("\n")
