"""The dataclass that fully describes a PMG-SAM model (architecture + where its weights live)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from pmgsam.utils.config import ConfigError, check_positive, non_blank_field

HIERA_VARIANTS = ("tiny", "small", "base", "base_plus", "large")
U2NET_VARIANTS = ("u2net", "u2netp")
FUSION_MODES = ("none", "residual", "drfm")
HIGH_RES_SOURCES = ("none", "u2net", "both", "hiera")
DECODER_ACTIVATIONS = ("relu", "gelu")
# Values of fields added later, as models saved before them were built (a GELU BAIM MLP, SRBs
# without their output GroupNorm); read by our checkpoint loader and by training resumption.
LEGACY_FIELDS = {"decoder_activation": "gelu", "srb_output_norm": False}
NUM_LEVELS = 6
MAX_IMAGE_SIZE = 8192

# Fields that say where pretrained weights come from rather than what the model is; two
# configs that differ only here describe the same architecture.
WEIGHT_SOURCE_FIELDS = ("hiera_checkpoint", "u2net_checkpoint", "sam_checkpoint")
# Fields that a model saved before empty paths were refused may hold as '', which then meant
# no file (None); a saved config reads them so (see pmgsam.utils.config.non_blank_field).
EMPTY_MEANT_NONE = WEIGHT_SOURCE_FIELDS


@dataclass
class ModelConfig:
    """Everything needed to build a PMG-SAM model.

    Arguments:
      image_size (int): side S of the square network input (multiple of 32 and of patch_size,
        at most 8192).
      hiera (str): Hiera variant of the frozen transformer branch.
      hiera_checkpoint (str, optional): hiera-transformer checkpoint (``model_state`` key).
      u2net (str): ``u2net`` (official U2NET) or ``u2netp`` (U²-Net†) for the frozen CNN branch.
      u2net_checkpoint (str, optional): official ``u2net.pth`` / ``u2netp.pth``.
      sam_checkpoint (str, optional): segment-anything checkpoint whose mask decoder initialises
        the guided decoder where names and shapes agree.
      fpn_dim (int): channels of the FPN neck and of the decoder transformer.
      fpn_top_down_levels (list of int): FPN levels (0 = stride 4) that receive top-down features.
      fusion (str): ``drfm`` (paper), ``residual`` (add + Conv-BN-ReLU) or ``none`` (U²-Net only).
      fusion_channels (list of int): working channels of the fusion at each of the 6 levels
        (strides 1…32); small at high resolution so that full-size activations stay cheap.
      fusion_growth (list of int): channels each dense iteration of an SRB adds, per level.
      drfm_blocks (int): K, SRBs per DRFM.
      srb_iterations (int): M, dense residual iterations per SRB.
      residual_scale (float): scale of the residual added back in SRBs and DRFMs.
      srb_output_norm (bool): GroupNorm on each SRB's output (input + scaled residual), as the
        paper's SRB ends; checkpoints saved before this field existed read as ``false``.
      refiner_dim (int): channels each fused level is reduced to before upsampling to S.
      patch_size (int): p, side of the Pre-Mask patches that become mask tokens.
      decoder_depth (int): N, number of BAIM blocks.
      decoder_heads (int): attention heads in BAIM.
      decoder_mlp_dim (int): hidden width of the BAIM MLP.
      decoder_activation (str): activation of the BAIM MLP. ``relu`` is segment-anything's, so a
        ``sam_checkpoint`` initialises a block that computes what SAM's does; ``gelu`` breaks
        that equivalence (SAM initialisation then starts from a different function).
      attention_downsample (int): channel downsampling of the cross-attentions.
      bidirectional (bool): BAIM also updates the image embedding (image-to-mask attention).
      high_res (str): source of the high-resolution features injected while upscaling.
    """

    image_size: int = 1024
    hiera: str = "base_plus"
    hiera_checkpoint: Optional[str] = non_blank_field("a Hiera checkpoint file", default=None)
    u2net: str = "u2net"
    u2net_checkpoint: Optional[str] = non_blank_field("a U²-Net checkpoint file", default=None)
    sam_checkpoint: Optional[str] = non_blank_field("a SAM checkpoint file", default=None)
    fpn_dim: int = 256
    fpn_top_down_levels: List[int] = field(default_factory=lambda: [2, 3])
    fusion: str = "drfm"
    fusion_channels: List[int] = field(default_factory=lambda: [8, 16, 32, 96, 192, 192])
    fusion_growth: List[int] = field(default_factory=lambda: [8, 16, 32, 48, 96, 96])
    drfm_blocks: int = 3
    srb_iterations: int = 4
    residual_scale: float = 0.2
    srb_output_norm: bool = True
    refiner_dim: int = 16
    patch_size: int = 16
    decoder_depth: int = 2
    decoder_heads: int = 8
    decoder_mlp_dim: int = 2048
    decoder_activation: str = "relu"
    attention_downsample: int = 2
    bidirectional: bool = True
    high_res: str = "hiera"

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first field that cannot build a model."""
        choices = {
            "hiera": HIERA_VARIANTS,
            "u2net": U2NET_VARIANTS,
            "fusion": FUSION_MODES,
            "high_res": HIGH_RES_SOURCES,
            "decoder_activation": DECODER_ACTIVATIONS,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(
                    f"model.{name} must be one of {list(allowed)}, got {getattr(self, name)!r}"
                )
        # Every size and count first: the checks below divide by some of them.
        sizes = (
            "image_size",
            "fpn_dim",
            "drfm_blocks",
            "srb_iterations",
            "refiner_dim",
            "patch_size",
            "decoder_depth",
            "decoder_heads",
            "decoder_mlp_dim",
            "attention_downsample",
        )
        for name in sizes:
            check_positive(f"model.{name}", getattr(self, name))
        # 8x the paper's S in each side; a larger S would only fail once memory runs out.
        check_positive("model.image_size", self.image_size, at_most=MAX_IMAGE_SIZE)
        check_positive("model.residual_scale", self.residual_scale, allow_zero=True)
        s = self.image_size
        if s % 32:
            raise ConfigError(
                f"model.image_size must be a positive multiple of 32 (Hiera's total stride), "
                f"got {s}"
            )
        if s % self.patch_size:
            raise ConfigError(
                f"model.image_size ({s}) must be a multiple of model.patch_size ({self.patch_size})"
            )
        for name in ("fusion_channels", "fusion_growth"):
            values = getattr(self, name)
            if len(values) != NUM_LEVELS or min(values) <= 0:
                raise ConfigError(
                    f"model.{name} needs {NUM_LEVELS} positive values (one per level), got {values}"
                )
        if any(lvl not in range(4) for lvl in self.fpn_top_down_levels):
            raise ConfigError(
                f"model.fpn_top_down_levels must be indices in 0..3, got {self.fpn_top_down_levels}"
            )
        # The cross-attentions work in fpn_dim // attention_downsample channels.
        internal = self.fpn_dim // self.attention_downsample
        if self.fpn_dim % 8 or internal == 0 or internal % self.decoder_heads:
            raise ConfigError(
                f"model.fpn_dim ({self.fpn_dim}) must be divisible by 8 and, after "
                f"attention_downsample ({self.attention_downsample}), by decoder_heads "
                f"({self.decoder_heads})"
            )
