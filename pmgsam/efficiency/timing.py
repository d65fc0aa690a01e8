"""Synchronised timings of the efficiency report: inference, training steps, SAM's AMG."""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable, Dict, List, Optional

import torch

from pmgsam.engine.config import LossConfig, OptimConfig
from pmgsam.engine.distributed import autocast, synchronize
from pmgsam.engine.losses import SegmentationLoss
from pmgsam.engine.performance import adamw_fused
from pmgsam.engine.performance_config import PerformanceConfig
from pmgsam.engine.schedulers import build_optimizer


def amp_dtype(dtype: str) -> Optional[torch.dtype]:
    """Autocast dtype of the report's ``--dtype`` (``None``: plain float32)."""
    return torch.bfloat16 if dtype == "bf16" else None


def _reset_peak_memory(device: torch.device) -> None:
    """Start a new peak at what is allocated now (weights, optimiser state) on CUDA."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _time_calls(
    step: Callable[[], Any],
    device: torch.device,
    batch: int,
    iters: int,
    warmup: int,
    progress: Optional[str] = None,
) -> Dict[str, Any]:
    """Synchronised latency of ``step`` (one batch) and images/s after ``warmup`` calls.

    ``first_call_ms`` is the first call on its own (with ``torch.compile`` it holds the
    compilation, the cold start a user waits for); it is one of the warm-up calls, or the
    first timed one when ``warmup`` is 0. Peak memory counts the timed calls only.
    ``progress``: the label of a tqdm bar over the calls (None: no bar), advanced between
    calls, outside the timed spans; a CPU timing of a SAM automatic mode takes minutes.
    """
    # Checked before any call: no timed call leaves no median, and statistics' own error
    # names no option; a negative warm-up would run one untimed call and count it in the
    # peak memory. (The commands refuse both when parsing, before any work, so a baseline's
    # timing after its scoring never raises here.)
    if iters < 1:
        raise ValueError(f"iters (the timed calls) must be at least 1, got {iters}")
    if warmup < 0:
        raise ValueError(f"warmup (the untimed calls) must be at least 0, got {warmup}")
    from tqdm import tqdm

    bar = tqdm(
        total=warmup + iters,  # without warm-up the first call is a timed one
        desc=progress,
        unit="pass",
        disable=progress is None,
    )
    synchronize(device)
    if warmup == 0:
        _reset_peak_memory(device)
    start = time.perf_counter()
    step()
    synchronize(device)
    first = time.perf_counter() - start
    bar.update()
    for _ in range(warmup - 1):
        step()
        bar.update()
    synchronize(device)
    if warmup > 0:
        _reset_peak_memory(device)
    times = [first] if warmup == 0 else []
    for _ in range(iters - len(times)):
        start = time.perf_counter()
        step()
        synchronize(device)
        times.append(time.perf_counter() - start)
        bar.update()
    bar.close()
    # The mean of the middle two for an even count (the default 10 calls), as statistics says.
    median = statistics.median(times)
    result: Dict[str, Any] = {
        "latency_ms_median": 1000 * median,
        "latency_ms_mean": 1000 * sum(times) / len(times),
        "images_per_s": batch / median,
        "first_call_ms": 1000 * first,
        "peak_memory_mb": None,
        "peak_reserved_mb": None,
    }
    if device.type == "cuda":
        # Allocated is what tensors held; reserved adds the caching allocator's slack (what
        # nvidia-smi would show, less the CUDA context).
        result["peak_memory_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
        result["peak_reserved_mb"] = torch.cuda.max_memory_reserved(device) / 2**20
    return result


def measure_speed(
    model: Callable,
    images: torch.Tensor,
    dtype: str,
    iters: int,
    warmup: int,
    progress: Optional[str] = None,
) -> Dict[str, Any]:
    """Inference latency per batch and images/s (``inference_mode``, optional bf16);
    ``progress``: a progress bar's label (:func:`_time_calls`)."""
    step = inference_step(model, images, dtype)
    return _time_calls(step, images.device, images.shape[0], iters, warmup, progress)


def inference_step(model: Callable, images: torch.Tensor, dtype: str) -> Callable[[], None]:
    """One inference call of :func:`measure_speed` (what it times), for another tool to run."""
    device = images.device

    def step() -> None:
        with torch.inference_mode(), autocast(device, amp_dtype(dtype)):
            model(images)

    return step


def measure_training(
    model: torch.nn.Module,
    net: Callable,
    images: torch.Tensor,
    dtype: str,
    iters: int,
    warmup: int,
    perf: PerformanceConfig,
    progress: Optional[str] = None,
) -> Dict[str, Any]:
    """Full training steps as the trainer runs them: forward, loss, backward, clip, AdamW;
    ``progress``: a progress bar's label (:func:`_time_calls`)."""
    step = training_step(model, net, images, dtype, perf)
    return _time_calls(step, images.device, images.shape[0], iters, warmup, progress)


def training_step(
    model: torch.nn.Module,
    net: Callable,
    images: torch.Tensor,
    dtype: str,
    perf: PerformanceConfig,
) -> Callable[[], None]:
    """One training step of :func:`measure_training` (what it times: ``net`` is ``model``
    or its compiled form), with its own random masks and AdamW, for another tool to run; puts
    ``model`` in train mode."""
    device = images.device
    torch.manual_seed(0)
    masks = (torch.rand(images.shape[0], 1, *images.shape[-2:], device=device) > 0.5).float()
    loss_fn = SegmentationLoss(LossConfig(), check_device_targets=False)  # {0, 1} by design
    optimizer = build_optimizer(model, OptimConfig(), fused=adamw_fused(perf, device))
    params = list(model.trainable_parameters())
    model.train()

    def step() -> None:
        with autocast(device, amp_dtype(dtype)):
            outputs = net(images)
        loss, _ = loss_fn(outputs, masks)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()

    return step


def measure_amg(
    name: str,
    images: torch.Tensor,
    iters: int,
    warmup: int,
    points_per_side: int = 32,
    progress: Optional[str] = None,
) -> Dict[str, Any]:
    """An automatic mask generator over the same images: ``sam_vit_b`` (segment-anything's
    ``SamAutomaticMaskGenerator``), ..., or ``sam2_tiny`` (sam2's ``SAM2AutomaticMaskGenerator``).

    The package's defaults, except ``points_per_side`` (32 in both, a 32×32 grid of prompts;
    fewer only to rehearse the command quickly on a CPU). Built as the baselines build them.

    The weights are random (none can be downloaded here): with real weights more masks pass
    the quality filters and post-processing costs more, so this time is a lower bound.
    ``flops_per_image`` counts one whole ``generate`` of the first image (``total``, and the
    ``image_encoder`` part), as the baselines' runs count theirs. ``image_size``: the input
    side the generator resizes every image to (1024 for the released models; None when the
    model records none). ``masks_kept``: how many masks that ``generate`` of the first image
    returned (with random weights few or none pass the filters; a real model keeps tens to
    hundreds, each post-processed). ``progress``: a progress bar's label (:func:`_time_calls`;
    a pass is one ``generate`` of every image, seconds to minutes each on a CPU).
    """
    from pmgsam.baselines.base import family
    from pmgsam.baselines.runner import model_side

    family_name, _, model_type = name.partition("_")
    models = family(family_name)
    device = images.device
    torch.manual_seed(0)
    model = models.build(model_type).to(device).eval()
    generator = models.generator(model, {"points_per_side": points_per_side})
    arrays = [(img.permute(1, 2, 0) * 255).round().to(torch.uint8).cpu().numpy() for img in images]

    def step() -> None:
        for arr in arrays:
            generator.generate(arr)

    # Imported here: flops.py imports this module's amp_dtype.
    from pmgsam.efficiency.flops import count_call_flops

    kept: List[int] = []
    flops = count_call_flops(
        lambda: kept.append(len(generator.generate(arrays[0]))), model.image_encoder
    )
    timed = _time_calls(step, device, len(arrays), iters, warmup, progress)
    return {
        **timed,
        "flops_per_image": flops,
        "image_size": model_side(model),
        "masks_kept": kept[0],
    }
