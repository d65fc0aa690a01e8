"""Apply the speed options of :class:`~pmgsam.engine.config.PerformanceConfig`.

The trainer, the predictor and the efficiency report share these helpers so that an option
means the same thing everywhere.
"""

from __future__ import annotations

import logging
from typing import Callable, Optional

import torch
from torch import nn

from pmgsam.engine.config import PerformanceConfig

logger = logging.getLogger(__name__)


def enable_tf32(perf: PerformanceConfig, device: torch.device) -> None:
    """Allow TF32 matmuls/convolutions on CUDA when ``perf.tf32`` (process-wide setting)."""
    if device.type == "cuda" and perf.tf32:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def prepare_model(model: nn.Module, perf: PerformanceConfig) -> nn.Module:
    """Set the Hiera attention form and the memory format in place; returns ``model``.

    Also turns off the model's per-call [0, 1] input check (a host synchronisation): engine
    inputs come from the project's transforms, which produce that range by construction.
    """
    if hasattr(model, "check_input_range"):
        model.check_input_range = False
    hiera = getattr(model, "hiera", None)
    if hiera is not None and hasattr(hiera, "set_window_batched_attention"):
        hiera.set_window_batched_attention(perf.hiera_window_attention)
    if perf.channels_last:
        model.to(memory_format=torch.channels_last)
    return model


def to_memory_format(images: torch.Tensor, perf: PerformanceConfig) -> torch.Tensor:
    """``images`` in the memory format the model expects (a no-op unless channels-last)."""
    if perf.channels_last and images.dim() == 4:
        return images.contiguous(memory_format=torch.channels_last)
    return images


def maybe_compile(net: nn.Module, perf: PerformanceConfig) -> Callable:
    """``torch.compile(net)`` for fixed-size inputs when ``perf.compile``, else ``net``."""
    if not perf.compile:
        return net
    logger.info("torch.compile(mode=%s): the first steps compile and are slow", perf.compile_mode)
    return torch.compile(net, mode=perf.compile_mode, dynamic=False)


def adamw_fused(perf: PerformanceConfig, device: torch.device) -> Optional[bool]:
    """``fused`` argument for AdamW: ``True`` on CUDA when enabled, else torch's default."""
    return True if perf.fused_optimizer and device.type == "cuda" else None
