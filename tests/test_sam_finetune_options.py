"""The SAM fine-tuning's command-line options reach the config: each overrides its key, and
the path options (``--cache-dir``, ``--data-root``) as typed: they were handed over as YAML
overrides, so ``cache #1`` became the folder ``cache`` (a comment), and ``null`` or ``a: b``
were refused as no folder or a mapping."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from pmgsam.baselines.finetune_data import check_outputs
from pmgsam.baselines.finetune_options import build_parser, load_settings
from pmgsam.utils.config import ConfigError, apply_overrides
from pmgsam.utils.outputs import OutputError


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "ft.yaml"
    config.write_text(yaml.safe_dump({"data": {"dataset": "dis5k"}}))
    return config


def test_each_option_overrides_its_finetune_key(tmp_path: Path) -> None:
    # Every value differs from the FinetuneConfig default, so a dropped option shows.
    options = {"epochs": "3", "lr": "0.002", "batch-size": "5", "points": "6",
               "embedding-cache": "disk", "cache-dir": "c", "encoder-dtype": "bf16",
               "targets": "instance"}  # fmt: skip
    argv = ["--model-type", "vit_b", "--checkpoint", "x.pth", "--config", str(_config(tmp_path))]
    argv += ["--output", "o.pth", *[a for k, v in options.items() for a in (f"--{k}", v)]]
    cfg, _ = load_settings(build_parser("finetune", "").parse_args(argv))
    ft = cfg.finetune
    assert (ft.epochs, ft.lr, ft.batch_size, ft.points) == (3, 0.002, 5, 6)
    assert (ft.embedding_cache, ft.cache_dir, ft.encoder_dtype, ft.targets) == (
        "disk", "c", "bf16", "instance",
    )  # fmt: skip


@pytest.mark.parametrize("folder", ["cache #1", "null", "a: b", "2024", 'it\'s "q" \\ é'])
def test_a_path_option_is_the_folder_typed(tmp_path: Path, folder: str) -> None:
    config = _config(tmp_path)
    argv = ["--model-type", "vit_b", "--checkpoint", "x.pth", "--config", str(config)]
    argv += ["--output", "o.pth", "--embedding-cache", "disk", "--cache-dir", folder]
    args = build_parser("finetune", "").parse_args([*argv, "--data-root", folder])
    cfg, overrides = load_settings(args)
    assert (cfg.finetune.cache_dir, cfg.data.root) == (folder, folder)
    # The recorded overrides read back to the same values.
    again = apply_overrides({}, overrides)
    assert (again["finetune"]["cache_dir"], again["data"]["root"]) == (folder, folder)


def test_an_output_hard_linked_to_the_checkpoint_is_refused(tmp_path: Path) -> None:
    # Another name (resolve() differs), the same file: --overwrite must not reach it.
    source = tmp_path / "sam.pth"
    source.write_bytes(b"weights")
    output = tmp_path / "out" / "ft.pth"
    output.parent.mkdir()
    os.link(source, output)
    with pytest.raises(OutputError, match=r"would replace the input --checkpoint '.*sam\.pth'"):
        check_outputs(output, source, overwrite=True)
    check_outputs(tmp_path / "out" / "other.pth", source, overwrite=False)  # a new name is fine


@pytest.mark.parametrize(
    "cache", [[], ["--embedding-cache", "memory"], ["--embedding-cache", "none"]]
)
def test_cache_dir_without_a_disk_cache_is_refused(tmp_path: Path, cache) -> None:
    # The config's default cache is in memory: the folder would never be written or read.
    argv = ["--model-type", "vit_b", "--checkpoint", "x.pth", "--config", str(_config(tmp_path))]
    argv += ["--output", "o.pth", "--cache-dir", "cache", *cache]
    with pytest.raises(
        ConfigError, match=r"--cache-dir 'cache' would be ignored: .* is (memory|none)"
    ):
        load_settings(build_parser("finetune", "").parse_args(argv))


def test_cache_dir_with_a_disk_cache_set_in_the_config_is_taken(tmp_path: Path) -> None:
    config = tmp_path / "ft.yaml"
    finetune = {"embedding_cache": "disk", "cache_dir": "a"}
    config.write_text(yaml.safe_dump({"data": {"dataset": "dis5k"}, "finetune": finetune}))
    argv = ["--model-type", "vit_b", "--checkpoint", "x.pth", "--config", str(config)]
    argv += ["--output", "o.pth", "--cache-dir", "b"]
    cfg, _ = load_settings(build_parser("finetune", "").parse_args(argv))
    assert (cfg.finetune.embedding_cache, cfg.finetune.cache_dir) == ("disk", "b")


@pytest.mark.parametrize("mode", ["memory", "none"])
def test_a_config_cache_dir_without_a_disk_cache_is_refused_naming_the_field(tmp_path, mode):
    # As --cache-dir is: the folder would never be written or read.
    config = tmp_path / "ft.yaml"
    finetune = {"embedding_cache": mode, "cache_dir": "cache"}
    config.write_text(yaml.safe_dump({"data": {"dataset": "dis5k"}, "finetune": finetune}))
    argv = ["--model-type", "vit_b", "--checkpoint", "x.pth", "--config", str(config)]
    args = build_parser("finetune", "").parse_args([*argv, "--output", "o.pth"])
    with pytest.raises(
        ConfigError,
        match=rf"^finetune.cache_dir 'cache' would be ignored: .* finetune.embedding_cache is "
        rf"{mode}; .*\(.*ft\.yaml\)$",
    ):
        load_settings(args)
    # An --embedding-cache disk makes it the disk cache's folder; a null one is no folder.
    cfg, _ = load_settings(build_parser("finetune", "").parse_args(
        [*argv, "--output", "o.pth", "--embedding-cache", "disk"]
    ))  # fmt: skip
    assert (cfg.finetune.embedding_cache, cfg.finetune.cache_dir) == ("disk", "cache")
    args.overrides = ["finetune.cache_dir=null"]
    assert load_settings(args)[0].finetune.cache_dir is None
