"""A variant's saved config.yaml that cannot be read (damaged, not a mapping, empty) is named
in a ConfigError when an ablation grid checks the variant against its config: not a YAML
parser's traceback, nor an empty file taken for one trained with every default."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pmgsam.ablation.checks import check_finished_config
from pmgsam.engine.config import ExperimentConfig
from pmgsam.utils.config import ConfigError, to_dict


def _variant(tmp_path: Path) -> Path:
    values = to_dict(ExperimentConfig())
    del values["output_dir"]
    path = tmp_path / "full.yaml"
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "text, says",
    [
        ("model: [unclosed\n", "is not valid YAML"),
        ("- model\n- data\n", "must contain a mapping"),
        ("", "holds no settings"),
        ("# emptied\n", "holds no settings"),
    ],
)
def test_a_damaged_saved_config_is_named(tmp_path, text, says) -> None:
    run = tmp_path / "train"
    run.mkdir()
    (run / "config.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=says) as err:
        check_finished_config(_variant(tmp_path), run, [])
    assert str(run / "config.yaml") in str(err.value)
