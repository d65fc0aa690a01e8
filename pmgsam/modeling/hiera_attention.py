"""Hiera's mask-unit attention with the windows folded into the batch (4-D SDPA).

hiera-transformer's ``MaskUnitAttention`` calls ``F.scaled_dot_product_attention`` on 5-D
tensors (batch, heads, windows, tokens, head_dim). PyTorch's fused kernels (flash and
memory-efficient on CUDA, the flash kernel on CPU) accept only 4-D inputs, so every Hiera block
falls back to the math kernel, which materialises the full score matrix per head and window.
:class:`WindowBatchedAttention` computes the same attention with the windows moved into the
batch dimension: same weights, same token order, same arithmetic up to the kernel's rounding.

This module imports hiera-transformer at import time; :mod:`pmgsam.modeling.image_encoder`
imports it lazily, like the package itself.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn

with warnings.catch_warnings():
    # hiera-transformer imports timm.models.layers, which timm deprecates.
    warnings.filterwarnings("ignore", category=FutureWarning, module="timm")
    from hiera.hiera import MaskUnitAttention


# CUDA's grid limit on the fused kernels' batch dimension (flash and memory-efficient fail
# with "invalid configuration argument" above it: pytorch/pytorch#142228). Folding the windows
# into the batch reaches it at S=1024 from 64 images per batch (1024 windows each).
MAX_KERNEL_BATCH = 65535


def attention_in_batch_chunks(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``F.scaled_dot_product_attention`` in pieces of at most :data:`MAX_KERNEL_BATCH` along
    the batch (each batch row is attended on its own, so the pieces are exact)."""
    if q.shape[0] <= MAX_KERNEL_BATCH:
        return F.scaled_dot_product_attention(q, k, v)
    pieces = zip(*(t.split(MAX_KERNEL_BATCH) for t in (q, k, v)))
    return torch.cat([F.scaled_dot_product_attention(*piece) for piece in pieces])


class WindowBatchedAttention(MaskUnitAttention):
    """``MaskUnitAttention`` whose attention runs on (batch × windows, heads, tokens, dim).

    Installed on existing modules by :func:`set_window_batched_attention` (the parameters and
    state-dict keys stay those of the package's module).

    Arguments:
      those of hiera-transformer's ``MaskUnitAttention`` (dim, dim_out, heads, q_stride,
      window_size, use_mask_unit_attn), which it is never built with directly: its class is
      swapped onto built modules.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, _ = x.shape
        windows = tokens // (self.q_stride * self.window_size) if self.use_mask_unit_attn else 1
        # Unrolled token t belongs to window t % windows (the window index varies fastest),
        # which is the layout the package reads with reshape(B, -1, windows, ...).
        qkv = self.qkv(x).reshape(batch, -1, windows, 3, self.heads, self.head_dim)
        qkv = qkv.permute(3, 0, 2, 4, 1, 5).reshape(
            3, batch * windows, self.heads, -1, self.head_dim
        )
        q, k, v = qkv.unbind(0)
        if self.q_stride > 1:
            # Max-pool over the q_stride positions that unrolling placed in separate chunks.
            q = q.unflatten(2, (self.q_stride, -1)).amax(dim=2)
        out = attention_in_batch_chunks(q, k, v)
        # (B·windows, heads, Lq, d) -> (B, Lq, windows, heads, d) -> (B, Lq·windows, dim_out).
        out = out.unflatten(0, (batch, windows)).permute(0, 3, 1, 2, 4)
        return self.proj(out.reshape(batch, -1, self.dim_out))


def set_window_batched_attention(module: nn.Module, enabled: bool) -> int:
    """Switch every Hiera attention inside ``module`` to the 4-D form (or back).

    Returns the number of attention modules switched. The class swap keeps parameters, buffers
    and hooks; only ``forward`` changes.
    """
    target = WindowBatchedAttention if enabled else MaskUnitAttention
    count = 0
    for sub in module.modules():
        if isinstance(sub, MaskUnitAttention) and type(sub) is not target:
            sub.__class__ = target
            count += 1
    return count
