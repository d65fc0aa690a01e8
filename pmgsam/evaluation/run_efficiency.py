"""The ``efficiency`` section of a run.json (:mod:`pmgsam.evaluation.run_json`), from a
``pmgsam.efficiency`` report: the figures, and the conditions they were timed under
(``timed_on``), since rows timed otherwise are not comparable.
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional


def efficiency_from_report(report: Mapping[str, object]) -> Dict[str, object]:
    """Flatten a ``pmgsam.efficiency`` report (params / flops_per_image / speed) for run.json.

    Every figure of a part the report holds is given, None where that measurement has none
    (``threads`` on CUDA, ``peak_memory_MB`` on a CPU): merged into a run.json, it replaces the
    figure of an earlier timing on other hardware. A part the report lacks (a baseline run with
    ``--speed-iters 0`` counts parameters only) gives no keys, so an earlier timing stays
    unless the caller drops it (a baseline row's, :mod:`pmgsam.baselines.row_timing`).
    """
    params = report.get("params")
    flops = report.get("flops_per_image")
    speed = report.get("speed")
    raw: Dict[str, object] = {}
    if params is not None:
        raw.update(params_total_M=params.get("total"), params_trainable_M=params.get("trainable"))
    if flops is not None:
        raw["flops_G"] = flops.get("total")
    if speed is not None:
        raw.update(fps=speed.get("images_per_s"), peak_memory_MB=speed.get("peak_memory_mb"))
    scale = {"params_total_M": 1e6, "params_trainable_M": 1e6, "flops_G": 1e9}
    out: Dict[str, object] = {
        k: (None if v is None else float(v) / scale.get(k, 1.0)) for k, v in raw.items()
    }
    if speed is not None:  # None on CUDA: replaces the count of an earlier CPU timing
        out["threads"] = cpu_threads(report)
    timed_on = timing_conditions(report) if speed is not None else None
    if timed_on:
        out["timed_on"] = timed_on
    return out


def cpu_threads(report: Mapping[str, object]) -> Optional[int]:
    """The torch intra-op thread count a CPU timing ran on (None on CUDA, or not recorded):
    a CPU's speed scales with it, a GPU's does not."""
    threads = report.get("threads")
    return int(threads) if report.get("device") == "cpu" and threads is not None else None


def timing_conditions(report: Mapping[str, object]) -> Optional[str]:
    """Where and how a report's speed was measured, e.g. ``cpu, 2 threads, fp32, S=1024,
    batch 1``: rows timed otherwise are not comparable. S is the model's input side; a
    baseline's whole prediction also names the image it was timed on, width x height as every
    other size pmgsam prints (``image 112x69 (WxH)``; the report records it as read, (H, W)).
    The torch thread count is named for CPU timings only (:func:`cpu_threads`). The speed
    options a timing used are named last, and only when used (eager, contiguous, no cuDNN
    benchmark: nothing added): ``compiled (regional, max-autotune)`` (the mode when not
    ``default``), ``channels-last``, ``Hiera package attention`` (hiera-transformer's 5-D
    forward instead of the window-batched one), on a GPU ``cudnn-benchmark``, and ``bn-fold``
    (the frozen U²-Net's BatchNorms folded; a report made before that option ran unfolded)."""
    size, image = report.get("image_size"), report.get("timed_image_size")
    if isinstance(image, (list, tuple)) and len(image) == 2:
        image = f"{image[1]}x{image[0]} (WxH)"
    threads = cpu_threads(report)
    parts = [report.get("device")]
    parts.append(threads is not None and f"{threads} thread{'' if threads == 1 else 's'}")
    parts += [report.get("dtype"), size and f"S={size}"]
    parts.append(image and f"image {image}")
    parts.append(report.get("batch") and f"batch {report.get('batch')}")
    parts += _speed_options(report)
    return ", ".join(str(p) for p in parts if p) or None


def _speed_options(report: Mapping[str, object]) -> List[str]:
    """The speed options a timing used, for :func:`timing_conditions`: they change how fast
    the same model runs, so a row timed with them is not like for like with one without."""
    options = []
    scope, mode = report.get("compile"), report.get("compile_mode")
    if scope:
        how = [str(scope)] if isinstance(scope, str) else []
        how += [str(mode)] if mode and mode != "default" else []
        options.append("compiled" + (f" ({', '.join(how)})" if how else ""))
    return options + speed_option_names(report)


def speed_option_names(record: Mapping[str, object]) -> List[str]:
    """The speed options other than compilation that a timing (an efficiency report or one of
    its records) ran with, by name: the one list for run.json's ``timed_on`` and the options
    column of ``benchmarks/render_table.py``.

    Each is named when it acted: the U²-Net's BatchNorm fold not in a compiled timing; the
    GPU-only ones (cuDNN's algorithm timing, CUDA graphs, TF32 turned off, GroupNorms in bf16,
    the last in a bf16 timing only) not for a CPU timing, which records the package defaults
    for them too. A record made before an option lacks its key and ran without it (the U²-Net
    unfolded, eager launches) or, for TF32, with it on (the default then and now)."""
    on_gpu = record.get("device") != "cpu"
    names = []
    if record.get("channels_last"):
        names.append("channels-last")
    if record.get("hiera_attention") == "package":  # the default window-batched form: unnamed
        names.append("Hiera package attention")
    if cudnn_benchmark_applies(record):
        names.append("cudnn-benchmark")
    # The fold is skipped inside torch.compile (which fuses the BatchNorm itself), and
    # compilation, whole or regional, covers every U²-Net unit.
    if record.get("fold_frozen_batchnorm") and not record.get("compile"):
        names.append("bn-fold")
    if record.get("cuda_graphs") and on_gpu:
        names.append("cuda-graphs")
    if record.get("bf16_group_norm") and on_gpu and record.get("dtype") == "bf16":
        names.append("bf16-group-norm")
    if record.get("tf32") is False and on_gpu:
        names.append("no-tf32")
    return names


def cudnn_benchmark_applies(record: Mapping[str, object]) -> bool:
    """Whether a timing's ``cudnn_benchmark`` setting acted: on, and timed on a GPU (whose name
    is the record's ``device``; a CPU timing's is ``cpu``). The efficiency report records the
    package default (on) for a CPU timing too, where cuDNN does nothing: named there, it would
    set apart CPU rows that compare (:func:`speed_option_names`)."""
    return bool(record.get("cudnn_benchmark")) and record.get("device") != "cpu"
