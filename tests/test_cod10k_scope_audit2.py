"""refuse_noncam_scoring reads data.cam_only for COD10K only: NC4K (no NonCAM images) scores
whatever the flag says, and COD10K's refusal names the config file the flag came from."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from pmgsam.evaluation.cod10k_scope import refuse_noncam_scoring
from pmgsam.utils.config import ConfigError


def test_only_cod10k_is_refused_with_cam_only_false() -> None:
    data = SimpleNamespace(cam_only=False)
    for dataset in ("nc4k", "dis5k", "folder"):
        refuse_noncam_scoring(dataset, data, "configs/x.yaml")
    refuse_noncam_scoring("cod10k", SimpleNamespace(cam_only=True), "configs/x.yaml")
    with pytest.raises(ConfigError, match=r"data.cam_only is false \('configs/x.yaml' or an"):
        refuse_noncam_scoring("cod10k", data, "configs/x.yaml")
