"""Defaults and shipped configs against DESIGN.md's tables, and which keys a resume may change.

Expected values are written out by hand from DESIGN.md (section 4: the DIS5K schedule and the
fine-tuning schedule; section 5: the DIS subsets reported; section 3: COD10K's CAM images) and
from the docstrings of :data:`pmgsam.engine.config.RESUMABLE_CHANGES` and
:data:`pmgsam.engine.resume_checks.MOVABLE`, never read back from the code under test.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Dict, Iterator, Tuple

import pytest

from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.resume_checks import resume_differences
from pmgsam.engine.state import with_legacy_fields
from pmgsam.utils.config import ConfigError, load_config, to_dict

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
DIS_REPORTED = ["DIS-VD", "DIS-TE1", "DIS-TE2", "DIS-TE3", "DIS-TE4"]


def test_defaults_are_the_dis5k_experiment_of_the_paper() -> None:
    cfg = ExperimentConfig()
    s = cfg.schedule
    # DESIGN 4: 300 epochs, warm-up 10, step decay every 40, early stop after 40, batch 4.
    assert (s.epochs, s.warmup_epochs, s.kind, s.step_every, s.early_stop_patience) == (
        300,
        10,
        "step",
        40,
        40,
    )
    # DESIGN 4, fine-tuning: ReduceLROnPlateau factor 0.5, patience 5.
    assert (s.plateau_factor, s.plateau_patience) == (0.5, 5)
    assert cfg.train.batch_size == 4
    d = cfg.data
    assert (d.dataset, d.train_split, d.val_split) == ("dis5k", "DIS-TR", "DIS-VD")
    assert d.test_splits == DIS_REPORTED  # DESIGN 5: per subset DIS-VD, DIS-TE1..4
    assert (d.val_fraction, d.cam_only) == (0.2, True)  # 80/20 carve; COD10K CAM images only


@pytest.mark.parametrize("name", [None, "pmgsam_dis5k.yaml", "pmgsam_nc4k_ft.yaml"])
def test_the_model_is_design_sections_1_and_2(name: str) -> None:
    # DESIGN 1-2: Hiera-B+ and official U2NET, S = 1024, FPN d = 256 with top-down features on
    # the stride-16/32 levels only (2, 3), p = 16, BAIM dim 256 / 8 heads / downsample 2 / MLP
    # 2048 with SAM's ReLU, residual scale 0.2; K, M, N, fusion and high-res source are pinned
    # by test_ablation_switches.py.
    m = load_config(ExperimentConfig, CONFIGS / name if name else None).model
    assert (m.hiera, m.u2net, m.image_size, m.fpn_dim, m.fpn_top_down_levels) == (
        "base_plus",
        "u2net",
        1024,
        256,
        [2, 3],
    )
    assert (m.patch_size, m.decoder_heads, m.attention_downsample, m.decoder_mlp_dim) == (
        16,
        8,
        2,
        2048,
    )
    assert (m.decoder_activation, m.residual_scale) == ("relu", 0.2)


def test_the_values_chosen_where_the_paper_lost_them() -> None:
    # data/config.py: rotation limit 15 degrees; pmgsam_nc4k_ft.yaml's header: NC4K's pool
    # split 80/20 into train/test, then train 80/20 into train/val.
    assert ExperimentConfig().data.augment.rotate_limit == 15.0
    nc4k = load_config(ExperimentConfig, CONFIGS / "pmgsam_nc4k_ft.yaml").data
    assert (nc4k.test_fraction, nc4k.val_fraction, nc4k.train_split) == (0.2, 0.2, "train")


@pytest.mark.parametrize(
    "name, test_splits",
    [
        ("pmgsam_dis5k.yaml", DIS_REPORTED),
        ("pmgsam_cod10k_ft.yaml", ["Test"]),
        ("pmgsam_nc4k_ft.yaml", ["test"]),
    ],
)
def test_shipped_configs_score_the_papers_splits_with_its_loss(
    name: str, test_splits: list
) -> None:
    cfg = load_config(ExperimentConfig, CONFIGS / name)
    assert cfg.data.test_splits == test_splits
    loss = cfg.loss
    # DESIGN 2: BCE + Dice + IoU, 1 : 1 : 10, on the final mask (fine-tuning keeps the loss).
    assert (loss.bce_weight, loss.dice_weight, loss.iou_weight, loss.aux_premask_weight) == (
        1.0,
        1.0,
        10.0,
        0.0,
    )
    assert cfg.train.batch_size == 4  # DESIGN 4: batch 4 on one GPU
    # DESIGN 4 counts early-stop patience in epochs; the loop counts it in validations.
    assert cfg.train.val_every == 1
    assert cfg.model.image_size == 1024  # DESIGN 1: S = 1024
    if cfg.data.dataset == "cod10k":
        assert cfg.data.cam_only is True  # DESIGN 3: 3040 / 2026 CAM images


@pytest.mark.parametrize(
    "name, lr, min_lr, step_gamma",
    [
        ("pmgsam_dis5k.yaml", 1e-4, 0.0, 0.5),
        ("pmgsam_cod10k_ft.yaml", 1e-5, 1e-7, None),
        ("pmgsam_nc4k_ft.yaml", 1e-5, 1e-7, None),
    ],
)
def test_shipped_configs_hold_the_values_their_header_notes_choose(
    name: str, lr: float, min_lr: float, step_gamma: float
) -> None:
    # Each file's header: the paper's lost values and what is used instead (DIS: lr 1e-4,
    # decay 0.5, weight decay 0.01, clipping at 1.0; fine-tuning: lr 1e-5, floor 1e-7).
    cfg = load_config(ExperimentConfig, CONFIGS / name)
    assert (cfg.optim.lr, cfg.schedule.min_lr) == (lr, min_lr)
    assert (cfg.optim.weight_decay, cfg.train.grad_clip) == (0.01, 1.0)
    if step_gamma is not None:
        assert cfg.schedule.step_gamma == step_gamma


def test_a_run_saved_before_reduced_decode_resumes_decoding_at_full_size() -> None:
    # data/config.py: runs saved before the field existed decoded every image at full size.
    assert with_legacy_fields({"data": {}})["data"]["reduced_decode"] is False
    kept = with_legacy_fields({"data": {"reduced_decode": True}})
    assert kept["data"]["reduced_decode"] is True


def test_a_model_saved_before_the_later_fields_builds_as_it_was_trained() -> None:
    # modeling/config.py: such models had a GELU BAIM MLP and SRBs without an output GroupNorm
    # ("checkpoints saved before this field existed read as false").
    model = with_legacy_fields({"model": {}})["model"]
    assert (model["decoder_activation"], model["srb_output_norm"]) == ("gelu", False)
    kept = with_legacy_fields({"model": {"srb_output_norm": True, "decoder_activation": "relu"}})
    assert (kept["model"]["decoder_activation"], kept["model"]["srb_output_norm"]) == ("relu", True)


# RESUMABLE_CHANGES' docstring: where things go and how often the loop reports; the speed
# options; and (MOVABLE, checked by fingerprint instead) where the data and frozen weights are.
MAY_CHANGE_ON_RESUME = {
    "output_dir",
    "data.num_workers",
    "data.check_files",
    "train.num_threads",
    "train.log_every",
    "train.preview_every",
    "train.preview_images",
    "data.root",
    "data.split_dir",
    "model.hiera_checkpoint",
    "model.u2net_checkpoint",
}


def _leaves(data: Dict[str, Any], prefix: str = "") -> Iterator[Tuple[str, Any]]:
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            yield from _leaves(value, dotted)
        else:
            yield dotted, value


def _changed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, list):
        return [*value, value[-1] if value else 1]
    return f"{value}_other"  # text, or None


def _set(data: Dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        data = data[part]
    data[last] = value


def test_every_setting_that_changes_the_numbers_blocks_a_resume() -> None:
    # A key let through here would silently mix two settings in one run.
    current = ExperimentConfig()
    saved = to_dict(current)
    leaves = dict(_leaves(saved))
    assert len(leaves) > 60  # the walk reached every section
    let_through = []
    for key, value in leaves.items():
        changed = copy.deepcopy(saved)
        _set(changed, key, _changed(value))
        reported = [d.split(":")[0] for d in resume_differences(changed, current)]
        if key.startswith("performance.") or key in MAY_CHANGE_ON_RESUME:
            assert reported == [], key
        elif reported != [key]:
            let_through.append(key)
    assert let_through == []


def test_a_learning_rate_floor_above_the_learning_rate_is_refused() -> None:
    # After the warm-up the base rate is max(lr * factor, min_lr): lr 5e-8 with the
    # fine-tuning floor 1e-7 trained at twice the rate asked for.
    config = CONFIGS / "pmgsam_cod10k_ft.yaml"
    with pytest.raises(ConfigError, match=r"'schedule\.min_lr' \(1e-07\) is above 'optim\.lr'"):
        load_config(ExperimentConfig, config, ["optim.lr=5e-8"]).validate_training()
    cfg = load_config(ExperimentConfig, config, ["optim.lr=1e-7"])  # a constant rate
    cfg.validate_training()
    assert cfg.optim.lr == cfg.schedule.min_lr == 1e-7
