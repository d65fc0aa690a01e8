"""Which COD10K images the COS protocol scores: the camouflaged (CAM) ones only.

The COD10K-v3 download's ``Train/`` and ``Test/`` also hold its NonCAM images (``COD10K-NonCAM-*``,
with empty ``GT_Object`` masks), which its ``CAM_Instance_<Split>.json`` files do not list: the
protocol's test set is the 2026 CAM images. ``data.cam_only: true`` (the default) lists the CAM
images only; a split listed with ``false`` would have every instance predicted on a NonCAM
image counted as a false positive.
"""

from __future__ import annotations

from typing import Any

from pmgsam.utils.config import ConfigError


def refuse_noncam_scoring(dataset: str, data: Any, config: str) -> None:
    """Refuse scoring COD10K with ``data.cam_only: false`` (``data``: the config's DataConfig,
    ``config``: its file, named in the error)."""
    if dataset == "cod10k" and not data.cam_only:
        raise ConfigError(
            f"data.cam_only is false ('{config}' or an override), so the COD10K splits would "
            "hold the NonCAM images, which the COS protocol leaves out (the CAM_Instance "
            "file lists none of them: every instance predicted there would count as a false "
            "positive); evaluate with data.cam_only=true"
        )
