"""The SAM fine-tuning's path options (``--cache-dir``, ``--data-root``) reach the config as
typed: they were handed over as YAML overrides, so ``cache #1`` became the folder ``cache``
(a comment), and ``null`` or ``a: b`` were refused as no folder or a mapping."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pmgsam.baselines.finetune_options import build_parser, load_settings
from pmgsam.utils.config import apply_overrides


@pytest.mark.parametrize("folder", ["cache #1", "null", "a: b", "2024", 'it\'s "q" \\ é'])
def test_a_path_option_is_the_folder_typed(tmp_path: Path, folder: str) -> None:
    config = tmp_path / "ft.yaml"
    config.write_text(yaml.safe_dump({"data": {"dataset": "dis5k"}}))
    argv = ["--model-type", "vit_b", "--checkpoint", "x.pth", "--config", str(config)]
    argv += ["--output", "o.pth", "--embedding-cache", "disk", "--cache-dir", folder]
    args = build_parser("finetune", "").parse_args([*argv, "--data-root", folder])
    cfg, overrides = load_settings(args)
    assert (cfg.finetune.cache_dir, cfg.data.root) == (folder, folder)
    # The recorded overrides read back to the same values.
    again = apply_overrides({}, overrides)
    assert (again["finetune"]["cache_dir"], again["data"]["root"]) == (folder, folder)
