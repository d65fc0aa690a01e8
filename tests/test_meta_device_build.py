"""``with torch.device("meta"): build_model(...)`` counts a model's parameters without
allocating them; hiera-transformer's ``linspace(...).item()`` made it fail, and the branch files
the config names were required (and would have been read into weights holding no values)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from pmgsam.modeling.build import build_model, model_config


def test_a_meta_build_has_the_cpu_builds_parameters(
    small_branches: tuple, small_tiny_model: torch.nn.Module
) -> None:
    # Both with the small Hiera spec: the fixture's build ran on the CPU.
    with torch.device("meta"):
        meta = build_model("pmgsam_tiny", image_size=64)
    assert {t.device.type for t in [*meta.parameters(), *meta.buffers()]} == {"meta"}
    shapes = {name: tuple(t.shape) for name, t in meta.state_dict().items()}
    assert shapes == {name: tuple(t.shape) for name, t in small_tiny_model.state_dict().items()}
    assert sum(p.numel() for p in meta.parameters()) == sum(
        p.numel() for p in small_tiny_model.parameters()
    )


def test_the_1024_model_builds_without_its_files(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    files = {
        "hiera_checkpoint": str(tmp_path / "mae_hiera_base_plus_224.pth"),
        "u2net_checkpoint": str(tmp_path / "u2net.pth"),
        "sam_checkpoint": str(tmp_path / "sam_vit_b_01ec64.pth"),
    }  # none of them there: a CPU build refuses
    config = model_config("pmgsam_hiera_b+", **files)
    assert config.image_size == 1024
    with caplog.at_level(logging.WARNING), torch.device("meta"):
        model = build_model(config)
    assert model.config == config
    assert not caplog.records
    assert {p.device.type for p in model.parameters()} == {"meta"}
    # Hiera-B+ (width 112) has one position per 4 × 4 patch: (1024 / 4)² of them.
    assert tuple(model.hiera.trunk.pos_embed.shape) == (1, 256 * 256, 112)


def test_a_cpu_build_is_unchanged_by_the_meta_one(small_branches: tuple) -> None:
    # The linspace routed to the CPU must not leak: a later build allocates real weights.
    with torch.device("meta"):
        build_model("pmgsam_tiny", image_size=64)
    model = build_model("pmgsam_tiny", image_size=64)
    assert {p.device.type for p in model.parameters()} == {"cpu"}
    assert torch.linspace(0, 1, 3).device.type == "cpu"
