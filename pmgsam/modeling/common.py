"""Small building blocks shared by the PMG-SAM components."""

from __future__ import annotations

import math
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class PixelNormalizer(nn.Module):
    """Per-branch input normalisation, applied inside the model so callers pass [0, 1] RGB.

    Arguments:
      mean (sequence of float): per-channel mean subtracted after scaling.
      std (sequence of float): per-channel standard deviation.
      per_image_max (bool): divide each image by its own maximum first. The official U²-Net
        pipeline (``ToTensorLab``) does this, and its published weights expect it.
    """

    def __init__(
        self,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        per_image_max: bool = False,
    ) -> None:
        super().__init__()
        self.per_image_max = per_image_max
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.per_image_max:
            peak = x.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
            x = x / peak
        return (x - self.mean) / self.std


class LayerNorm2d(nn.Module):
    """LayerNorm over the channel dimension of an NCHW tensor (as in segment-anything).

    Arguments:
      num_channels (int): number of channels.
      eps (float): numerical stabiliser.
    """

    def __init__(self, num_channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class MLP(nn.Module):
    """Plain MLP with ReLU between layers; key layout ``layers.{i}`` matches segment-anything.

    Arguments:
      input_dim (int): input features.
      hidden_dim (int): hidden features.
      output_dim (int): output features.
      num_layers (int): number of linear layers.
    """

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int) -> None:
        super().__init__()
        dims_in = [input_dim] + [hidden_dim] * (num_layers - 1)
        dims_out = [hidden_dim] * (num_layers - 1) + [output_dim]
        self.layers = nn.ModuleList(nn.Linear(i, o) for i, o in zip(dims_in, dims_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


class PositionEmbeddingRandom(nn.Module):
    """Random-Fourier positional encoding of a regular grid (segment-anything's scheme).

    The buffer name matches segment-anything's prompt encoder so a SAM checkpoint can supply it.

    Arguments:
      num_pos_feats (int): half the output channels (sin and cos each take this many).
      scale (float): standard deviation of the random frequencies.
    """

    def __init__(self, num_pos_feats: int = 128, scale: float = 1.0) -> None:
        super().__init__()
        self.register_buffer(
            "positional_encoding_gaussian_matrix", scale * torch.randn((2, num_pos_feats))
        )

    def forward(self, size: Tuple[int, int]) -> torch.Tensor:
        """Encoding of an ``h × w`` grid of cell centres, shape (C, h, w)."""
        h, w = size
        gauss = self.positional_encoding_gaussian_matrix
        ys = (torch.arange(h, device=gauss.device, dtype=torch.float32) + 0.5) / h
        xs = (torch.arange(w, device=gauss.device, dtype=torch.float32) + 0.5) / w
        grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)
        coords = (2 * grid - 1) @ gauss.float()
        coords = 2 * math.pi * coords
        return torch.cat([torch.sin(coords), torch.cos(coords)], dim=-1).permute(2, 0, 1)


# The most groups a GroupNorm here gets: the largest count up to it that divides the width.
MAX_GROUPS = 8


def _groups(channels: int) -> int:
    return max(g for g in range(1, MAX_GROUPS + 1) if channels % g == 0)


class InputDtypeGroupNorm(nn.GroupNorm):
    """GroupNorm returned in the dtype of its input, optionally computed in it under autocast.

    CUDA autocast runs ``group_norm`` in float32: it casts a bf16 input up, normalises and
    returns float32, so a full-resolution map crosses memory as float32 three times more than
    needed (the cast, the normalisation, the cast back that the dense concatenations after it
    want). With ``low_precision`` on, a bf16 or fp16 input under autocast is normalised in its
    own dtype (the kernels accumulate the statistics in float32), the affine parameters cast
    to it; otherwise the module is ``nn.GroupNorm`` followed by a cast to the input dtype (a
    no-op in float32, and on a CPU, whose autocast keeps bf16). Same parameters and state-dict
    keys as ``nn.GroupNorm``.

    Arguments:
      num_groups (int): groups of the GroupNorm.
      num_channels (int): channels of the input.
    """

    #: set per instance by :func:`set_low_precision_group_norm`
    low_precision: bool = False

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """The normalised ``x``, in ``x``'s dtype where it is computed in it (see above)."""
        device = x.device.type
        if (
            self.low_precision
            and x.dtype in (torch.bfloat16, torch.float16)
            and torch.is_autocast_enabled(device)
        ):
            with torch.autocast(device, enabled=False):
                weight = None if self.weight is None else self.weight.to(x.dtype)
                bias = None if self.bias is None else self.bias.to(x.dtype)
                return F.group_norm(x, self.num_groups, weight, bias, self.eps)
        return super().forward(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.normalize(x).to(x.dtype)


def group_norm(channels: int) -> InputDtypeGroupNorm:
    """GroupNorm with the largest group count ≤ :data:`MAX_GROUPS` that divides ``channels``."""
    return InputDtypeGroupNorm(_groups(channels), channels)


class GroupNormGELU(InputDtypeGroupNorm):
    """GroupNorm followed by GELU, returned in the dtype of the input.

    Without the cast back, the dense ``torch.cat`` that follows in an SRB (and the
    FeatRefiner's head) would promote every concatenated bf16 feature to float32 at full
    resolution (CUDA autocast's group_norm returns float32); with ``low_precision``, the GELU
    too runs in bf16 (:class:`InputDtypeGroupNorm`).

    Arguments:
      num_groups (int): groups of the GroupNorm.
      num_channels (int): channels of the input.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.normalize(x)).to(x.dtype)


def group_norm_gelu(channels: int) -> GroupNormGELU:
    """:class:`GroupNormGELU` with the group count of :func:`group_norm`."""
    return GroupNormGELU(_groups(channels), channels)


def set_low_precision_group_norm(model: nn.Module, enabled: bool) -> int:
    """Turn :class:`InputDtypeGroupNorm`'s ``low_precision`` on or off in every such module of
    ``model``; returns how many there are."""
    norms = [m for m in model.modules() if isinstance(m, InputDtypeGroupNorm)]
    for norm in norms:
        norm.low_precision = enabled
    return len(norms)
