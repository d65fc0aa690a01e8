"""Parameter and FLOP counts of the efficiency report.

FLOPs come from ``torch.utils.flop_counter.FlopCounterMode`` (one multiply-add = 2 FLOPs; ops
it does not count, such as normalisation and pointwise activations, are excluded) and are split
by top-level component so the frozen/trainable ratio of the design budget can be read off.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, contextmanager
from functools import cache
from typing import Any, Callable, Dict, Iterator, Optional

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from pmgsam.efficiency.method_wraps import wrapped_method
from pmgsam.efficiency.timing import amp_dtype
from pmgsam.engine.distributed import autocast
from pmgsam.modeling.pmgsam import FROZEN_BRANCHES


def _cpu_sdpa_flop(query_shape, key_shape, value_shape, *args: Any, **kwargs: Any) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


# FlopCounterMode counts the CUDA fused attention kernels but not the CPU one that 4-D
# scaled_dot_product_attention calls take there, so on the CPU the window-batched Hiera and the
# decoder attention counted 0 FLOPs (the 5-D math path decomposes into counted matmuls).
_CUSTOM_FORMULAS = {
    getattr(torch.ops.aten, name): _cpu_sdpa_flop
    for name in ("_scaled_dot_product_flash_attention_for_cpu",)
    if hasattr(torch.ops.aten, name)
}


def flop_counter() -> FlopCounterMode:
    """A FlopCounterMode that also counts the CPU fused attention kernel."""
    return FlopCounterMode(display=False, custom_mapping=_CUSTOM_FORMULAS)


@cache
def counts_under_inference_mode() -> bool:
    """Whether FlopCounterMode sees the operations run under ``torch.inference_mode``.

    torch 2.4.1 misses the composite ones there (``linear``, ``conv2d``, ``matmul``; ``mm`` and
    ``addmm`` called directly are seen; pytorch/pytorch#126268), so the SAM baselines counted 0
    FLOPs; torch 2.11 and 2.14 count them all.
    """
    ones = torch.ones(1, 1)
    with torch.inference_mode(), flop_counter() as counter:
        torch.nn.functional.linear(ones, ones)
    return counter.get_total_flops() > 0


def _without_autograd() -> AbstractContextManager:
    """``inference_mode`` where FlopCounterMode counts under it, else ``no_grad``."""
    return torch.inference_mode() if counts_under_inference_mode() else torch.no_grad()


def count_parameters(model: torch.nn.Module) -> Dict[str, int]:
    """``total``, ``trainable`` (requires grad) and ``frozen`` parameter counts of ``model``."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"total": total, "trainable": trainable, "frozen": total - trainable}


@contextmanager
def count_method_flops(
    module: Optional[torch.nn.Module], method: str, counts: Dict[str, float], name: str
) -> Iterator[None]:
    """Count the FLOPs of every ``module.<method>`` call into ``counts[name]``.

    FlopCounterMode attributes FLOPs through forward hooks, so a branch entered through another
    method has no entry of its own; a nested counter around that method measures it (the
    outer counter still sees the same operations).
    """

    def counted(original: Callable, *args: Any, **kwargs: Any) -> Any:
        with flop_counter() as inner:
            out = original(*args, **kwargs)
        counts[name] = counts.get(name, 0) + inner.get_total_flops()
        return out

    with wrapped_method(module, method, counted):
        yield


def count_call_flops(
    call: Callable[[], Any], encoder: Optional[torch.nn.Module] = None
) -> Dict[str, float]:
    """FLOPs of one ``call()``: ``total``, and ``image_encoder`` (``encoder.forward`` within it).

    For whole predictions of the SAM-family baselines and generators: the image encoder once
    and the mask decoder for every prompt batch, so the total compares with PMG-SAM's one
    pass per image.
    """
    parts: Dict[str, float] = {}
    counter = flop_counter()
    counted_encoder = count_method_flops(encoder, "forward", parts, "image_encoder")
    # inference_mode where FlopCounterMode counts under it: under no_grad its module tracker
    # trips over views of parameters (the prompt encoder's embeddings) that require grad but
    # have no grad_fn. torch 2.4.1 misses most operations under inference_mode, and its module
    # tracker takes no_grad (counts_under_inference_mode).
    with _without_autograd(), counter, counted_encoder:
        call()
    return {"total": float(counter.get_total_flops()), **{k: float(v) for k, v in parts.items()}}


def count_flops(model: torch.nn.Module, images: torch.Tensor, dtype: str = "fp32") -> Dict:
    """FLOPs of one forward pass per image, split into components and frozen/trainable.

    Every component is counted on its own; ``other`` holds what no component accounts for
    (operations of the top-level forward itself) and is absent when that is zero.
    """
    counter = flop_counter()
    u2net_counts: Dict[str, float] = {}
    u2net = getattr(model, "u2net", None)
    counted_u2net = count_method_flops(u2net, "features", u2net_counts, "u2net")
    with torch.no_grad(), autocast(images.device, amp_dtype(dtype)), counter, counted_u2net:
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
