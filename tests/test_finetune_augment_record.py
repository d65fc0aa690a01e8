"""The SAM fine-tune applies no augmentation: its config (and so its record's
``config_values``) says ``data.augment.enabled: false`` (it said true, the DataConfig default),
and a config or override that sets ``data.augment`` is warned about as unused."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import yaml

from pmgsam.baselines.finetune_options import build_parser, load_settings
from pmgsam.utils.config import to_dict

REPO = Path(__file__).resolve().parents[1]


def _parse(config: Path, *extra: str):
    argv = ["--model-type", "vit_b", "--checkpoint", "x.pth", "--config", str(config)]
    return build_parser("finetune", "").parse_args([*argv, "--output", "o.pth", *extra])


def test_the_shipped_config_records_no_augmentation() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the shipped configs set no data.augment
        cfg, _ = load_settings(_parse(REPO / "configs" / "sam_finetune" / "dis5k.yaml"))
    assert to_dict(cfg)["data"]["augment"]["enabled"] is False


def test_setting_augment_is_warned_about_as_unused(tmp_path: Path) -> None:
    config = tmp_path / "ft.yaml"
    config.write_text(yaml.safe_dump({"data": {"dataset": "dis5k", "augment": {"hflip_prob": 1}}}))
    with pytest.warns(UserWarning, match=r"data.augment \('.*ft.yaml'\) is not used"):
        cfg, _ = load_settings(_parse(config))
    assert cfg.data.augment.enabled is False
    plain = tmp_path / "plain.yaml"
    plain.write_text(yaml.safe_dump({"data": {"dataset": "dis5k"}}))
    with pytest.warns(UserWarning, match=r"data.augment \(data.augment.enabled=true\) is not"):
        load_settings(_parse(plain, "data.augment.enabled=true"))
