"""``python -m pmgsam.baselines.finetune_sam`` refuses an out-of-range count, rate or side when
it parses its options, naming the option (not later, as a config field the user did not type,
or as a division by zero in the schedule); and --cache-dir without a disk cache says where the
cache mode it would be ignored under came from."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pmgsam.baselines.finetune_options import build_parser, load_settings
from pmgsam.utils.config import ConfigError

REQUIRED = ["--model-type", "vit_b", "--checkpoint", "x.pth", "--config", "c.yaml"]
REQUIRED += ["--output", "o.pth"]


@pytest.mark.parametrize(
    "option, value",
    [("--epochs", "0"), ("--lr", "0"), ("--lr", "nan"), ("--lr", "-1e-4"), ("--batch-size", "0"),
     ("--points", "0"), ("--model-image-size", "0"), ("--limit", "0"), ("--limit", "-3")],
)  # fmt: skip
def test_an_out_of_range_option_is_refused_naming_it(capsys, option: str, value: str) -> None:
    with pytest.raises(SystemExit) as stop:
        build_parser("finetune", "").parse_args([*REQUIRED, option, value])
    assert stop.value.code == 2
    assert f"argument {option}: " in capsys.readouterr().err


def _config(tmp_path: Path, finetune: dict) -> Path:
    config = tmp_path / "ft.yaml"
    config.write_text(yaml.safe_dump({"data": {"dataset": "dis5k"}, "finetune": finetune}))
    return config


def test_cache_dir_refusal_names_where_the_cache_mode_came_from(tmp_path: Path) -> None:
    config = _config(tmp_path, {"embedding_cache": "none"})
    argv = [*REQUIRED[:5], str(config), *REQUIRED[6:], "--cache-dir", "c"]
    with pytest.raises(ConfigError, match=rf"is none \(finetune.embedding_cache from '{config}'"):
        load_settings(build_parser("finetune", "").parse_args(argv))
    typed = [*argv, "--embedding-cache", "memory"]
    with pytest.raises(ConfigError, match=r"is memory \(finetune.embedding_cache from --embedding"):
        load_settings(build_parser("finetune", "").parse_args(typed))


def test_an_unknown_cache_mode_is_the_configs_error_not_an_ignored_cache_dir(tmp_path) -> None:
    # The mode is misspelt: what is wrong is the mode, which the config check names.
    config = _config(tmp_path, {"embedding_cache": "dsk"})
    argv = [*REQUIRED[:5], str(config), *REQUIRED[6:], "--cache-dir", "c"]
    with pytest.raises(ConfigError) as err:
        load_settings(build_parser("finetune", "").parse_args(argv))
    assert "embedding_cache" in str(err.value) and "would be ignored" not in str(err.value)


def test_a_finetune_section_that_is_not_a_mapping_is_the_configs_error(tmp_path: Path) -> None:
    config = tmp_path / "ft.yaml"
    config.write_text(yaml.safe_dump({"data": {"dataset": "dis5k"}, "finetune": ["disk"]}))
    argv = [*REQUIRED[:5], str(config), *REQUIRED[6:]]
    for extra in (["--cache-dir", "c"], []):  # without: no override reaches into the section
        with pytest.raises(ConfigError, match="'finetune' must be a mapping"):
            load_settings(build_parser("finetune", "").parse_args([*argv, *extra]))
