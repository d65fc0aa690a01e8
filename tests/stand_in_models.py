"""Small stand-in models shared by the speed tests (no PMG-SAM build), and the name of the
dynamo setting that limits their graphs."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Dict

import torch
from torch import nn

from pmgsam.modeling.fusion import StabilizedResidualBlock

# torch 2.4 calls dynamo's per-code-object graph limit cache_size_limit; later releases keep it
# as an alias of recompile_limit.
RECOMPILE_LIMIT = (
    "recompile_limit" if hasattr(torch._dynamo.config, "recompile_limit") else "cache_size_limit"
)


class ConvBranch(nn.Module):
    """A bias-free 3×3 convolution to ``channels`` maps, entered through ``features`` as
    PMG-SAM enters U²-Net: a frozen branch whose FLOPs a test counts by hand."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, channels, 3, padding=1, bias=False)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class ReportStandIn(nn.Module):
    """What the efficiency report needs of a model: ``config.image_size`` and a forward pass."""

    def __init__(self, image_size: int) -> None:
        super().__init__()
        self.config = SimpleNamespace(image_size=image_size)
        self.conv = nn.Conv2d(3, 1, 1)

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        return {"mask": self.conv(x)}  # PMG-SAM's output holds the final logits under "mask"


class SrbBlocks(nn.Module):
    """``count`` SRBs of one class and ``count`` widths (1..count channels): as many input
    shapes, hence dynamo graphs, on one code object."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            StabilizedResidualBlock(c, 2, 2, 0.2) for c in range(1, count + 1)
        )

    def forward(self, xs):
        return [block(x, x) for block, x in zip(self.blocks, xs)]
