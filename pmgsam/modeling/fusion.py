"""Pre-Mask generator: per-level fusion of U²-Net and Hiera features, then the FeatRefiner.

Each of the six U²-Net levels (strides 1…32) is the trunk; the FPN map of the matching stride
(stride 4 for the two finest levels, which Hiera does not reach) is injected into it.
"""

from __future__ import annotations

import math
from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from pmgsam.modeling.common import group_norm, group_norm_gelu

LEVEL_STRIDES = (1, 2, 4, 8, 16, 32)


def fpn_index_for_stride(stride: int) -> int:
    """FPN level (0 = stride 4) whose map is injected at a U²-Net level of ``stride``."""
    return max(0, int(math.log2(stride)) - 2)


def _resize_to(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    if x.shape[-2:] == ref.shape[-2:]:
        return x
    # CUDA autocast upsamples in float32 and returns float32 (CPU autocast does not); cast back
    # so the dense concatenations after it stay bf16 (the convolution that reads them casts to
    # bf16 anyway, so the result is the same). A no-op in float32.
    out = F.interpolate(x, size=ref.shape[-2:], mode="bilinear", align_corners=False)
    return out.to(x.dtype)


class StabilizedResidualBlock(nn.Module):
    """SRB: M dense residual iterations whose accumulated residual is scaled and added back,
    then group-normalised (the paper's output Y).

    Iteration i sees the block input, the Hiera feature H and every feature produced before it
    in the block (dense connectivity). The last iteration maps back to the input width.

    Arguments:
      channels (int): width of the input (and of H).
      growth (int): channels produced by each intermediate iteration.
      iterations (int): M.
      residual_scale (float): scale of the residual (ESRGAN-style stabilisation).
      output_norm (bool): GroupNorm on ``input + scale · residual`` (the paper's SRB); off
        only for models saved before it was added.
    """

    def __init__(
        self,
        channels: int,
        growth: int,
        iterations: int,
        residual_scale: float,
        output_norm: bool = True,
    ) -> None:
        super().__init__()
        self.residual_scale = residual_scale
        self.steps = nn.ModuleList()
        for i in range(iterations - 1):
            self.steps.append(
                nn.Sequential(
                    nn.Conv2d(2 * channels + i * growth, growth, 3, padding=1),
                    group_norm_gelu(growth),
                )
            )
        last_in = 2 * channels + (iterations - 1) * growth
        self.out = nn.Conv2d(last_in, channels, 3, padding=1)
        self.norm = group_norm(channels) if output_norm else None

    def forward(self, x: torch.Tensor, hiera: torch.Tensor) -> torch.Tensor:
        feats = [x, hiera]
        for step in self.steps:
            feats.append(step(torch.cat(feats, dim=1)))
        y = x + self.residual_scale * self.out(torch.cat(feats, dim=1))
        # In y's dtype (InputDtypeGroupNorm): CUDA autocast's group_norm returns float32.
        return y if self.norm is None else self.norm(y)


class _PairedInputs(nn.Module):
    """Projects a level's U²-Net trunk and its Hiera feature to the level width.

    The Hiera feature is projected before it is resized: the finest levels are full
    resolution, and upsampling the narrow projection is far cheaper than the 256-channel map.
    """

    def __init__(self, u2net_channels: int, hiera_channels: int, channels: int) -> None:
        super().__init__()
        self.trunk_proj = nn.Conv2d(u2net_channels, channels, 1)
        self.hiera_proj = nn.Conv2d(hiera_channels, channels, 1)

    def project(self, u2net: torch.Tensor, hiera: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        trunk = self.trunk_proj(u2net)
        return trunk, _resize_to(self.hiera_proj(hiera), trunk)


class DenseResidualFusion(_PairedInputs):
    """DRFM for one level: U²-Net trunk, K SRBs with the Hiera feature, scaled long skip.

    Arguments:
      u2net_channels (int): channels of the U²-Net feature of this level.
      hiera_channels (int): channels of the injected (FPN) Hiera feature.
      channels (int): working width of this level.
      growth (int): SRB growth channels.
      blocks (int): K.
      iterations (int): M.
      residual_scale (float): scale of the SRB and DRFM residuals.
      srb_output_norm (bool): GroupNorm on each SRB's output.
    """

    def __init__(
        self,
        u2net_channels: int,
        hiera_channels: int,
        channels: int,
        growth: int,
        blocks: int,
        iterations: int,
        residual_scale: float,
        srb_output_norm: bool = True,
    ) -> None:
        super().__init__(u2net_channels, hiera_channels, channels)
        self.blocks = nn.ModuleList(
            StabilizedResidualBlock(channels, growth, iterations, residual_scale, srb_output_norm)
            for _ in range(blocks)
        )
        self.residual_scale = residual_scale

    def forward(self, u2net: torch.Tensor, hiera: torch.Tensor) -> torch.Tensor:
        trunk, h = self.project(u2net, hiera)
        y = trunk
        for block in self.blocks:
            y = block(y, h)
        return trunk + self.residual_scale * y


class ResidualFusion(_PairedInputs):
    """Ablation baseline: element-wise addition followed by Conv-BN-ReLU.

    Arguments:
      u2net_channels (int): channels of the U²-Net feature.
      hiera_channels (int): channels of the Hiera feature.
      channels (int): output width.
    """

    def __init__(self, u2net_channels: int, hiera_channels: int, channels: int) -> None:
        super().__init__(u2net_channels, hiera_channels, channels)
        self.fuse = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, u2net: torch.Tensor, hiera: torch.Tensor) -> torch.Tensor:
        trunk, h = self.project(u2net, hiera)
        return self.fuse(trunk + h)


class NoFusion(nn.Module):
    """Ablation baseline: the U²-Net feature alone, projected to the level width.

    Arguments:
      u2net_channels (int): channels of the U²-Net feature.
      channels (int): output width.
    """

    def __init__(self, u2net_channels: int, channels: int) -> None:
        super().__init__()
        self.trunk_proj = nn.Conv2d(u2net_channels, channels, 1)

    def forward(self, u2net: torch.Tensor, hiera: torch.Tensor) -> torch.Tensor:
        return self.trunk_proj(u2net)


class FusionStack(nn.Module):
    """One fusion module per level, pairing U²-Net level l with the FPN map of its stride.

    Arguments:
      mode (str): ``drfm``, ``residual`` or ``none``.
      u2net_channels (sequence of int): channels of the six U²-Net features.
      hiera_channels (int): channels of the FPN maps.
      channels (sequence of int): working width per level.
      growth (sequence of int): SRB growth per level (``drfm`` only).
      blocks (int): K (``drfm`` only).
      iterations (int): M (``drfm`` only).
      residual_scale (float): residual scale (``drfm`` only).
      srb_output_norm (bool): GroupNorm on each SRB's output (``drfm`` only).
    """

    def __init__(
        self,
        mode: str,
        u2net_channels: Sequence[int],
        hiera_channels: int,
        channels: Sequence[int],
        growth: Sequence[int],
        blocks: int,
        iterations: int,
        residual_scale: float,
        srb_output_norm: bool = True,
    ) -> None:
        super().__init__()
        levels = []
        for u_ch, ch, g in zip(u2net_channels, channels, growth):
            if mode == "drfm":
                levels.append(
                    DenseResidualFusion(
                        u_ch,
                        hiera_channels,
                        ch,
                        g,
                        blocks,
                        iterations,
                        residual_scale,
                        srb_output_norm,
                    )
                )
            elif mode == "residual":
                levels.append(ResidualFusion(u_ch, hiera_channels, ch))
            elif mode == "none":
                levels.append(NoFusion(u_ch, ch))
            else:
                raise ValueError(f"unknown fusion mode {mode!r}")
        self.levels = nn.ModuleList(levels)

    def forward(
        self, u2net_feats: Sequence[torch.Tensor], fpn_feats: Sequence[torch.Tensor]
    ) -> List[torch.Tensor]:
        return [
            level(u, fpn_feats[fpn_index_for_stride(stride)])
            for level, u, stride in zip(self.levels, u2net_feats, LEVEL_STRIDES)
        ]


class FeatRefiner(nn.Module):
    """Distil the fused levels into the 1-channel Pre-Mask logits at the finest resolution.

    Each level is reduced to ``dim`` channels at its own resolution before upsampling, so the
    full-resolution concatenation stays ``6 × dim`` channels wide.

    Arguments:
      in_channels (sequence of int): channels of the fused levels, finest first.
      dim (int): reduced channels per level.
    """

    def __init__(self, in_channels: Sequence[int], dim: int) -> None:
        super().__init__()
        self.reduce = nn.ModuleList(nn.Conv2d(c, dim, 1) for c in in_channels)
        self.fuse = nn.Sequential(
            nn.Conv2d(dim * len(in_channels), dim, 3, padding=1),
            group_norm_gelu(dim),
        )
        self.head = nn.Conv2d(dim, 1, 1)

    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        ref = feats[0]
        maps = [_resize_to(reduce(f), ref) for reduce, f in zip(self.reduce, feats)]
        return self.head(self.fuse(torch.cat(maps, dim=1)))
