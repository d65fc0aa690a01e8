"""The command line of SAM fine-tuning (``python -m pmgsam.baselines.finetune_sam``): its
options, and the config they override."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path
from typing import List, Tuple

from pmgsam.baselines.finetune_data import SIDECAR_SUFFIX
from pmgsam.baselines.finetune_recipe import (
    CACHE_MODES,
    ENCODER_DTYPES,
    FinetuneConfig,
    SamFinetuneConfig,
)
from pmgsam.baselines.finetune_targets import TARGET_KINDS
from pmgsam.baselines.settings import MODEL_TYPES
from pmgsam.utils.cli import (
    DEVICE_NAMES,
    CommandParser,
    HelpFormatter,
    NonEmpty,
    device_name,
    positive_float,
    positive_int,
)
from pmgsam.utils.command_names import command_name
from pmgsam.utils.config import ConfigError, quoted_override, with_data_root

# The options that override a key of the config's finetune section (finetune.<key>).
OPTION_KEYS = (
    "epochs",
    "lr",
    "batch_size",
    "points",
    "embedding_cache",
    "cache_dir",
    "encoder_dtype",
    "targets",
)
# Options whose value is a path: given to the config as quoted text, not read as YAML (which
# reads `cache #1` as `cache`, `null` as no folder and `a: b` as a mapping).
PATH_OPTIONS = ("cache_dir",)


def _override(key: str, value: object, path: bool = False) -> str:
    """``key=value``; a path quoted (:func:`~pmgsam.utils.config.quoted_override`)."""
    return quoted_override(key, value) if path else f"{key}={value}"


def _cache_mode(config: str, overrides: List[str]) -> object:
    """``finetune.embedding_cache`` as the config file and ``overrides`` set it, unchecked
    (None where they cannot be read: loading the config says why)."""
    from pmgsam.utils.config import apply_overrides
    from pmgsam.utils.config_files import read_config_file

    try:
        with warnings.catch_warnings():  # the config's own load gives its warnings
            warnings.simplefilter("ignore")
            data = apply_overrides(read_config_file(Path(config)), overrides, source=config)
    except ConfigError:
        return None
    section = data.get("finetune")
    return (section if isinstance(section, dict) else {}).get(
        "embedding_cache", FinetuneConfig.embedding_cache
    )


def load_settings(args: argparse.Namespace) -> Tuple[SamFinetuneConfig, List[str]]:
    """The config with the command-line options as overrides (and those overrides).

    The recipe applies no augmentation (each image's embedding is computed once), so
    ``data.augment.enabled`` is set false, and the record's ``config_values`` say what was
    done; a config file or override that sets ``data.augment`` is warned about."""
    from pmgsam.utils.config import load_config
    from pmgsam.utils.config_files import read_config_file

    overrides = list(args.overrides)
    for option in OPTION_KEYS:
        if getattr(args, option) is not None:
            value = getattr(args, option)
            overrides.append(_override(f"finetune.{option}", value, option in PATH_OPTIONS))
    overrides = with_data_root(overrides, args.data_root)
    # Before the config's own check, which would refuse the folder as finetune.cache_dir where
    # the option given is the one to name.
    mode = _cache_mode(args.config, overrides)
    if args.cache_dir is not None and mode in CACHE_MODES and mode != "disk":
        source = "--embedding-cache" if args.embedding_cache else f"'{args.config}' (or override)"
        raise ConfigError(
            f"--cache-dir '{args.cache_dir}' would be ignored: it is the folder of the disk "
            f"cache, and the embedding cache is {mode} (finetune.embedding_cache from "
            f"{source}); add --embedding-cache disk, or leave --cache-dir out"
        )
    cfg = load_config(SamFinetuneConfig, args.config, overrides)
    in_file = (read_config_file(Path(args.config)).get("data") or {}).get("augment")
    named = [o for o in overrides if o.split("=", 1)[0].strip().startswith("data.augment")]
    if in_file is not None or named:
        where = ", ".join([*([f"'{args.config}'"] if in_file is not None else []), *named])
        warnings.warn(
            f"data.augment ({where}) is not used: SAM fine-tuning applies no augmentation "
            "(each image's embedding is computed once); its record says enabled: false",
            stacklevel=2,
        )
    cfg.data.augment.enabled = False
    return cfg, overrides


def build_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """The options of ``python -m pmgsam.baselines.finetune_sam`` (``description``: its --help
    text, the command module's docstring)."""
    p = CommandParser(prog=prog, description=description, formatter_class=HelpFormatter)
    p.add_argument("--model-type", required=True, choices=MODEL_TYPES["sam"], help="SAM ViT-B/L/H")
    p.add_argument(
        "--checkpoint",
        required=True,
        type=NonEmpty("a segment-anything checkpoint file"),
        help="segment-anything state dict of --model-type to start from (e.g. "
        "sam_vit_h_4b8939.pth); loaded strictly, never written",
    )
    p.add_argument(
        "--config",
        required=True,
        type=NonEmpty("a fine-tuning config file"),
        help="fine-tuning config YAML: data + finetune sections (configs/sam_finetune/*.yaml)",
    )
    p.add_argument(
        "--output",
        required=True,
        type=NonEmpty("a weights file to write"),
        help="fine-tuned state dict to write (full segment-anything keys); "
        f"<stem>{SIDECAR_SUFFIX} is written beside it",
    )
    p.add_argument(
        "--epochs",
        type=positive_int,
        help="overrides finetune.epochs (12 in configs/sam_finetune/)",
    )
    p.add_argument(
        "--lr",
        type=positive_float,
        help="AdamW lr; overrides finetune.lr (1e-4 in configs/sam_finetune/)",
    )
    p.add_argument(
        "--batch-size", type=positive_int, help="images per step; overrides finetune.batch_size"
    )
    p.add_argument(
        "--points",
        type=positive_int,
        help="single positive point prompts sampled per image; overrides finetune.points",
    )
    p.add_argument(
        "--embedding-cache",
        choices=CACHE_MODES,
        help="overrides finetune.embedding_cache: each image's embedding computed once and kept "
        "in CPU memory (memory, the default: 4 MiB per image at 1024 px, 13.6 GiB for DIS-TR + "
        "DIS-VD; refused when less is available) or in one file per image under --cache-dir "
        "(disk: reused by later runs with the same checkpoint, model type, side, encoder dtype "
        "and image; nothing there is deleted), or none (encoded every epoch); the losses are "
        "the same",
    )
    p.add_argument(
        "--cache-dir",
        type=NonEmpty("a cache folder"),
        help="folder of the disk cache; overrides finetune.cache_dir (refused unless the cache "
        "is disk: --embedding-cache disk or the config's finetune.embedding_cache)",
    )
    p.add_argument(
        "--encoder-dtype",
        choices=list(ENCODER_DTYPES),
        help="overrides finetune.encoder_dtype: fp32 (the default, SAM's numbers) or bf16 "
        "(bf16 autocast of the frozen image encoder; weights and decoder stay float32; refused "
        "on GPUs without bf16, allowed on the CPU with a warning)",
    )
    p.add_argument(
        "--targets",
        choices=TARGET_KINDS,
        help="overrides finetune.targets, what a point prompt learns to return: object (the "
        "image's binary GT), instance (the instance containing the point, as SAM is trained and "
        "COCO AP scores automatic mode; needs instance labels) or auto (the default: instance "
        "when the splits have instance labels, as COD10K and NC4K, else object, as DIS5K)",
    )
    p.add_argument(
        "--data-root",
        type=NonEmpty("a dataset folder"),
        help="dataset folder (overrides data.root)",
    )
    p.add_argument(
        "--model-image-size",
        type=positive_int,
        help="model input side, a multiple of 16 (default 1024, the released checkpoints')",
    )
    p.add_argument(
        "--limit",
        type=positive_int,
        help=f"only the first N images of each split (a quick look: {command_name('evaluate')} "
        "names the row of these weights 'fine-tuned on a subset (--limit N)')",
    )
    p.add_argument("--device", default="auto", type=device_name, help=DEVICE_NAMES)
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing --output and its sidecar (never the input --checkpoint)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("overrides", nargs="*", help="config overrides key=value, e.g. finetune.seed=1")
    return p
