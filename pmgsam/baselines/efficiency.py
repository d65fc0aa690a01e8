"""A baseline row's efficiency block: parameters, FLOPs and speed of the baseline's whole
prediction of one image, with the harness :mod:`pmgsam.efficiency` times PMG-SAM with."""

from __future__ import annotations

import logging
from typing import Any, Dict, Optional

import numpy as np
import torch

from pmgsam.baselines.base import Baseline, Prediction
from pmgsam.efficiency import count_parameters, measure_speed
from pmgsam.efficiency.flops import count_call_flops
from pmgsam.utils.messages import counted

# The timing is a step of the baseline run: its log lines keep the runner's name.
logger = logging.getLogger("pmgsam.baselines.runner")


class _WholePrediction(torch.nn.Module):
    """What ``measure_speed`` times: the baseline's whole ``predict`` on one image (its
    preprocessing, every forward pass and all post-processing), the image held on the host as
    the packages take it."""

    def __init__(self, baseline: Baseline, image: np.ndarray, boxes: Optional[np.ndarray]):
        super().__init__()
        self.baseline, self.image, self.boxes = baseline, image, boxes

    def forward(self, token: torch.Tensor) -> Prediction:
        return self.baseline.predict(self.image, self.boxes)


def prediction_flops(
    baseline: Baseline, image: np.ndarray, boxes: Optional[np.ndarray]
) -> Dict[str, float]:
    """FLOPs of one whole ``predict`` of ``image``: ``total`` and the ``image_encoder`` part.

    Counted by ``torch.utils.flop_counter.FlopCounterMode`` like PMG-SAM's (matrix products and
    convolutions, a multiply-add = 2 FLOPs), over everything the prediction runs: the image
    encoder once and the mask decoder for every prompt batch (an automatic mode's 32x32 grid
    included), so the number compares with PMG-SAM's one pass per image.
    """
    encoder = getattr(baseline.model, "image_encoder", None)
    return count_call_flops(lambda: baseline.predict(image, boxes), encoder)


def model_side(model: torch.nn.Module) -> Optional[int]:
    """The input side a SAM (``image_encoder.img_size``) or SAM2.1 (``image_size``) model
    resizes every image to; None for a model that records neither."""
    side = getattr(model, "image_size", None)
    return side or getattr(getattr(model, "image_encoder", None), "img_size", None)


def measure_efficiency(
    baseline: Baseline,
    image: np.ndarray,
    boxes: Optional[np.ndarray],
    iters: int,
    warmup: int,
    progress: bool = True,
) -> Dict[str, Any]:
    """A ``pmgsam.efficiency``-style report (params, FLOPs, speed, the torch thread count it
    was timed on) of the baseline on one image, with the same timing harness (``measure_speed``,
    fp32, CUDA-synchronised); ``progress``: a progress bar over the passes."""
    device = next(baseline.model.parameters()).device
    token = torch.zeros(1, device=device)  # batch of one; sets the device to synchronise
    # On a CPU one automatic-mode prediction takes tens of seconds: say why the run pauses.
    logger.info(
        "timing the whole prediction of one image on %s: %s after %s, plus one counting FLOPs "
        "(--speed-iters 0 skips it)", device, counted(iters, "pass", "passes"),
        counted(warmup, "warm-up pass", "warm-up passes"),
    )  # fmt: skip
    flops = prediction_flops(baseline, image, boxes)
    bar = f"timing {baseline.label} {baseline.mode}" if progress else None
    whole = _WholePrediction(baseline, image, boxes)
    speed = measure_speed(whole, token, "fp32", iters, warmup, progress=bar)
    return {
        "params": count_parameters(baseline.model),
        "flops_per_image": flops,
        "speed": speed,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "dtype": "fp32",
        "threads": torch.get_num_threads(),  # as pmgsam.efficiency's reports record it
        "batch": 1,
        "image_size": model_side(baseline.model),
        "timed_image_size": list(image.shape[:2]),
        "timed_prompts": None if boxes is None else len(boxes),
        "iters": iters,
        "warmup": warmup,
    }
