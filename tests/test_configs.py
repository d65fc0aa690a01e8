"""The shipped experiment configs and the error messages of bad ones."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from pmgsam.data.config import splits_overlap
from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.state import experiment_config
from pmgsam.modeling.build import model_config
from pmgsam.modeling.checkpoint import architecture_diff
from pmgsam.modeling.config import ModelConfig
from pmgsam.utils.config import ConfigError, diff, load_config, to_dict

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
MODEL_FIELDS = {f.name for f in dataclasses.fields(ModelConfig)}
OWN = ["pmgsam_dis5k.yaml", "pmgsam_cod10k_ft.yaml", "pmgsam_nc4k_ft.yaml", "demo.yaml"]


def _raw(name: str) -> dict:
    return yaml.safe_load((CONFIGS / name).read_text())


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_config_loads(path: Path) -> None:
    load_config(ExperimentConfig, path).validate_training()  # each trains as shipped


@pytest.mark.parametrize("name", OWN)
def test_model_written_out_in_full(name: str) -> None:
    # Every field is explicit, so a changed ModelConfig default cannot alter these experiments.
    assert set(_raw(name)["model"]) == MODEL_FIELDS


def test_expected_configs_exist() -> None:
    names = {p.name for p in CONFIGS.glob("*.yaml")}
    assert {
        "pmgsam_dis5k.yaml",
        "pmgsam_cod10k_ft.yaml",
        "pmgsam_nc4k_ft.yaml",
        "demo.yaml",
    } <= names


def test_dis_config_is_the_paper_model_and_schedule() -> None:
    cfg = load_config(ExperimentConfig, CONFIGS / "pmgsam_dis5k.yaml")
    paper = model_config("pmgsam_hiera_b+")
    assert architecture_diff(cfg.model, paper) == []
    # The only differences are where the frozen weights come from.
    assert {d.split(":")[0] for d in diff(cfg.model, paper)} == {
        "hiera_checkpoint",
        "u2net_checkpoint",
    }
    s, t = cfg.schedule, cfg.train
    assert (s.epochs, s.warmup_epochs, s.kind, s.step_every, s.early_stop_patience) == (
        300,
        10,
        "step",
        40,
        40,
    )
    assert t.batch_size == 4 and t.init_from is None
    assert (cfg.data.dataset, cfg.data.train_split, cfg.data.val_split) == (
        "dis5k",
        "DIS-TR",
        "DIS-VD",
    )
    assert (cfg.loss.bce_weight, cfg.loss.dice_weight, cfg.loss.iou_weight) == (1.0, 1.0, 10.0)


@pytest.mark.parametrize(
    "name,dataset", [("pmgsam_cod10k_ft.yaml", "cod10k"), ("pmgsam_nc4k_ft.yaml", "nc4k")]
)
def test_finetune_configs(name: str, dataset: str) -> None:
    dis = load_config(ExperimentConfig, CONFIGS / "pmgsam_dis5k.yaml")
    cfg = load_config(ExperimentConfig, CONFIGS / name)
    assert to_dict(cfg.model) == to_dict(dis.model)
    assert cfg.train.init_from == dis.output_dir
    assert cfg.optim.lr < dis.optim.lr
    s = cfg.schedule
    assert (s.kind, s.plateau_factor, s.plateau_patience, s.epochs, s.warmup_epochs) == (
        "plateau",
        0.5,
        5,
        90,
        10,
    )
    assert s.early_stop_patience == 20 and 0 < s.min_lr < cfg.optim.lr
    # Validation is carved out of the training split, 80/20.
    assert (
        cfg.data.dataset == dataset and cfg.data.val_split is None and cfg.data.val_fraction == 0.2
    )


def test_demo_config_is_tiny_on_cpu() -> None:
    cfg = load_config(ExperimentConfig, CONFIGS / "demo.yaml")
    tiny = model_config("pmgsam_tiny")
    assert {d.split(":")[0] for d in diff(cfg.model, tiny)} <= {"image_size"}
    assert cfg.train.device == "cpu" and cfg.data.root == "demo_data/DIS5K"


def test_unknown_keys_are_named(tmp_path: Path) -> None:
    bad = _raw("demo.yaml")
    bad["schedule"]["warmup_epoch"] = 3
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(ConfigError, match=r"schedule\.warmup_epoch'"):
        load_config(ExperimentConfig, path)
    with pytest.raises(ConfigError, match=r"model\.fusion_chanels"):
        load_config(ExperimentConfig, CONFIGS / "demo.yaml", ["model.fusion_chanels=[1]"])
    with pytest.raises(ConfigError, match=r"optim\.decoder\.lr_multiplier"):
        load_config(ExperimentConfig, CONFIGS / "demo.yaml", ["optim.decoder.lr_multiplier=2"])
    with pytest.raises(ConfigError, match="'trian'"):
        load_config(ExperimentConfig, CONFIGS / "demo.yaml", ["trian.seed=1"])


@pytest.mark.parametrize(
    "override,key",
    [
        ("schedule.kind=cosine", "schedule.kind"),
        ("train.amp=fp8", "train.amp"),
        ("train.batch_size=four", "train.batch_size"),
        ("train.batch_size=0", "train.batch_size"),
        ("optim.lr=-1", "optim.lr"),
        ("optim.betas=[0.9]", "optim.betas"),
        ("optim.premask.lr_mult=-0.5", "optim.premask.lr_mult"),
        ("schedule.step_gamma=1.5", "schedule.step_gamma"),
        ("train.device=tpu", "train.device"),
        ("loss.iou_weight=-1", "loss.iou_weight"),
        # Sizes are checked before the validator divides by them.
        ("model.patch_size=0", "model.patch_size"),
        ("model.patch_size=-16", "model.patch_size"),
        ("model.attention_downsample=0", "model.attention_downsample"),
        ("model.attention_downsample=128", "attention_downsample"),
        ("model.decoder_heads=0", "model.decoder_heads"),
        ("model.decoder_heads=-4", "model.decoder_heads"),
        ("model.decoder_mlp_dim=0", "model.decoder_mlp_dim"),
        ("model.residual_scale=-0.1", "model.residual_scale"),
        # NaN passes a `< 0` test and inf is "positive": every float must be finite.
        ("optim.lr=.nan", "optim.lr"),
        ("optim.lr=.inf", "optim.lr"),
        ("optim.weight_decay=nan", "optim.weight_decay"),
        ("loss.bce_weight=.nan", "loss.bce_weight"),
        ("train.grad_clip=.nan", "train.grad_clip"),
        ("schedule.min_lr=.inf", "schedule.min_lr"),
        ("model.residual_scale=.inf", "model.residual_scale"),
        ("optim.lr=1" + "0" * 400, "optim.lr"),
        # Past float32's range torch's AdamW step overflowed with a traceback; past 1 it diverges.
        ("optim.lr=1e300", "'optim.lr' must be at most 1"),
        ("optim.lr=1.5", "'optim.lr' must be at most 1"),
        ("model.image_size=8224", "'model.image_size' must be at most 8192"),
        (f"model.image_size={2**40}", "'model.image_size' must be at most 8192"),
        ("train.seed=99999999999999999999", "train.seed"),
        ("train.seed=-1", "train.seed"),
        ("data.split_seed=-1", "data.split_seed"),
        ("data.root=", "data.root"),
        ("data.num_workers=-1", "data.num_workers"),
        ("data.val_fraction=1.5", "data.val_fraction"),
        ("data.augment.crop_prob=2", "data.augment.crop_prob"),
        ("data.augment.hue=.nan", "data.augment.hue"),
        ("data.augment.hue=0.6", "'data.augment.hue' must be in [0, 0.5], got 0.6"),
        ("data.augment.crop_min_scale=0", "'data.augment.crop_min_scale' must be in (0, 1]"),
        ("data.augment.rotate_limit=200", "'data.augment.rotate_limit' must be in [0, 180]"),
        ("data.augment.brightness=1", "'data.augment.brightness' must be in [0, 1), got 1"),
        ("data.test_splits=[DIS-TE1:test]", "'DIS-TE1:test' must end in ':train' or ':val'"),
        ("model.patch_size=48", "model.image_size (128) must be a multiple of model.patch_size"),
        ("model.fusion_channels=[8,16]", "model.fusion_channels needs 6 positive values"),
        ("model.fpn_top_down_levels=[4]", "model.fpn_top_down_levels must be indices in 0..3"),
        ("train.val_batch_size=0", "train.val_batch_size"),
        ("model.fusion_channels=[1,", "override 'model.fusion_channels=[1,'"),
    ],
)
def test_bad_values_are_named(override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(key)):
        load_config(ExperimentConfig, CONFIGS / "demo.yaml", [override]).validate_training()


def test_upper_bounds_are_inclusive() -> None:
    cfg = load_config(
        ExperimentConfig, CONFIGS / "demo.yaml", ["optim.lr=1", "model.image_size=8192"]
    )
    cfg.validate_training()
    assert (cfg.optim.lr, cfg.model.image_size) == (1, 8192)


def test_seed_bounds_are_inclusive() -> None:
    cfg = load_config(ExperimentConfig, CONFIGS / "demo.yaml", [f"train.seed={2**63 - 1}"])
    cfg.validate_training()
    assert cfg.train.seed == 2**63 - 1
    with pytest.raises(ConfigError, match=r"train\.seed"):
        load_config(
            ExperimentConfig, CONFIGS / "demo.yaml", [f"train.seed={2**63}"]
        ).validate_training()


@pytest.mark.parametrize(
    "section,value,override",
    [("model", 5, "model.image_size=64"), ("data", [1, 2], "data.root=/x")],
)
def test_a_bad_section_in_the_file_is_blamed_on_the_file(
    tmp_path: Path, section: str, value: object, override: str
) -> None:
    bad = _raw("demo.yaml")
    bad[section] = value
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(ConfigError, match=rf"config file '.*bad\.yaml'.*'{section}' must be a"):
        load_config(ExperimentConfig, path, [override])
    # The same collision caused by an earlier override is still that override's fault.
    with pytest.raises(ConfigError, match=rf"override '{override}': '{section}' is not a section"):
        load_config(ExperimentConfig, CONFIGS / "demo.yaml", [f"{section}=5", override])


def test_experiment_config_for_cli(tmp_path: Path) -> None:
    cfg = experiment_config(CONFIGS / "demo.yaml", ["optim.lr=0.01"], output_dir=tmp_path / "x")
    assert cfg.optim.lr == 0.01 and cfg.output_dir == str(tmp_path / "x")
    with pytest.raises(ConfigError, match="--config"):
        experiment_config(None)
    # Resuming reuses the run's own config.yaml and pins the output folder to the run.
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg)))
    again = experiment_config(None, resume=run)
    assert again.optim.lr == 0.01 and again.output_dir == str(run)
    with pytest.raises(ConfigError, match="differs from the resumed run folder"):
        experiment_config(None, output_dir=tmp_path / "elsewhere", resume=run)


@pytest.mark.parametrize(
    "train, val",
    [
        ("DIS-TR", "DIS-TR"),
        ("DIS-TR", "DIS-TR:val"),
        ("DIS-TR:train", "DIS-TR"),
        ("DIS-TR:val", "DIS-TR:val"),
    ],  # fmt: skip
)
def test_validation_split_sharing_training_images_is_refused(train: str, val: str) -> None:
    # The 'best' checkpoint would be picked by a loss measured on training images.
    overrides = [f"data.train_split={train}", f"data.val_split={val}"]
    with pytest.raises(ConfigError, match=r"'data\.train_split' .* share images"):
        load_config(ExperimentConfig, CONFIGS / "demo.yaml", overrides)


@pytest.mark.parametrize(
    "dataset, train, val, shared",
    [
        ("dis5k", "DIS-TR:train", "DIS-TR:val", False),
        ("dis5k", "DIS-TR", "DIS-VD", False),
        ("nc4k", "train", "test", False),
        ("nc4k", "train", "all", True),
        ("nc4k", "all:train", "test", True),
        ("cod10k", "Train", "Test", False),
    ],  # fmt: skip
)
def test_splits_overlap(dataset: str, train: str, val: str, shared: bool) -> None:
    # NC4K's train and test are drawn from all: each shares images with all and its parts.
    assert splits_overlap(train, val, dataset) is shared
