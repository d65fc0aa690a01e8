"""The edges of each config value's range: a value one step outside is refused naming its key
(else the run goes on as another experiment, or fails deep in the loop), and the documented
limits and 'off' values are accepted (cases test_config_overrides.py covers are not repeated).
Ranges are written out by hand from the docstrings of the config dataclasses (and, where they
say nothing, from what the value is used for)."""

from __future__ import annotations

from pathlib import Path
from typing import List

import pytest

from pmgsam.data.config import splits_overlap
from pmgsam.engine.config import ExperimentConfig
from pmgsam.utils.config import ConfigError, load_config

DEMO = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"


def _load(overrides: List[str]) -> ExperimentConfig:
    cfg = load_config(ExperimentConfig, DEMO, overrides)
    cfg.validate_training()
    return cfg


@pytest.mark.parametrize(
    "overrides, words",
    [
        # Training: each runs silently as something else or stops mid-run.
        (["loss.smooth=-1"], r"'loss\.smooth' must be .*>= 0"),
        (["optim.betas=[0.9, 0.99, 0.9]"], r"'optim\.betas' needs two values"),
        (["optim.premask.weight_decay=-0.1"], r"'optim\.premask\.weight_decay' must be"),
        (["schedule.step_every=0"], r"'schedule\.step_every' must be > 0"),
        (["schedule.min_lr=-1e-6"], r"'schedule\.min_lr' must be .*>= 0"),
        (["schedule.early_stop_min_delta=-0.1"], r"'schedule\.early_stop_min_delta' must be"),
        (["schedule.plateau_patience=-1"], r"'schedule\.plateau_patience' must be >= 0"),
        (["train.log_every=0"], r"'train\.log_every' must be > 0"),
        (["train.preview_images=-1"], r"'train\.preview_images' must be >= 0"),
        (["data.augment.color_jitter_prob=1.5"], r"'data\.augment\.color_jitter_prob' must be"),
        (["data.val_fraction=1"], r"'data\.val_fraction' must be in \(0, 1\), got 1"),
        (["data.test_fraction=1"], r"'data\.test_fraction' must be in \(0, 1\), got 1"),
        # Any use of the config: the model could not be built, or the threads not set.
        (["train.num_threads=0"], r"'train\.num_threads' must be > 0"),
        (["performance.compile_scope=graph"], r"'performance\.compile_scope' must be one of"),
        (["model.decoder_activation=silu"], r"model\.decoder_activation must be one of"),
        (["model.refiner_dim=0"], r"'model\.refiner_dim' must be > 0"),
        (["model.fpn_dim=0"], r"'model\.fpn_dim' must be > 0"),
        (["model.drfm_blocks=0"], r"'model\.drfm_blocks' must be > 0"),
        (["model.srb_iterations=0"], r"'model\.srb_iterations' must be > 0"),
        (["model.decoder_depth=0"], r"'model\.decoder_depth' must be > 0"),
        (["model.image_size=80"], r"model\.image_size must be a positive multiple of 32"),
        (["model.fusion_channels=[8, 8, 16, 16, 32, 32, 32]"], r"model\.fusion_channels needs 6"),
        (["model.fusion_channels=[8, 8, 16, 16, 32, 0]"], r"model\.fusion_channels needs 6"),
        (["model.fusion_growth=[4, 8]"], r"model\.fusion_growth needs 6"),
        (["model.fpn_dim=36", "model.decoder_heads=2"], r"model\.fpn_dim \(36\) must be"),
        (["model.decoder_heads=3"], r"by decoder_heads \(3\)"),  # 64 // 2 channels, 3 heads
        (
            ["data.dataset=nc4k", "data.train_split=train", "data.val_split=null"]
            + ["data.test_splits=[val]"],  # NC4K has all, train and test only
            r"'data\.test_splits\[0\]': 'val' is not a nc4k split",
        ),
    ],
)
def test_a_value_just_outside_its_range_is_refused(overrides: List[str], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        _load(overrides)


def test_the_documented_off_values_and_limits_are_accepted() -> None:
    cfg = _load(
        [
            "optim.betas=[0.0, 0.999]",  # [0, 1): beta1 = 0 keeps no momentum
            "optim.decoder.lr_mult=0",  # a part whose weights stay as initialised
            "schedule.warmup_epochs=0",  # 0 = no warm-up
            "schedule.plateau_patience=0",
            "train.preview_every=0",  # 0 = never
            "train.preview_images=0",
            "model.fpn_top_down_levels=[0, 1, 2, 3]",  # FPN level indices 0..3
            "data.augment.crop_prob=1",  # probabilities in [0, 1]
            "data.augment.hflip_prob=0",
            "data.augment.crop_min_scale=1",  # (0, 1]
            "data.augment.rotate_limit=180",  # [0, 180]
        ]
    )
    assert cfg.optim.betas == [0.0, 0.999] and cfg.optim.decoder.lr_mult == 0.0
    assert (cfg.schedule.warmup_epochs, cfg.schedule.plateau_patience) == (0, 0)
    assert (cfg.train.preview_every, cfg.train.preview_images) == (0, 0)
    assert cfg.model.fpn_top_down_levels == [0, 1, 2, 3]
    aug = cfg.data.augment
    assert (aug.crop_prob, aug.hflip_prob, aug.crop_min_scale, aug.rotate_limit) == (
        1.0,
        0.0,
        1.0,
        180.0,
    )


@pytest.mark.parametrize(
    "dataset, a, b, shared",
    [
        # A folder dataset's 'all' is <root>/<image_dir>; a sub-folder split holds other images.
        ("folder", "all", "batch2", False),
        # Its train / test are drawn from 'all', as NC4K's are.
        ("folder", "all", "train", True),
        ("folder", "train:val", "all", True),
        ("folder", "train", "test", False),
    ],  # fmt: skip
)
def test_folder_splits_overlap_as_the_module_doc_says(
    dataset: str, a: str, b: str, shared: bool
) -> None:
    assert splits_overlap(a, b, dataset) is shared
