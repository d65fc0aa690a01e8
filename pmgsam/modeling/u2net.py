"""U²-Net and U²-NetP (Qin et al., 2020) as the pre-mask branch of PMG-SAM.

The modules reproduce the official ``model/u2net.py`` of ``xuebinqin/U-2-Net`` exactly where
it matters for reuse: submodule names, channel widths, dilations, ``ceil_mode`` pooling and
bilinear "upsample to the skip tensor's size" semantics, so the published ``u2net.pth`` and
``u2netp.pth`` load with ``strict=True`` and give the same outputs. The code itself is
restructured: one parametrised :class:`RSU` block covers RSU-7/6/5/4 and the dilated RSU-4F,
and both networks share one encoder/decoder pass that :meth:`forward` (the seven official
sigmoid maps) and :meth:`features` (the six level features used by the fusion) build on.
The conv → BatchNorm → ReLU unit can run with its BatchNorm folded into the convolution
(:mod:`pmgsam.modeling.batchnorm_folding`; :func:`set_batchnorm_folding`).

Inputs are expected to be normalised already; the module never normalises.
"""

from __future__ import annotations

from typing import ClassVar, Dict, List, Tuple, Type

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pmgsam.modeling.batchnorm_folding import FoldableConvBatchNorm, set_batchnorm_folding

__all__ = [
    "REBNCONV",
    "RSU",
    "U2NET",
    "U2NETP",
    "U2NET_CLASSES",
    "build_u2net",
    "set_batchnorm_folding",
]


def _upsample_like(src: Tensor, target: Tensor) -> Tensor:
    """Bilinearly resize ``src`` to ``target``'s spatial size (official U²-Net semantics).

    Resizing to the skip tensor's size rather than by a fixed factor of two is what keeps
    odd input sizes working together with ``ceil_mode`` pooling.
    """
    return F.interpolate(src, size=target.shape[2:], mode="bilinear", align_corners=False)


class REBNCONV(FoldableConvBatchNorm):
    """3×3 convolution → BatchNorm → ReLU, the basic unit of every RSU block.

    With :meth:`set_batchnorm_folding` on and the BatchNorm using its running statistics (eval
    mode), the forward runs one convolution with the BatchNorm folded into its weight and bias,
    then the ReLU (:mod:`pmgsam.modeling.batchnorm_folding`: when the fold applies, and how it
    follows later weight loads and edits). Forward hooks on ``conv_s1``, ``bn_s1`` or
    ``relu_s1`` do not run when folded.

    Arguments:
        in_ch: input channels.
        out_ch: output channels.
        dirate: dilation rate; padding equals the dilation so the spatial size is kept.
    """

    def __init__(self, in_ch: int = 3, out_ch: int = 3, dirate: int = 1) -> None:
        super().__init__()
        # Attribute names follow the official checkpoint keys (``conv_s1``/``bn_s1``).
        self.conv_s1 = nn.Conv2d(in_ch, out_ch, 3, padding=dirate, dilation=dirate)
        self.bn_s1 = nn.BatchNorm2d(out_ch)
        self.relu_s1 = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        if self._folded_path_usable():
            return F.relu(self._folded_conv(x), inplace=True)
        return self.relu_s1(self.bn_s1(self.conv_s1(x)))


class RSU(nn.Module):
    """Residual U-block of a given height (RSU-7/6/5/4, or RSU-4F when ``dilated``).

    The block is ``rebnconvin`` followed by a small U-Net whose output is added back to the
    ``rebnconvin`` output. Encoder levels are ``rebnconv1..rebnconv{height}``, decoder levels
    ``rebnconv{height-1}d..rebnconv1d``; these names match the official checkpoints.

    * Plain variant: levels 1..height-1 are separated by 2×2 max pooling (``ceil_mode``), the
      bottom level uses dilation 2, and the decoder upsamples to each skip tensor's size.
    * Dilated variant (RSU-4F): no resampling at all; encoder level ``i`` uses dilation
      ``2**(i-1)`` and the decoder mirrors those dilations. It is used at the coarsest
      stages, where further pooling would destroy too much spatial context.

    Arguments:
        height: number of encoder levels (the "L" in RSU-L), at least 2.
        in_ch: input channels.
        mid_ch: channels inside the U-structure.
        out_ch: output channels (also the channels of ``rebnconvin``).
        dilated: build the RSU-4F style dilated variant instead of the pooled one.
    """

    def __init__(
        self, height: int, in_ch: int, mid_ch: int, out_ch: int, dilated: bool = False
    ) -> None:
        super().__init__()
        if height < 2:
            raise ValueError(f"RSU height must be >= 2, got {height}")
        self.height = height
        self.dilated = dilated

        def dilation(level: int) -> int:
            if dilated:
                return 2 ** (level - 1)
            return 2 if level == height else 1

        # Registration order mirrors the official class so state_dict key order matches too.
        self.rebnconvin = REBNCONV(in_ch, out_ch, dirate=1)
        for level in range(1, height + 1):
            src = out_ch if level == 1 else mid_ch
            self.add_module(f"rebnconv{level}", REBNCONV(src, mid_ch, dirate=dilation(level)))
        for level in range(height - 1, 0, -1):
            dst = out_ch if level == 1 else mid_ch
            self.add_module(f"rebnconv{level}d", REBNCONV(2 * mid_ch, dst, dirate=dilation(level)))
        # Parameter-free, so a single shared pooling module does not change the state_dict.
        self.pool = nn.MaxPool2d(2, stride=2, ceil_mode=True)

    def _level(self, name: str) -> REBNCONV:
        return getattr(self, f"rebnconv{name}")

    def forward(self, x: Tensor) -> Tensor:
        hxin = self.rebnconvin(x)

        skips: List[Tensor] = []
        hx = hxin
        for level in range(1, self.height):
            # The official block pools after every level except the last two.
            if level > 1 and not self.dilated:
                hx = self.pool(hx)
            hx = self._level(str(level))(hx)
            skips.append(hx)
        # Bottom level: same resolution as the level above, larger receptive field.
        hx = self._level(str(self.height))(hx)

        for level in range(self.height - 1, 0, -1):
            skip = skips[level - 1]
            # Only pooled levels need resizing; skipping the no-op resize is exact because
            # bilinear interpolation to the same size is the identity.
            if hx.shape[2:] != skip.shape[2:]:
                # Back to bf16 after CUDA autocast's float32 upsampling, so the concatenation
                # stays bf16 (the conv after it would cast to bf16 anyway: same result).
                hx = _upsample_like(hx, skip).to(hx.dtype)
            hx = self._level(f"{level}d")(torch.cat((hx, skip), dim=1))
        return hx + hxin


# One block spec: (height, in_ch, mid_ch, out_ch, dilated).
_BlockSpec = Tuple[int, int, int, int, bool]


class _U2NetBase(nn.Module):
    """Shared six-stage encoder / five-stage decoder of U²-Net and U²-NetP.

    Arguments:
        encoder: specs of ``stage1..stage6``.
        decoder: specs of ``stage5d..stage1d`` (in that order).
        out_ch: channels of every side output and of the fused map.
    """

    feature_channels: ClassVar[Tuple[int, ...]] = ()
    feature_strides: ClassVar[Tuple[int, ...]] = (1, 2, 4, 8, 16, 32)

    def __init__(
        self, encoder: List[_BlockSpec], decoder: List[_BlockSpec], out_ch: int = 1
    ) -> None:
        super().__init__()
        if len(encoder) != 6 or len(decoder) != 5:
            raise ValueError("U²-Net needs 6 encoder and 5 decoder stage specs")
        for index, (height, cin, mid, cout, dilated) in enumerate(encoder, start=1):
            self.add_module(f"stage{index}", RSU(height, cin, mid, cout, dilated))
        for index, (height, cin, mid, cout, dilated) in zip(range(5, 0, -1), decoder):
            self.add_module(f"stage{index}d", RSU(height, cin, mid, cout, dilated))
        for index, channels in enumerate(self.feature_channels, start=1):
            self.add_module(f"side{index}", nn.Conv2d(channels, out_ch, 3, padding=1))
        self.outconv = nn.Conv2d(6 * out_ch, out_ch, 1)
        self.pool = nn.MaxPool2d(2, stride=2, ceil_mode=True)

    def _decoder_features(self, x: Tensor) -> List[Tensor]:
        """Run encoder and decoder; return ``[hx1d, hx2d, hx3d, hx4d, hx5d, hx6]``."""
        encoded: List[Tensor] = []
        hx = x
        for index in range(1, 7):
            if index > 1:
                hx = self.pool(hx)
            hx = getattr(self, f"stage{index}")(hx)
            encoded.append(hx)

        # The deepest encoder output (hx6) doubles as the coarsest decoder feature.
        decoded = [encoded[5]]
        hx = encoded[5]
        for index in range(5, 0, -1):
            skip = encoded[index - 1]
            up = _upsample_like(hx, skip).to(hx.dtype)  # bf16 under CUDA autocast, as in RSU
            hx = getattr(self, f"stage{index}d")(torch.cat((up, skip), 1))
            decoded.append(hx)
        decoded.reverse()
        return decoded

    def features(self, x: Tensor) -> List[Tensor]:
        """Six level features ``[hx1d, hx2d, hx3d, hx4d, hx5d, hx6]``.

        Channels are :attr:`feature_channels` and strides :attr:`feature_strides` (strides
        are exact for sizes divisible by 32; otherwise sizes are ``ceil``-divided).
        """
        return self._decoder_features(x)

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Official outputs ``(d0, d1, ..., d6)``: fused map then side maps, all sigmoided.

        Every map has ``x``'s spatial size; side maps 2..6 are upsampled before the sigmoid.
        """
        feats = self._decoder_features(x)
        logits = [self.side1(feats[0])]
        for index in range(2, 7):
            side = getattr(self, f"side{index}")(feats[index - 1])
            logits.append(_upsample_like(side, logits[0]))
        fused = self.outconv(torch.cat(logits, dim=1))
        return tuple(torch.sigmoid(t) for t in (fused, *logits))


class U2NET(_U2NetBase):
    """Full U²-Net (44,009,869 parameters).

    Arguments:
        in_ch: input image channels.
        out_ch: channels of each output map.
    """

    feature_channels: ClassVar[Tuple[int, ...]] = (64, 64, 128, 256, 512, 512)

    def __init__(self, in_ch: int = 3, out_ch: int = 1) -> None:
        encoder = [
            (7, in_ch, 32, 64, False),
            (6, 64, 32, 128, False),
            (5, 128, 64, 256, False),
            (4, 256, 128, 512, False),
            (4, 512, 256, 512, True),
            (4, 512, 256, 512, True),
        ]
        decoder = [
            (4, 1024, 256, 512, True),
            (4, 1024, 128, 256, False),
            (5, 512, 64, 128, False),
            (6, 256, 32, 64, False),
            (7, 128, 16, 64, False),
        ]
        super().__init__(encoder, decoder, out_ch)


class U2NETP(_U2NetBase):
    """Small U²-NetP (1,131,181 parameters); every stage outputs 64 channels.

    Arguments:
        in_ch: input image channels.
        out_ch: channels of each output map.
    """

    feature_channels: ClassVar[Tuple[int, ...]] = (64, 64, 64, 64, 64, 64)

    def __init__(self, in_ch: int = 3, out_ch: int = 1) -> None:
        encoder = [(7, in_ch, 16, 64, False)]
        encoder += [(h, 64, 16, 64, False) for h in (6, 5, 4)]
        encoder += [(4, 64, 16, 64, True)] * 2
        decoder = [(4, 128, 16, 64, True)]
        decoder += [(h, 128, 16, 64, False) for h in (4, 5, 6, 7)]
        super().__init__(encoder, decoder, out_ch)


U2NET_CLASSES: Dict[str, Type[_U2NetBase]] = {"u2net": U2NET, "u2netp": U2NETP}


def build_u2net(variant: str) -> _U2NetBase:
    """Build an (untrained) ``U2NET`` or ``U2NETP`` with 3 input and 1 output channel."""
    try:
        cls = U2NET_CLASSES[variant]
    except KeyError:
        valid = ", ".join(repr(name) for name in U2NET_CLASSES)
        raise ValueError(f"unknown U²-Net variant {variant!r}; valid names: {valid}") from None
    return cls(in_ch=3, out_ch=1)
