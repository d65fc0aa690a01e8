"""Guided mask decoder: Pre-Mask tokens + image embedding → BAIM → upscaling → mask logits."""

from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from pmgsam.modeling.common import MLP, LayerNorm2d, PositionEmbeddingRandom
from pmgsam.modeling.transformer import TwoWayTransformer

HighRes = Dict[str, Tuple[torch.Tensor, torch.Tensor]]


class GuidedMaskDecoder(nn.Module):
    """Decode a mask from the Pre-Mask and the stride-16 image embedding.

    The Pre-Mask probabilities are cut into p×p patches, linearly embedded (a stride-p
    convolution) and given positional encodings: these mask tokens, after a learned output
    token, attend to the image embedding through N BAIM blocks. The image embedding is then
    upscaled ×4 with transposed convolutions into which high-resolution features (strides 8
    and 4) are added, SAM2-style, and a hypernetwork MLP of the output token turns the upscaled
    embedding into mask logits.

    Arguments:
      dim (int): transformer width (256 to share weights with SAM's decoder).
      patch_size (int): p.
      depth (int): N, number of BAIM blocks.
      num_heads (int): attention heads.
      mlp_dim (int): BAIM MLP width.
      attention_downsample (int): channel downsampling of cross-attentions.
      bidirectional (bool): BAIM updates the image embedding too.
      high_res (str): ``none``, ``hiera``, ``u2net`` or ``both``.
      activation (str): BAIM MLP activation, ``relu`` (segment-anything's) or ``gelu``.
      u2net_high_res_channels (sequence of int): channels of the U²-Net features at strides 4
        and 8 (used when ``high_res`` involves U²-Net).
    """

    def __init__(
        self,
        dim: int = 256,
        patch_size: int = 16,
        depth: int = 2,
        num_heads: int = 8,
        mlp_dim: int = 2048,
        attention_downsample: int = 2,
        bidirectional: bool = True,
        high_res: str = "hiera",
        activation: str = "relu",
        u2net_high_res_channels: Sequence[int] = (128, 256),
    ) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.high_res_sources = {
            "none": (),
            "hiera": ("hiera",),
            "u2net": ("u2net",),
            "both": ("hiera", "u2net"),
        }[high_res]
        self.mask_embed = nn.Conv2d(1, dim, kernel_size=patch_size, stride=patch_size)
        self.pe_layer = PositionEmbeddingRandom(dim // 2)
        self.output_token = nn.Embedding(1, dim)
        self.transformer = TwoWayTransformer(
            depth, dim, num_heads, mlp_dim, attention_downsample, bidirectional, activation
        )
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(dim, dim // 4, kernel_size=2, stride=2),
            LayerNorm2d(dim // 4),
            nn.GELU(),
            nn.ConvTranspose2d(dim // 4, dim // 8, kernel_size=2, stride=2),
            nn.GELU(),
        )
        if "hiera" in self.high_res_sources:
            self.conv_s0 = nn.Conv2d(dim, dim // 8, kernel_size=1)
            self.conv_s1 = nn.Conv2d(dim, dim // 4, kernel_size=1)
        if "u2net" in self.high_res_sources:
            c4, c8 = u2net_high_res_channels
            self.conv_s0_u2net = nn.Conv2d(c4, dim // 8, kernel_size=1)
            self.conv_s1_u2net = nn.Conv2d(c8, dim // 4, kernel_size=1)
        self.output_hypernetwork_mlp = MLP(dim, dim, dim // 8, 3)

    def _high_res(self, feats: HighRes) -> Tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
        s0 = s1 = None
        for source in self.high_res_sources:
            f4, f8 = feats[source]
            suffix = "" if source == "hiera" else "_u2net"
            a = getattr(self, f"conv_s0{suffix}")(f4)
            b = getattr(self, f"conv_s1{suffix}")(f8)
            s0 = a if s0 is None else s0 + a
            s1 = b if s1 is None else s1 + b
        return s0, s1

    def forward(
        self, pre_mask: torch.Tensor, image_embedding: torch.Tensor, high_res: HighRes
    ) -> torch.Tensor:
        """Mask logits at the Pre-Mask's resolution.

        Arguments:
          pre_mask: (B, 1, S, S) Pre-Mask logits.
          image_embedding: (B, C, S/16, S/16) image embedding.
          high_res: ``{"hiera": (stride-4, stride-8), "u2net": (stride-4, stride-8)}`` maps;
            only the sources this decoder was built for are read.
        """
        b, _, s, _ = pre_mask.shape
        mask_tokens = self.mask_embed(torch.sigmoid(pre_mask))
        grid = mask_tokens.shape[-2:]
        mask_tokens = mask_tokens + self.pe_layer(grid).unsqueeze(0).to(mask_tokens.dtype)
        tokens = torch.cat(
            [self.output_token.weight.unsqueeze(0).expand(b, -1, -1), mask_tokens.flatten(2).mT],
            dim=1,
        )
        h, w = image_embedding.shape[-2:]
        image_pe = self.pe_layer((h, w)).unsqueeze(0).to(image_embedding.dtype)
        hs, src = self.transformer(image_embedding, image_pe, tokens)

        src = src.transpose(1, 2).reshape(b, -1, h, w)
        dc1, ln1, act1, dc2, act2 = self.output_upscaling
        feat_s0, feat_s1 = self._high_res(high_res)
        x = dc1(src)
        x = act1(ln1(x if feat_s1 is None else x + feat_s1))
        x = dc2(x)
        x = act2(x if feat_s0 is None else x + feat_s0)

        hyper = self.output_hypernetwork_mlp(hs[:, 0])
        logits = torch.einsum("bc,bchw->bhw", hyper, x).unsqueeze(1)
        return F.interpolate(logits, size=(s, s), mode="bilinear", align_corners=False)
