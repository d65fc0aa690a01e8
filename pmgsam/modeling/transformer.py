"""BAIM: bidirectional attention between Pre-Mask tokens and the image embedding.

Module and parameter names follow segment-anything's ``TwoWayTransformer`` so that a SAM mask
decoder checkpoint maps onto these blocks key for key. Attention runs through
``F.scaled_dot_product_attention`` (4096 mask tokens at S=1024 make the naive softmax costly).
"""

from __future__ import annotations

from typing import Dict, Tuple, Type

import torch
import torch.nn.functional as F
from torch import nn


class Attention(nn.Module):
    """Multi-head attention with optional channel downsampling of queries/keys/values.

    Arguments:
      embedding_dim (int): input and output channels.
      num_heads (int): attention heads.
      downsample_rate (int): internal width is ``embedding_dim // downsample_rate``.
    """

    def __init__(self, embedding_dim: int, num_heads: int, downsample_rate: int = 1) -> None:
        super().__init__()
        self.internal_dim = embedding_dim // downsample_rate
        self.num_heads = num_heads
        if self.internal_dim % num_heads:
            raise ValueError(f"{num_heads} heads do not divide internal dim {self.internal_dim}")
        self.q_proj = nn.Linear(embedding_dim, self.internal_dim)
        self.k_proj = nn.Linear(embedding_dim, self.internal_dim)
        self.v_proj = nn.Linear(embedding_dim, self.internal_dim)
        self.out_proj = nn.Linear(self.internal_dim, embedding_dim)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        return x.reshape(b, n, self.num_heads, c // self.num_heads).transpose(1, 2)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        q, k, v = (
            self._split(self.q_proj(q)),
            self._split(self.k_proj(k)),
            self._split(self.v_proj(v)),
        )
        out = F.scaled_dot_product_attention(q, k, v)
        b, h, n, d = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, n, h * d))


# segment-anything's TwoWayTransformer uses ReLU in its token MLP; any other activation
# makes a SAM-initialised decoder compute something SAM never did.
ACTIVATIONS: Dict[str, Type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU}


class MLPBlock(nn.Module):
    """Two-layer MLP (segment-anything's ``lin1``/``lin2`` names).

    Arguments:
      embedding_dim (int): input and output channels.
      mlp_dim (int): hidden channels.
      activation (str): ``relu`` (segment-anything's) or ``gelu``.
    """

    def __init__(self, embedding_dim: int, mlp_dim: int, activation: str = "relu") -> None:
        super().__init__()
        self.lin1 = nn.Linear(embedding_dim, mlp_dim)
        self.lin2 = nn.Linear(mlp_dim, embedding_dim)
        self.act = ACTIVATIONS[activation]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin2(self.act(self.lin1(x)))


class BAIMBlock(nn.Module):
    """One BAIM: token self-attention, mask-to-image cross-attention, MLP, image-to-mask.

    Arguments:
      embedding_dim (int): channels of tokens and image embedding.
      num_heads (int): attention heads.
      mlp_dim (int): hidden width of the token MLP.
      attention_downsample_rate (int): channel downsampling of the cross-attentions.
      skip_first_layer_pe (bool): the first block's self-attention sees no positional encoding
        added again (the tokens already carry it) and its output replaces the tokens (no
        residual), as in segment-anything.
      bidirectional (bool): with False the image embedding is not updated (no I2M attention).
      activation (str): MLP activation, ``relu`` as in segment-anything.
    """

    def __init__(
        self,
        embedding_dim: int,
        num_heads: int,
        mlp_dim: int = 2048,
        attention_downsample_rate: int = 2,
        skip_first_layer_pe: bool = False,
        bidirectional: bool = True,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.self_attn = Attention(embedding_dim, num_heads)
        self.norm1 = nn.LayerNorm(embedding_dim)
        self.cross_attn_token_to_image = Attention(
            embedding_dim, num_heads, attention_downsample_rate
        )
        self.norm2 = nn.LayerNorm(embedding_dim)
        self.mlp = MLPBlock(embedding_dim, mlp_dim, activation)
        self.norm3 = nn.LayerNorm(embedding_dim)
        self.bidirectional = bidirectional
        if bidirectional:
            self.norm4 = nn.LayerNorm(embedding_dim)
            self.cross_attn_image_to_token = Attention(
                embedding_dim, num_heads, attention_downsample_rate
            )
        self.skip_first_layer_pe = skip_first_layer_pe

    def forward(
        self,
        queries: torch.Tensor,
        keys: torch.Tensor,
        query_pe: torch.Tensor,
        key_pe: torch.Tensor,
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        if self.skip_first_layer_pe:
            queries = self.self_attn(queries, queries, queries)
        else:
            q = queries + query_pe
            queries = queries + self.self_attn(q, q, queries)
        queries = self.norm1(queries)

        q, k = queries + query_pe, keys + key_pe
        queries = self.norm2(queries + self.cross_attn_token_to_image(q, k, keys))
        queries = self.norm3(queries + self.mlp(queries))

        if self.bidirectional:
            q, k = queries + query_pe, keys + key_pe
            keys = self.norm4(keys + self.cross_attn_image_to_token(k, q, queries))
        return queries, keys


class TwoWayTransformer(nn.Module):
    """N BAIM blocks followed by a final token-to-image attention.

    Arguments:
      depth (int): N.
      embedding_dim (int): channels.
      num_heads (int): attention heads.
      mlp_dim (int): MLP hidden width.
      attention_downsample_rate (int): channel downsampling of cross-attentions.
      bidirectional (bool): whether BAIM updates the image embedding.
      activation (str): MLP activation; ``relu`` (default) is segment-anything's, ``gelu``
        breaks equivalence with a SAM-initialised decoder.
    """

    def __init__(
        self,
        depth: int,
        embedding_dim: int,
        num_heads: int,
        mlp_dim: int,
        attention_downsample_rate: int = 2,
        bidirectional: bool = True,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            BAIMBlock(
                embedding_dim,
                num_heads,
                mlp_dim,
                attention_downsample_rate,
                skip_first_layer_pe=(i == 0),
                bidirectional=bidirectional,
                activation=activation,
            )
            for i in range(depth)
        )
        self.final_attn_token_to_image = Attention(
            embedding_dim, num_heads, attention_downsample_rate
        )
        self.norm_final_attn = nn.LayerNorm(embedding_dim)

    def forward(
        self, image_embedding: torch.Tensor, image_pe: torch.Tensor, tokens: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Return updated tokens (B, T, C) and image embedding (B, H·W, C).

        ``image_embedding`` is (B, C, H, W); ``image_pe`` (1 or B, C, H, W); ``tokens``
        (B, T, C) carry their own positional encoding and serve as their query encoding.
        """
        keys = image_embedding.flatten(2).transpose(1, 2)
        key_pe = image_pe.flatten(2).transpose(1, 2)
        queries = tokens
        for layer in self.layers:
            queries, keys = layer(queries, keys, query_pe=tokens, key_pe=key_pe)
        q, k = queries + tokens, keys + key_pe
        queries = self.norm_final_attn(queries + self.final_attn_token_to_image(q, k, keys))
        return queries, keys
