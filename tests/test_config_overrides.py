"""Experiment configs from defaults, ``base:`` files and ``key=value`` overrides: type coercion
that must not guess, bounds the loop depends on, the documented defaults, and which keys a
resumed run may change. Expected values are written out from the docstrings and the paper."""

from __future__ import annotations

import pytest

from pmgsam.engine.config import ExperimentConfig
from pmgsam.engine.resume_checks import resume_differences
from pmgsam.utils.config import ConfigError, apply_overrides, load_config, to_dict


def load(*overrides: str) -> ExperimentConfig:
    """The config with ``overrides``, as a run that trains checks it."""
    cfg = load_config(ExperimentConfig, None, list(overrides))
    cfg.validate_training()
    return cfg


@pytest.mark.parametrize(
    "override, message",
    [
        # YAML booleans are ints and floats to Python; a config must not read them as 1.
        ("train.batch_size=true", "'train.batch_size' must be an integer"),
        ("optim.lr=true", "'optim.lr' must be a number"),
        # null only where a field is optional.
        ("train.batch_size=null", "'train.batch_size' must be an integer, got None"),
        ("output_dir=null", "'output_dir' must be a string, got None"),
        ("optim=5", "'optim' must be a mapping"),
        ("output_dir=", "'output_dir' is empty: give the run folder"),
        # Each of these would pass the loop a value it cannot run with.
        ("loss.bce_weight=0", "at least one weight must be > 0"),
        ("optim.betas=[0.9, 1.0]", "optim.betas"),
        ("optim.eps=0", "'optim.eps' must be .*> 0"),
        ("optim.decoder.weight_decay=-0.1", "'optim.decoder.weight_decay' must be .*>= 0"),
        ("schedule.step_gamma=0", "'schedule.step_gamma' must be in"),
        ("schedule.plateau_factor=0", "'schedule.plateau_factor' must be in"),
        ("schedule.plateau_threshold=1", "'schedule.plateau_threshold' .* must be below 1"),
        ("schedule.epochs=0", "'schedule.epochs' must be > 0"),
        ("train.val_every=0", "'train.val_every' must be > 0"),
        ("performance.compile_mode=fast", "'performance.compile_mode' must be one of"),
    ],
)
def test_override_is_refused(override: str, message: str) -> None:
    extra = ["loss.dice_weight=0", "loss.iou_weight=0"] if override.startswith("loss.") else []
    with pytest.raises(ConfigError, match=message):
        load(override, *extra)


def test_documented_limits_and_off_values_are_accepted() -> None:
    cfg = load(
        "schedule.step_gamma=1",  # (0, 1]: a constant learning rate
        "train.grad_clip=0",  # None/0 disables
        "schedule.early_stop_patience=0",  # None or 0 disables
        "train.device=cuda:1",
        "train.init_from=null",
        "output_dir=runs/lr=1e-4",  # only the first '=' separates key and value
    )
    assert cfg.schedule.step_gamma == 1.0 and cfg.train.grad_clip == 0.0
    assert cfg.schedule.early_stop_patience == 0 and cfg.train.device == "cuda:1"
    assert cfg.train.init_from is None and cfg.output_dir == "runs/lr=1e-4"


def test_defaults_are_the_documented_ones() -> None:
    cfg = ExperimentConfig()
    loss = cfg.loss
    assert (loss.bce_weight, loss.dice_weight, loss.iou_weight, loss.aux_premask_weight) == (
        1.0,
        1.0,
        10.0,
        0.0,
    )  # paper: BCE + Dice + 10 IoU on the final mask only
    assert (cfg.optim.lr, cfg.optim.weight_decay, cfg.optim.betas) == (1e-4, 0.01, [0.9, 0.999])
    assert (cfg.schedule.kind, cfg.schedule.step_gamma) == ("step", 0.5)
    assert (cfg.train.batch_size, cfg.train.amp) == (4, "none")
    # Resumed runs draw the same augmentations with it (tests/test_train.py), at no start-up cost.
    assert cfg.performance.persistent_workers is True


def test_validate_training_checks_every_section_of_a_config_built_in_code() -> None:
    for section, key, value in [
        ("train", "batch_size", 0),
        ("performance", "compile_mode", "fast"),
        ("schedule", "epochs", 0),
    ]:
        cfg = ExperimentConfig()
        setattr(getattr(cfg, section), key, value)
        with pytest.raises(ConfigError, match=f"{section}.{key}"):
            cfg.validate_training()
        if section != "performance":  # prediction reads no training-loop values
            cfg.validate()


def test_base_file_values_survive_a_child_that_changes_a_sibling(tmp_path) -> None:
    (tmp_path / "base.yaml").write_text("optim: {lr: 0.002, weight_decay: 0.3}\n")
    (tmp_path / "child.yaml").write_text("base: base.yaml\noptim: {lr: 0.005}\n")
    cfg = load_config(ExperimentConfig, tmp_path / "child.yaml")
    assert (cfg.optim.lr, cfg.optim.weight_decay) == (0.005, 0.3)


def test_overrides_leave_the_callers_dict_alone() -> None:
    data = {"optim": {"lr": 0.1}}
    assert apply_overrides(data, ["optim.lr=0.2"]) == {"optim": {"lr": 0.2}}
    assert data == {"optim": {"lr": 0.1}}


RESUMABLE = [
    "output_dir=elsewhere",
    "data.num_workers=7",
    "data.check_files=true",
    "train.num_threads=3",
    "train.log_every=9",
    "train.preview_every=0",
    "train.preview_images=1",
    "performance.compile=true",
    "performance.channels_last=true",
    "performance.persistent_workers=true",
]
NOT_RESUMABLE = [
    "train.seed=1",
    "train.batch_size=2",
    "optim.lr=0.001",
    "schedule.epochs=200",  # the default warms up for 10
    "data.augment.hue=0.1",
    "loss.iou_weight=1",
]


def test_only_keys_that_change_no_number_may_change_on_resume() -> None:
    saved = to_dict(ExperimentConfig())
    for override in RESUMABLE:
        assert resume_differences(saved, load(override)) == [], override
    for override in NOT_RESUMABLE:
        key = override.split("=")[0]
        assert [d.split(":")[0] for d in resume_differences(saved, load(override))] == [key]
    del saved["performance"]  # a run saved before the section existed
    assert resume_differences(saved, load()) == []


def test_an_unknown_key_blames_its_own_override_only() -> None:
    # The message lists the known sections, 'output_dir' among them: --output-dir's override
    # was named as a culprit too.
    with pytest.raises(ConfigError) as err:
        load("lr=0.1", "output_dir=/tmp/run")
    assert str(err.value).endswith("(override 'lr=0.1')")


@pytest.mark.parametrize(
    "overrides, culprit",
    [
        # The innocent override's key is a prefix of the bad one's: it was named as well.
        (
            ["performance.compile=true", "performance.compile_mode=fast"],
            "performance.compile_mode=fast",
        ),
        (["model.fusion=residual", "model.fusion_channels=-1"], "model.fusion_channels=-1"),
        # An override of a whole section is the culprit for a key inside it.
        (["optim.lr=0.01", "model={fusion_channels: 3}"], "model={fusion_channels: 3}"),
    ],
)
def test_a_bad_override_is_blamed_without_those_whose_key_its_own_contains(
    tmp_path, overrides, culprit
) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("model:\n  fusion: drfm\nperformance:\n  compile: false\n")
    with pytest.raises(ConfigError) as err:
        load_config(ExperimentConfig, path, overrides)
    assert str(err.value).endswith(f"(override {culprit!r})")
