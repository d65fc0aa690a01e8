"""``python -m pmgsam``: the package's commands, one line each (each has its own ``--help``).

The commands live in their modules (``python -m pmgsam.report``, ...); this only lists them, so
that a user with an installed package can find them without the README.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from typing import List, Optional

from pmgsam import __version__
from pmgsam.utils.cli import CommandParser, HelpFormatter

#: (module run with ``python -m``, what it does), in the order of the pipeline.
COMMANDS = (
    ("pmgsam.data.synthetic", "generate a small dataset in the DIS5K / COD10K / NC4K layouts"),
    ("pmgsam.train", "train or fine-tune PMG-SAM, or --resume a run (torchrun: DDP)"),
    ("pmgsam.engine.inference", "predict a split, a folder of images or one image into PNGs"),
    ("pmgsam.evaluate", "score maps; predict and score a checkpoint or SAM baseline"),
    ("pmgsam.efficiency", "parameters, FLOPs, speed and memory (inference or --train)"),
    ("pmgsam.evaluation.export_cos_gt", "write one COS split's COCO instance ground truth"),
    ("pmgsam.baselines.finetune_sam", "fine-tune SAM's mask decoder for automatic mode"),
    ("pmgsam.ablate", "train and score an ablation grid, then its table and plots"),
    ("pmgsam.analysis", "Pre-Mask quality, overlapping instances and figures of runs"),
    ("pmgsam.report", "merge scored runs into the paper's tables"),
)

#: Said after the list: the source folder's scripts and files the installed package lacks.
SOURCE_FOLDER = (
    "In the source folder, python train.py and python evaluate.py are pmgsam.train and "
    "pmgsam.evaluate. The experiment configs (configs/) come with the source folder and its "
    "source archive only (README, 'Installing with pip, outside the source folder')."
)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m pmgsam``, a :class:`~pmgsam.utils.cli_types.CommandParser` as every
    command's: ``--help`` alone, any other argument a usage error."""
    return CommandParser(
        prog="python -m pmgsam",
        description="List the package's commands (no options).",
        formatter_class=HelpFormatter,
    )


def main(argv: Optional[List[str]] = None) -> int:
    build_parser().parse_args(argv)
    width = max(len(module) for module, _ in COMMANDS)
    lines = [f"pmgsam {__version__}: run each with python -m MODULE --help", ""]
    lines += [f"  {module:<{width}}  {what}" for module, what in COMMANDS]
    lines += ["", textwrap.fill(SOURCE_FOLDER, 96)]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
