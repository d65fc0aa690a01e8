"""Apply the speed options of :class:`~pmgsam.engine.performance_config.PerformanceConfig`.

The trainer, the predictor and the efficiency report share these helpers so that an option
means the same thing everywhere.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Callable, List, Optional

import torch
from torch import nn

from pmgsam.engine.performance_config import PerformanceConfig
from pmgsam.modeling.common import set_low_precision_group_norm
from pmgsam.modeling.u2net import set_batchnorm_folding

logger = logging.getLogger(__name__)


def configure_backends(perf: PerformanceConfig, device: torch.device) -> None:
    """Set the process-wide CUDA backend flags of ``perf`` (nothing on CPU).

    TF32 matmuls and convolutions when ``perf.tf32`` (the latter torch's default already,
    ``torch.backends.cudnn.allow_tf32``), full float32 for both otherwise, and cuDNN's
    algorithm timing when ``perf.cudnn_benchmark``. ``set_float32_matmul_precision`` is the
    one TF32 switch that works alike on torch 2.4 to 2.14: setting the torch >= 2.9
    ``torch.backends.cuda.matmul.fp32_precision`` instead makes any later read of the older
    flags or of ``torch.get_float32_matmul_precision()`` (which inductor's cache key does)
    raise "you have used mix of the legacy and new APIs"; on torch 2.9 to 2.11 this call may
    print that API's deprecation notice once.
    """
    if device.type != "cuda":
        return
    # Set both ways: a process configuring several runs (ablate, a notebook) must not keep an
    # earlier run's TF32 when this one has it off.
    torch.set_float32_matmul_precision("high" if perf.tf32 else "highest")
    torch.backends.cudnn.allow_tf32 = perf.tf32
    torch.backends.cudnn.benchmark = perf.cudnn_benchmark


def prepare_model(
    model: nn.Module, perf: PerformanceConfig, skip_input_check: bool = True
) -> nn.Module:
    """Set the Hiera attention form, the frozen U²-Net's BatchNorm folding, the GroupNorms'
    precision and the memory format in place; returns ``model``.

    ``skip_input_check`` also turns off the per-call [0, 1] input check (a host sync) of a model
    the engine built itself: its inputs come from the project's transforms, in range by design.
    """
    if skip_input_check and hasattr(model, "check_input_range"):
        model.check_input_range = False
    hiera = getattr(model, "hiera", None)
    if hiera is not None and hasattr(hiera, "set_window_batched_attention"):
        hiera.set_window_batched_attention(perf.hiera_window_attention)
    # Both ways: a model an earlier call (or its user) made channels-last goes back to NCHW.
    model.to(memory_format=torch.channels_last if perf.channels_last else torch.contiguous_format)
    set_low_precision_group_norm(model, perf.bf16_group_norm)  # both ways, as the others
    u2net = getattr(model, "u2net", None)
    if isinstance(u2net, nn.Module):
        # After the memory format, so the fold is made in it; both ways, like the memory
        # format; only in a frozen branch (REBNCONV would not fold a trainable one anyway:
        # its gradients would not reach the folded parameters).
        frozen = not any(p.requires_grad for p in u2net.parameters())
        set_batchnorm_folding(u2net, perf.fold_frozen_batchnorm and frozen)
    return model


def to_memory_format(images: torch.Tensor, perf: PerformanceConfig) -> torch.Tensor:
    """``images`` in the memory format the model expects (a no-op unless channels-last)."""
    if perf.channels_last and images.dim() == 4:
        return images.contiguous(memory_format=torch.channels_last)
    return images


def compile_regions(net: nn.Module) -> List[nn.Module]:
    """The blocks regional compilation compiles, in module order.

    Every Hiera block, U²-Net RSU, fusion SRB (or the whole level for the ``residual`` and
    ``none`` fusions), the FPN neck, the FeatRefiner and the decoder: the modules that hold
    the model's work and repeat with few distinct shapes. No region contains another.
    """
    from hiera.hiera import HieraBlock

    from pmgsam.modeling.fusion import (
        FeatRefiner,
        NoFusion,
        ResidualFusion,
        StabilizedResidualBlock,
    )
    from pmgsam.modeling.image_encoder import FpnNeck
    from pmgsam.modeling.mask_decoder import GuidedMaskDecoder
    from pmgsam.modeling.u2net import RSU

    kinds = (
        HieraBlock,
        RSU,
        StabilizedResidualBlock,
        ResidualFusion,
        NoFusion,
        FpnNeck,
        FeatRefiner,
        GuidedMaskDecoder,
    )
    return [m for m in net.modules() if isinstance(m, kinds)]


# Dynamo keeps one graph per input shape (dynamic=False) and per grad mode / train flag, stored
# per code object, i.e. per block class, and runs a class eagerly once it holds more than
# recompile_limit (8) graphs. U²-Net's 11 RSUs all differ in shape and training adds
# grad-mode and train/eval variants, so regional compilation needs a higher limit.
GRAPHS_PER_REGION = 4


def _allow_graphs_per_class(regions: List[nn.Module]) -> None:
    config = torch._dynamo.config
    name = "recompile_limit" if hasattr(config, "recompile_limit") else "cache_size_limit"
    needed = GRAPHS_PER_REGION * max(Counter(type(r) for r in regions).values())
    if getattr(config, name) < needed:
        logger.info("torch._dynamo.config.%s raised to %d for regional compile", name, needed)
        setattr(config, name, needed)


def maybe_compile(net: nn.Module, perf: PerformanceConfig) -> Callable:
    """Compile for fixed-size inputs when ``perf.compile``; returns what to call.

    ``compile_scope="model"`` returns ``torch.compile(net)``; ``"regional"`` compiles each of
    :func:`compile_regions` in place (``nn.Module.compile``) and returns ``net`` itself, so
    state-dict keys, hooks and DDP wrapping are untouched (a deep copy of such a model would
    still call the original's blocks: compile after copying).
    """
    if not perf.compile:
        return net
    if perf.compile_scope == "regional":
        regions = compile_regions(net)
        if not regions:
            raise ValueError(f"regional compile: {type(net).__name__} has no block to compile")
        _allow_graphs_per_class(regions)
        for region in regions:
            region.compile(mode=perf.compile_mode, dynamic=False)
        logger.info(
            "torch.compile(mode=%s) of %d blocks: their first calls compile and are slow",
            perf.compile_mode,
            len(regions),
        )
        return net
    logger.info("torch.compile(mode=%s): the first steps compile and are slow", perf.compile_mode)
    return torch.compile(net, mode=perf.compile_mode, dynamic=False)


def adamw_fused(perf: PerformanceConfig, device: torch.device) -> Optional[bool]:
    """``fused`` argument for AdamW: ``True`` on CUDA when enabled, else torch's default."""
    return True if perf.fused_optimizer and device.type == "cuda" else None
