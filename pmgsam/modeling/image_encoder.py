"""The frozen Hiera branch (hiera-transformer) and the trainable FPN neck on top of it."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Dict, List, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from pmgsam.modeling.weights import load_hiera_checkpoint

# (embed_dim, num_heads, stages) of hiera-transformer's image models.
HIERA_SPECS = {
    "tiny": (96, 1, (1, 2, 7, 2)),
    "small": (96, 1, (1, 2, 11, 2)),
    "base": (96, 1, (2, 3, 16, 3)),
    "base_plus": (112, 2, (2, 3, 16, 3)),
    "large": (144, 2, (2, 6, 36, 4)),
}


class HieraBranch(nn.Module):
    """Frozen Hiera returning its four stage maps as NCHW tensors (strides 4, 8, 16, 32).

    The classification norm and head are removed; parameters never require grad and the
    module stays in eval mode whatever ``train()`` is called with.

    Arguments:
      variant (str): one of ``HIERA_SPECS`` (tiny, small, base, base_plus, large).
      image_size (int): input side S; must be a multiple of 32.
      window_batched_attention (bool): run the attention with the mask-unit windows folded
        into the batch (4-D inputs that PyTorch's fused kernels accept); equal to
        hiera-transformer's own forward up to rounding. ``False`` keeps the package's forward.
    """

    def __init__(
        self,
        variant: str = "base_plus",
        image_size: int = 1024,
        window_batched_attention: bool = True,
    ) -> None:
        super().__init__()
        with warnings.catch_warnings():
            # hiera-transformer imports timm.models.layers, which timm deprecates.
            warnings.filterwarnings("ignore", category=FutureWarning, module="timm")
            from hiera import Hiera

        if variant not in HIERA_SPECS:
            raise ValueError(f"unknown Hiera variant {variant!r}; valid: {sorted(HIERA_SPECS)}")
        if image_size % 32:
            raise ValueError(
                f"Hiera needs an input size that is a multiple of 32, got {image_size}"
            )
        embed_dim, heads, stages = HIERA_SPECS[variant]
        with _LinspaceOnCpu():
            self.trunk = Hiera(
                input_size=(image_size, image_size),
                embed_dim=embed_dim,
                num_heads=heads,
                stages=stages,
                num_classes=1,
            )
        del self.trunk.norm, self.trunk.head
        self.channels = tuple(embed_dim * 2**i for i in range(4))
        self.image_size = image_size
        self.requires_grad_(False)
        self.eval()
        self.set_window_batched_attention(window_batched_attention)

    def set_window_batched_attention(self, enabled: bool) -> None:
        """Use the 4-D (windows folded into the batch) attention, or the package's 5-D one."""
        from pmgsam.modeling.hiera_attention import set_window_batched_attention

        set_window_batched_attention(self.trunk, enabled)
        self.window_batched_attention = enabled

    def train(self, mode: bool = True) -> HieraBranch:
        return super().train(False)

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        t = self.trunk
        x = t.patch_embed(x) + t.get_pos_embed()
        x = t.unroll(x)
        # A model converted to channels-last takes the rerolled (B, H, W, C) maps as they are.
        channels_last = t.patch_embed.proj.weight.is_contiguous(memory_format=torch.channels_last)
        layout = torch.channels_last if channels_last else torch.contiguous_format
        maps = []
        for i, block in enumerate(t.blocks):
            x = block(x)
            if i in t.stage_ends:
                # Reroll gives channels-last (B, H, W, C) in spatial order.
                maps.append(t.reroll(x, i).permute(0, 3, 1, 2).contiguous(memory_format=layout))
        return maps

    def load_checkpoint(self, path: str | Path) -> Dict[str, List[str]]:
        """Load a hiera-transformer checkpoint; returns the ignored keys by reason."""
        variants = {name: (dim, sum(stages)) for name, (dim, _, stages) in HIERA_SPECS.items()}
        return load_hiera_checkpoint(self.trunk, path, variants)


class _LinspaceOnCpu(torch.overrides.TorchFunctionMode):
    """hiera-transformer reads its drop-path rates with ``torch.linspace(...).item()``, which
    fails under ``with torch.device("meta")`` (a build that counts parameters without
    allocating them): the rates are made on the CPU, the weights still where torch puts them."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if func is torch.linspace:
            kwargs["device"] = "cpu"
        return func(*args, **kwargs)


class FpnNeck(nn.Module):
    """Lateral 1×1 convolutions plus a top-down pathway on chosen levels (SAM2's FpnNeck).

    Arguments:
      in_channels (sequence of int): channels of the backbone maps, finest first.
      dim (int): output channels of every level.
      top_down_levels (sequence of int): levels (0 = finest) that add the upsampled coarser
        output; the others keep only their lateral projection.
    """

    def __init__(self, in_channels: Sequence[int], dim: int, top_down_levels: Sequence[int]):
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(c, dim, kernel_size=1) for c in in_channels)
        self.top_down_levels = set(top_down_levels)

    def forward(self, feats: Sequence[torch.Tensor]) -> List[torch.Tensor]:
        outs: List[torch.Tensor] = [None] * len(feats)  # type: ignore[list-item]
        prev = None
        for i in range(len(feats) - 1, -1, -1):
            lateral = self.lateral[i](feats[i])
            if prev is not None and i in self.top_down_levels:
                top_down = F.interpolate(prev, size=lateral.shape[-2:], mode="nearest")
                # CUDA autocast upsamples in float32 and returns float32: cast back, or the sum
                # (the decoder's image embedding, fpn[2]) would be float32 under bf16.
                lateral = lateral + top_down.to(lateral.dtype)
            outs[i] = prev = lateral
        return outs
