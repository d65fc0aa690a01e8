"""An unknown config key, in a dict, a YAML file or an override, is refused with the close
field name suggested (``optim.lrr`` -> ``optim.lr``), as build_model's keywords are."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest

import pmgsam
from pmgsam.ablate import GridSpec
from pmgsam.baselines.finetune_recipe import SamFinetuneConfig
from pmgsam.engine import config as engine_config
from pmgsam.engine.config import ExperimentConfig
from pmgsam.modeling.config import ModelConfig
from pmgsam.utils.config import ConfigError, from_dict, load_config


def test_a_dict_for_build_model_names_the_close_field() -> None:
    with pytest.raises(ConfigError, match="did you mean 'model.image_size'"):
        pmgsam.build_model({"image_sise": 256})


def test_a_file_typo_names_the_close_key_and_the_file(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text("optim:\n  lrr: 1.0e-4\n")
    with pytest.raises(ConfigError) as err:
        load_config(ExperimentConfig, path)
    assert "'optim.lrr': did you mean 'optim.lr'?" in str(err.value)
    assert str(path) in str(err.value)


def test_an_override_typo_blames_that_override_not_the_key_suggested() -> None:
    # The suggestion names optim.lr: the override that sets it is not the one at fault.
    with pytest.raises(ConfigError) as err:
        load_config(ExperimentConfig, None, ["optim.lr=2e-4", "optim.lrr=1e-4"])
    message = str(err.value)
    assert "did you mean 'optim.lr'?" in message
    assert message.endswith("(override 'optim.lrr=1e-4')")


def test_a_section_typo_and_a_key_far_from_any() -> None:
    with pytest.raises(ConfigError, match="'optimm': did you mean 'optim'"):
        load_config(ExperimentConfig, None, ["optimm.lr=1e-4"])
    with pytest.raises(ConfigError) as err:
        load_config(ExperimentConfig, None, ["optim.zzzz=1"])
    assert "did you mean" not in str(err.value)
    with pytest.raises(ConfigError) as err:  # YAML's `2:` is a number: no text to match
        from_dict(ModelConfig, {2: 1})
    assert "did you mean" not in str(err.value)


# Every dataclass read from a config file or overrides (ablate's grid file included).
CONFIG_CLASSES = sorted(
    {
        cls
        for _, cls in inspect.getmembers(engine_config, inspect.isclass)
        if dataclasses.is_dataclass(cls) and cls.__module__.startswith("pmgsam")
    }
    | {ModelConfig, SamFinetuneConfig, GridSpec},
    key=lambda cls: cls.__name__,
)


@pytest.mark.parametrize("cls", CONFIG_CLASSES, ids=lambda cls: cls.__name__)
def test_every_config_dataclass_suggests(cls: type) -> None:
    field = max((f.name for f in dataclasses.fields(cls) if f.init), key=len)
    typo = field[:-1] + "_" + field[-1]  # one character added
    with pytest.raises(ConfigError, match=f"'{typo}': did you mean '{field}'"):
        from_dict(cls, {typo: None})
