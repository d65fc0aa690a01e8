"""The named PMG-SAM variants (``--model`` choices).

Torch-free, so that commands list the names in ``--help`` and check ``--model`` before they
import torch; :mod:`pmgsam.modeling.build` builds them.
"""

from __future__ import annotations

from typing import Callable, Dict, List

from pmgsam.modeling.config import ModelConfig


def _paper_default() -> ModelConfig:
    """Paper default: Hiera-B+ (MAE IN-1K) + U2NET, S=1024, DRFM K=3 M=4, N=2 BAIM."""
    return ModelConfig()


def _hiera_tiny() -> ModelConfig:
    """A lighter full-resolution variant: Hiera-T with the full U2NET."""
    return ModelConfig(hiera="tiny")


def _tiny_cpu() -> ModelConfig:
    """CPU demo/test variant: Hiera-T + U²-Net†, S=256, narrow fusion and decoder."""
    return ModelConfig(
        image_size=256,
        hiera="tiny",
        u2net="u2netp",
        fpn_dim=64,
        fusion_channels=[8, 8, 16, 16, 32, 32],
        fusion_growth=[4, 8, 8, 16, 16, 16],
        drfm_blocks=1,
        srb_iterations=2,
        refiner_dim=8,
        decoder_depth=1,
        decoder_heads=4,
        decoder_mlp_dim=256,
    )


MODEL_REGISTRY: Dict[str, Callable[[], ModelConfig]] = {
    "pmgsam_hiera_b+": _paper_default,
    "pmgsam_hiera_t": _hiera_tiny,
    "pmgsam_tiny": _tiny_cpu,
}


def list_models() -> List[str]:
    """Names accepted by :func:`~pmgsam.modeling.build.build_model`."""
    return sorted(MODEL_REGISTRY)
