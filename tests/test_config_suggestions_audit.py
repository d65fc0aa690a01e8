"""Audit of the close-key suggestions (:func:`pmgsam.utils.config_files.did_you_mean`) and of
which override a config error blames (:func:`pmgsam.utils.config._blame`)."""

from __future__ import annotations

import pytest

from pmgsam.engine.config import ExperimentConfig
from pmgsam.utils.config import ConfigError, load_config


def _message(*overrides: str) -> str:
    with pytest.raises(ConfigError) as err:
        load_config(ExperimentConfig, None, list(overrides))
    return str(err.value)


def test_every_mistyped_key_of_a_section_gets_its_own_suggestion() -> None:
    message = _message("optim.lrr=1e-4", "optim.weight_decy=0.1")
    assert "'optim.lrr': did you mean 'optim.lr'?" in message
    assert "'optim.weight_decy': did you mean 'optim.weight_decay'?" in message


@pytest.mark.parametrize("key", ["nesterov", "scheduler"])
def test_another_frameworks_key_is_not_matched_to_an_unrelated_field(key: str) -> None:
    # Half their letters are in 'decoder' (difflib ratio 0.4 and 0.5): naming it would send
    # the user to the decoder's learning rate settings.
    message = _message(f"optim.{key}=1")
    assert f"unknown config key(s) 'optim.{key}'" in message
    assert "did you mean" not in message


def test_an_override_that_makes_another_key_invalid_is_blamed() -> None:
    # The message names data.train_split, which no override sets: the override that changed
    # the dataset is the cause, and must still be named.
    message = _message("data.dataset=cod10k")
    assert "'data.train_split'" in message
    assert message.endswith("(override 'data.dataset=cod10k')")


def test_a_mistyped_section_in_a_dotted_override_blames_that_override_only() -> None:
    # The message names the section 'optimm', not the key 'optimm.lr' set inside it: every
    # override was blamed, the valid optim.lr=1e-4 among them.
    message = _message("optim.lr=1e-4", "optimm.lr=1e-4")
    assert "'optimm': did you mean 'optim'?" in message
    assert message.endswith("(override 'optimm.lr=1e-4')")
