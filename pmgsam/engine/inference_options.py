"""``python -m pmgsam.engine.inference``'s options (see :mod:`pmgsam.engine.inference`).

Torch-free: the command parses them before it imports torch, so that ``--help`` and usage
errors answer at once.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from pmgsam.data.listing import IMAGE_EXTENSIONS
from pmgsam.engine.performance_config import PerformanceConfig
from pmgsam.engine.unreadable import KEEP_GOING_HELP
from pmgsam.utils.cli import (
    DEVICE_NAMES,
    CommandParser,
    HelpFormatter,
    NonEmpty,
    device_name,
    non_negative_int,
    positive_int,
)
from pmgsam.utils.command_names import command_name


def build_parser() -> argparse.ArgumentParser:
    """Inference's options (tests check the README's commands against them)."""
    parser = CommandParser(
        prog="python -m pmgsam.engine.inference",
        description="Predict probability maps for a folder of images, or one image",
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--checkpoint",
        required=True,
        type=NonEmpty("a weights file or training run folder"),
        help="weights file or training run dir",
    )
    parser.add_argument(
        "--input",
        required=True,
        type=NonEmpty("a folder of images or an image file"),
        help="folder of images, or one image file",
    )
    parser.add_argument(
        "--out",
        required=True,
        type=NonEmpty("an output folder"),
        help="output folder for <stem>.png maps (a name ending in an image extension, such as "
        "mask.png, is refused unless that folder exists); not the input folder itself, but a "
        "subfolder of it may be (input subfolders are never read)",
    )
    parser.add_argument(
        "--batch-size", type=positive_int, default=4, help="images per forward pass"
    )
    parser.add_argument(
        "--num-workers",
        type=non_negative_int,
        help="image-loading processes (0: in this process); at most the CPUs this process may "
        "use (default: 2 on the CPU; on a GPU those CPUs less one and the map writer's quarter, "
        "2 to 16)",
    )
    parser.add_argument(
        "--threads",
        type=positive_int,
        help="torch threads running the model (default: on the CPU, the CPUs this process may "
        "use less the --num-workers processes, at least 1 and at most torch's own count; on "
        "CUDA torch's default)",
    )
    parser.add_argument(
        "--write-threads",
        type=non_negative_int,
        help="threads that encode and write the maps while the model predicts the next batch "
        "(0: written in between; default: none on the CPU, on a GPU the CPUs --num-workers "
        "leaves, 1 to 4)",
    )
    parser.add_argument("--device", default="auto", type=device_name, help=DEVICE_NAMES)
    parser.add_argument(
        "--amp",
        default="auto",
        choices=["auto", "bf16", "none"],
        help="bf16 autocast, or none (full precision); auto: bf16 on a CUDA GPU with native "
        "bf16 (compute capability 8.0+), none elsewhere",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="allow an --out folder holding files this tool did not write, or maps it wrote "
        "that were edited since (same-name ones are replaced; with --skip-existing too: a "
        "file of yours is never taken for a map)",
    )
    parser.add_argument(
        "--skip-existing",
        action="store_true",
        help="resume a stopped run: keep the maps this tool already wrote into --out (and "
        "--premask-out) with the same weights and settings from the same image files, and "
        "predict only the other images (never read); a folder holding maps of other weights "
        "or settings, or of a pmgsam that did not record them, is refused",
    )
    parser.add_argument("--keep-going", action="store_true", help=KEEP_GOING_HELP)
    parser.add_argument(
        "--premask-out",
        type=NonEmpty("an output folder"),
        help="also write the Pre-Mask maps to this folder (as --out, a folder)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "overrides",
        nargs="*",
        help="where the frozen weights now are, e.g. model.u2net_checkpoint=PATH (as "
        f"{command_name('train')} takes it; the model. prefix may be left out), and speed "
        "options, e.g. performance.cuda_graphs=true or performance.channels_last=true (the "
        "performance section of a training config; the maps differ by rounding only)",
    )
    return parser


def parse_arguments(
    parser: argparse.ArgumentParser, argv: Optional[Sequence[str]] = None
) -> argparse.Namespace:
    """``argv`` parsed, with a usage error for an --out (or --premask-out) named like an image
    file (``--out inf/mask.png``), which is not an existing folder: the maps would go into a new
    folder of that name, not into that file."""
    args = parser.parse_args(argv)
    for option, folder in (("--out", args.out), ("--premask-out", args.premask_out)):
        path = Path(folder) if folder else None
        if path and path.suffix.lower() in IMAGE_EXTENSIONS and not path.is_dir():
            parser.error(
                f"{option} '{folder}' looks like an image file, but {option} is a folder: each "
                f"image's map is written into it as <stem>.png; give a folder, e.g. "
                f"'{path.with_suffix('')}'"
            )
    return args


#: The config sections an inference override may name.
SECTIONS = ("model", "performance")


def split_overrides(
    parser: argparse.ArgumentParser, overrides: Sequence[str]
) -> Tuple[List[str], PerformanceConfig]:
    """The model fields (``model.`` dropped) and the speed options of ``overrides``: the
    package defaults with each ``performance.<field>=value`` in place (unknown fields and
    values of the wrong type refused naming the key). Any other section is a usage error."""
    from pmgsam.utils.config import apply_overrides, from_dict

    keys = [o.split("=", 1)[0] for o in overrides]
    others = [o for o, k in zip(overrides, keys) if "." in k and k.split(".")[0] not in SECTIONS]
    if others:
        parser.error(
            f"{', '.join(others)}: inference takes model.* overrides (where the frozen weights "
            "now are) and performance.* ones (speed options) only; the images come from "
            "--input, the rest from the checkpoint"
        )
    speed = [o[len("performance.") :] for o in overrides if o.startswith("performance.")]
    fields = [o for o in overrides if not o.startswith("performance.")]
    fields = [o[len("model.") :] if o.startswith("model.") else o for o in fields]
    perf = from_dict(PerformanceConfig, apply_overrides({}, speed), prefix="performance")
    perf.validate()
    return fields, perf
