"""The PMG-SAM model: frozen branches → FPN → fusion → Pre-Mask → guided decoder."""

from __future__ import annotations

import hashlib
from typing import Dict, Iterator, List, Sequence

import torch
from torch import nn

from pmgsam.modeling.common import PixelNormalizer
from pmgsam.modeling.config import ModelConfig
from pmgsam.modeling.fusion import FeatRefiner, FusionStack
from pmgsam.modeling.image_encoder import FpnNeck, HieraBranch
from pmgsam.modeling.mask_decoder import GuidedMaskDecoder
from pmgsam.modeling.u2net import build_u2net
from pmgsam.modeling.weights import check_state_dict

FROZEN_BRANCHES = ("hiera", "u2net")
FROZEN_INIT_SEED = 0


# Resampling with overshooting kernels (bicubic, Lanczos) leaves values slightly outside [0, 1].
INPUT_RANGE_TOLERANCE = 0.02


class PMGSAM(nn.Module):
    """Pre-Mask Guided SAM.

    Input: RGB images in [0, 1], shape (B, 3, S, S) (resize + pad is the data pipeline's job;
    each branch's normalisation happens here). Output: ``{"pre_mask", "mask"}`` logits, both
    (B, 1, S, S).

    Arguments:
      config (ModelConfig): the full description of the architecture.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        # The [0, 1] range check reads two values back to the host. The engine feeds tensors its
        # own transforms put in [0, 1], so that no step waits on the GPU for it: the trainer and
        # the efficiency report turn it off on the models they build, the predictor passes
        # ``check_range=False`` per call and leaves the caller's model checking.
        self.check_input_range = True
        # Frozen branches are initialised from a fixed seed (and the caller's RNG stream is left
        # untouched): without pretrained files they are random, and since checkpoints store only
        # the trainable parts, every build of a config must give the same frozen weights.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(FROZEN_INIT_SEED)
            self.hiera = HieraBranch(config.hiera, config.image_size)
            self.u2net = build_u2net(config.u2net)
        for branch in (self.hiera, self.u2net):
            branch.requires_grad_(False)
            branch.eval()
        self.hiera_norm = PixelNormalizer()
        # The official U²-Net pipeline divides by the image maximum before ImageNet scaling.
        self.u2net_norm = PixelNormalizer(per_image_max=True)

        self.neck = FpnNeck(self.hiera.channels, config.fpn_dim, config.fpn_top_down_levels)
        u2_channels = self.u2net.feature_channels
        self.fusion = FusionStack(
            config.fusion,
            u2_channels,
            config.fpn_dim,
            config.fusion_channels,
            config.fusion_growth,
            config.drfm_blocks,
            config.srb_iterations,
            config.residual_scale,
            config.srb_output_norm,
        )
        self.refiner = FeatRefiner(config.fusion_channels, config.refiner_dim)
        self.decoder = GuidedMaskDecoder(
            dim=config.fpn_dim,
            patch_size=config.patch_size,
            depth=config.decoder_depth,
            num_heads=config.decoder_heads,
            mlp_dim=config.decoder_mlp_dim,
            attention_downsample=config.attention_downsample,
            bidirectional=config.bidirectional,
            high_res=config.high_res,
            activation=config.decoder_activation,
            u2net_high_res_channels=(u2_channels[2], u2_channels[3]),
        )

    def train(self, mode: bool = True) -> PMGSAM:
        super().train(mode)
        # Frozen branches keep eval-mode BatchNorm/dropout whatever the trainer does.
        self.hiera.eval()
        self.u2net.eval()
        return self

    def _check_images(self, images: torch.Tensor, check_range: bool = True) -> None:
        s = self.config.image_size
        if not isinstance(images, torch.Tensor):
            raise TypeError(
                f"images must be a torch.Tensor (B, 3, {s}, {s}) in [0, 1], got "
                f"{type(images).__name__} (torch.from_numpy for an array; Predictor."
                "predict_image takes an (H, W, 3) image array of any size)"
            )
        if images.ndim != 4 or images.shape[1] != 3 or tuple(images.shape[-2:]) != (s, s):
            raise ValueError(
                f"PMG-SAM expects RGB images of shape (B, 3, {s}, {s}) in [0, 1] "
                f"(model.image_size={s}); got {tuple(images.shape)}"
            )
        if len(images) == 0:  # Hiera would stop in a reshape that names no input
            raise ValueError(f"images is an empty batch, shape {tuple(images.shape)}: give B >= 1")
        if not images.is_floating_point():
            raise ValueError(
                f"images must be a floating-point tensor in [0, 1], got {images.dtype}"
            )
        weights = next(self.parameters()).dtype
        # Either would otherwise stop in the first convolution as a dtype clash naming no input
        # (autocast never casts float64; without autocast, any mismatch clashes).
        if (
            images.dtype != weights
            and not torch.compiler.is_compiling()
            and (images.dtype == torch.float64 or not torch.is_autocast_enabled(images.device.type))
        ):
            raise ValueError(
                f"images are {images.dtype} but the model's weights are {weights}: pass "
                f"images.to({weights}) or run the model under torch.autocast"
            )
        checked = check_range and self.check_input_range
        if not checked or torch.compiler.is_compiling():
            return  # a data-dependent branch would break the compiled graph
        # One reduction and one host sync: 0-255 images would otherwise give silently wrong
        # masks (the normalisation assumes [0, 1]).
        low, high = (float(v) for v in torch.aminmax(images.detach()))
        if not (low >= -INPUT_RANGE_TOLERANCE and high <= 1.0 + INPUT_RANGE_TOLERANCE):
            hint = " (divide 0-255 images by 255)" if high > 2.0 else ""
            raise ValueError(
                f"images must hold values in [0, 1]; got values in [{low:.4g}, {high:.4g}]{hint}"
            )

    @torch.no_grad()
    def encode(
        self, images: torch.Tensor, check_range: bool = True
    ) -> Dict[str, List[torch.Tensor]]:
        """Raw features of the frozen branches.

        Arguments:
          images (torch.Tensor): RGB images (B, 3, S, S) in [0, 1], of the weights' dtype (or
            float32 under ``torch.autocast``), S being ``config.image_size``.
          check_range (bool): check that the values are in [0, 1]; False skips the check
            for this call (see :meth:`forward`).

        Returns ``{"hiera": 4 maps (strides 4…32), "u2net": 6 maps (strides 1…32)}``.
        """
        self._check_images(images, check_range)
        return {
            "hiera": self.hiera(self.hiera_norm(images)),
            "u2net": self.u2net.features(self.u2net_norm(images)),
        }

    def forward(self, images: torch.Tensor, check_range: bool = True) -> Dict[str, torch.Tensor]:
        """Logits of ``images``: ``{"pre_mask", "mask"}``, both (B, 1, S, S).

        Arguments:
          images (torch.Tensor): RGB images (B, 3, S, S) in [0, 1], of the weights' dtype (or
            float32 under ``torch.autocast``), S being ``config.image_size`` (resized and
            padded by the data pipeline).
          check_range (bool): check that the values are in [0, 1] (a small tolerance allows
            resampling overshoot) when ``check_input_range`` is on; False skips the check (one
            host synchronisation) for this call only, for callers whose tensors are in range
            by construction.
        """
        feats = self.encode(images, check_range)
        fpn = self.neck(feats["hiera"])
        pre_mask = self.refiner(self.fusion(feats["u2net"], fpn))
        high_res = {"hiera": (fpn[0], fpn[1]), "u2net": (feats["u2net"][2], feats["u2net"][3])}
        mask = self.decoder(pre_mask, fpn[2], high_res)
        return {"pre_mask": pre_mask, "mask": mask}

    def trainable_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters the optimiser should update (everything outside the frozen branches)."""
        return (p for p in self.parameters() if p.requires_grad)

    def trainable_state_dict(self) -> Dict[str, torch.Tensor]:
        """State of the trainable parts (frozen branches come from their own checkpoints)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith(_frozen_prefixes())}

    def frozen_digest(self, branches: Sequence[str] = FROZEN_BRANCHES) -> str:
        """SHA-256 of the frozen ``branches``' weights and buffers (names, dtypes, shapes,
        values): equal for equal weights, wherever their files now live and in any memory
        format."""
        digest = hashlib.sha256()
        prefixes = _frozen_prefixes(branches)
        for name, tensor in sorted(self.state_dict().items()):
            if name.startswith(prefixes):
                values = tensor.detach().cpu().contiguous().reshape(-1)
                digest.update(f"{name}:{values.dtype}:{tuple(tensor.shape)}\n".encode())
                digest.update(values.view(torch.uint8).numpy())
        return digest.hexdigest()

    def load_trainable_state_dict(self, state: Dict[str, torch.Tensor], source: str) -> None:
        """Load trainable weights strictly; errors name missing/unexpected keys and ``source``."""
        own = self.trainable_state_dict()
        check_state_dict(own, state, source=source)
        self.load_state_dict(state, strict=False)


def _frozen_prefixes(branches: Sequence[str] = FROZEN_BRANCHES) -> tuple:
    return tuple(f"{name}." for name in branches)
