"""The paper's analyses from run folders: ``python -m pmgsam.analysis {premask,overlap,figures}``.

    premask  Pre-Mask vs final mask quality, priors, error correction (Table 5, Fig. 10)
    overlap  overlapping-instance subsets of a COCO instance file and AP on them
    figures  qualitative grids and a failure sheet of several runs

Run folders are those of ``evaluate.py --output-dir`` (layout in :mod:`pmgsam.analysis.inputs`).
Each subcommand's ``--help`` lists its options.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Optional, Sequence

from pmgsam.utils.cli import (
    DEVICE_NAMES,
    CommandParser,
    HelpFormatter,
    NonEmpty,
    device_name,
    non_negative_int,
    positive_float,
    positive_int,
    probability,
)
from pmgsam.utils.command_names import command_name
from pmgsam.utils.config import with_data_root


def _add_config_options(p: argparse.ArgumentParser) -> None:
    """The options that say which dataset split to read: the experiment config and overrides."""
    p.add_argument(
        "--config", required=True, type=CONFIG, help="experiment config (dataset and its root)"
    )
    p.add_argument(
        "--split",
        required=True,
        type=NonEmpty("a split, e.g. DIS-TE1"),
        help="split, e.g. DIS-TE1, or DIS-TE (DIS-TE1-4 as one set, so named in the outputs)",
    )
    p.add_argument("--data-root", type=DATA_ROOT, help="dataset folder (overrides data.root)")
    p.add_argument("overrides", nargs="*", help="config overrides key=value")


def premask(args: argparse.Namespace) -> None:
    """``premask``: see :func:`pmgsam.analysis.premask_command.premask_report`."""
    from .premask_command import premask_report

    premask_report(args)


def overlap(args: argparse.Namespace) -> None:
    """``overlap``: see :func:`pmgsam.analysis.overlap.overlap_report`."""
    from .overlap import overlap_report

    overlap_report(args)


def figures(args: argparse.Namespace) -> None:
    """``figures``: see :func:`pmgsam.analysis.figures.figures_report`."""
    from .figures import figures_report

    figures_report(args, with_data_root(args.overrides, args.data_root))


PROG = "python -m pmgsam.analysis"
CONFIG = NonEmpty("an experiment config file")
DATA_ROOT = NonEmpty("a dataset folder")
OUT = NonEmpty("an output folder")
RUN = NonEmpty("a run folder")
OVERWRITE_HELP = "replace files of the output names in --out that pmgsam did not write"
QUIET_HELP = "no progress bars"  # as evaluate.py's and pmgsam.ablate's --quiet


def error_prog(argv: Sequence[str]) -> str:
    """The program an error line names: with its subcommand, as argparse's own errors of a
    subcommand do (``python -m pmgsam.analysis overlap: error: ...``). Only a parsed command
    line reaches that line, so its first word is the subcommand (no other option precedes it)."""
    return f"{PROG} {argv[0]}" if argv and not argv[0].startswith("-") else PROG


def _add_premask_parser(sub: Any) -> None:
    p = sub.add_parser(
        "premask",
        formatter_class=HelpFormatter,
        help="Pre-Mask quality and error correction (Table 5, Fig. 10)",
        description="Pre-Mask vs final mask quality, priors and error correction of a run "
        "(Table 5, Fig. 10).",
    )
    p.add_argument(
        "--run", required=True, type=RUN, help="run folder (pred/ and premask/ maps go here)"
    )
    p.add_argument(
        "--checkpoint",
        type=NonEmpty("a weights file or training run folder"),
        help="weights to predict missing maps (default: run.json's; a scored run takes only "
        "those); maps there must be theirs",
    )
    p.add_argument("--predict", action="store_true", help="predict even if the maps exist")
    p.add_argument(
        "--prior-dir",
        action="append",
        type=NonEmpty("a folder of prior maps ([NAME=]DIR)"),
        help="[NAME=]DIR: folder of prior maps, a Table 5 row",
    )
    p.add_argument(
        "--clipseg",
        type=NonEmpty("a CLIPSeg model folder"),
        help="local CLIPSeg model folder (needs transformers)",
    )
    p.add_argument(
        "--prompt",
        default="the main object",
        type=NonEmpty("a text prompt, e.g. 'the main object'"),
        help="CLIPSeg text prompt (needs --clipseg)",
    )
    p.add_argument(
        "--pre-threshold", type=probability, default=0.5, help="poor Pre-Mask: IoU below"
    )
    p.add_argument("--final-threshold", type=probability, default=0.8, help="good final: IoU above")
    p.add_argument(
        "--out",
        type=OUT,
        help="output folder (default RUN/analysis/premask_<split>, DIS-TE: DIS-TE1-4)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help=f"{OVERWRITE_HELP}, and in the run's map folders (pred/, premask/) files it did "
        "not write or maps edited since",
    )
    p.add_argument("--device", default="auto", type=device_name, help=DEVICE_NAMES)
    p.add_argument(
        "--batch-size", type=positive_int, default=1, help="images per forward pass (missing maps)"
    )
    p.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    _add_config_options(p)
    p.set_defaults(func=premask)


def _add_overlap_parser(sub: Any) -> None:
    p = sub.add_parser(
        "overlap",
        formatter_class=HelpFormatter,
        help="overlapping-instance subsets and their AP",
        description="Overlapping-instance subsets of a COCO instance file and AP on them.",
    )
    p.add_argument(
        "--gt-json",
        type=NonEmpty("a COCO instance file"),
        help="COCO instance file (default: the split's instances)",
    )
    p.add_argument(
        "--config", type=CONFIG, help="experiment config (with --split, instead of --gt-json)"
    )
    p.add_argument(
        "--split",
        type=NonEmpty("a split, e.g. Test"),
        help="split of the config's dataset, e.g. Test",
    )
    p.add_argument("--data-root", type=DATA_ROOT, help="dataset folder (overrides data.root)")
    p.add_argument(
        "--rule",
        choices=["touch", "box", "either"],
        default="either",
        help="an image is in the subset when two of its GT instances touch, their boxes "
        "overlap, or either",
    )
    p.add_argument(
        "--touch-distance", type=non_negative_int, default=1, help="pixels counted as touching"
    )
    p.add_argument(
        "--name",
        required=True,
        type=NonEmpty("a dataset name, e.g. COD10K"),
        help="dataset name in the COS table, e.g. COD10K",
    )
    p.add_argument("--out", required=True, type=OUT, help="folder for the image list and subset GT")
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    p.add_argument(
        "--pred-dir",
        type=NonEmpty("a folder of probability maps"),
        help="probability maps: also score AP on full set and subset",
    )
    p.add_argument(
        "--run",
        type=RUN,
        help="run folder whose run.json receives both AP entries (maps: --pred-dir, else "
        "RUN/pred/<split>)",
    )
    # Unset by default: with --run, the subset is scored as the run's full-set AP was.
    p.add_argument(
        "--protocol",
        choices=["all", "matched"],
        help="COS protocol (default: the one --run's full-set AP was scored with, else all)",
    )
    p.add_argument(
        "--threshold",
        type=probability,
        help="instance threshold (default: --run's full-set AP's, else 0.5)",
    )
    p.add_argument(
        "--min-area",
        type=non_negative_int,
        help="smallest instance in pixels (default: --run's full-set AP's, else 0)",
    )
    p.add_argument(
        "--resize-pred",
        action="store_true",
        default=None,  # not given: as --run's full-set AP was scored (its run.json), else off
        help=f"resize maps to their image's size (as {command_name('evaluate')} --resize-pred "
        "does); not given, maps are taken as --run's full-set AP was scored, else ones of "
        "another size are refused; maps turned by 90° are refused always",
    )
    p.add_argument("overrides", nargs="*", help="config overrides key=value")
    p.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    p.set_defaults(func=overlap)


def _add_figures_parser(sub: Any) -> None:
    p = sub.add_parser(
        "figures",
        formatter_class=HelpFormatter,
        help="qualitative grids and failure sheet",
        description="Qualitative grids and a failure sheet of several runs.",
    )
    p.add_argument(
        "--runs", nargs="+", required=True, type=RUN, help="run folders, one column each"
    )
    p.add_argument(
        "--labels",
        nargs="+",
        type=NonEmpty("a column header, e.g. 'SAM ViT-B'"),
        help="column headers of --runs, one per run in their order (default: each run's "
        "method name, which for a baseline lists its settings)",
    )
    p.add_argument(
        "--images",
        type=NonEmpty("comma-separated image names"),
        help="comma-separated image names for the grid (stems, or the image or GT file names; "
        "<part>/<stem> in DIS-TE, where a stem may be in two parts)",
    )
    p.add_argument(
        "--worst", type=non_negative_int, default=0, help="failure sheet of the K worst images"
    )
    p.add_argument(
        "--by",
        choices=["hce", "iou"],
        default="iou",
        help="rank the --worst images by (first run; needs --worst)",
    )
    p.add_argument(
        "--num",
        type=positive_int,
        default=4,
        help="grid images spread over the split (refused with --images, which names them)",
    )
    p.add_argument(
        "--width", type=positive_float, default=3.5, help="figure width in inches (column)"
    )
    p.add_argument("--dpi", type=positive_int, default=300, help="resolution of the PNG figures")
    p.add_argument(
        "--resize-pred",
        action="store_true",
        help=f"resize maps to their GT's size (as {command_name('evaluate')} --resize-pred does); "
        "without it a map of another size is refused, and one turned by 90° always",
    )
    p.add_argument("--out", required=True, type=OUT, help="output folder")
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    p.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    _add_config_options(p)
    p.set_defaults(func=figures)


def build_parser() -> argparse.ArgumentParser:
    """The ``premask``, ``overlap`` and ``figures`` subcommands, each calling its ``func``."""
    parser = CommandParser(
        prog=PROG,
        description=__doc__,
        formatter_class=HelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_premask_parser(sub)
    _add_overlap_parser(sub)
    _add_figures_parser(sub)
    return parser


# Per subcommand, the options that act only with another (or without it): (dest, what it
# needs, whether the call has it). Unset or at its default, an option passes (a script may
# spell out a default).
_SCORED = "--pred-dir or --run (maps to score)"  # or the run's instances
_NEEDS = {
    "premask": [("prompt", "--clipseg", lambda a: a.clipseg)],
    "figures": [
        ("by", "--worst K (K > 0)", lambda a: a.worst > 0),
        ("num", "--images left out (--images names the grid's images)", lambda a: a.images is None),
    ],
    "overlap": [
        (dest, _SCORED, lambda a: a.pred_dir or a.run)
        for dest in ("protocol", "threshold", "min_area", "resize_pred")
    ],
}


def refuse_ignored(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """A usage error (naming the subcommand) for the options given that the call would ignore
    without a word: ``premask --prompt`` without ``--clipseg``, ``figures --by`` without
    ``--worst`` or ``--num`` with ``--images``, ``overlap --threshold`` (and the other scoring
    options) with nothing to score."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    subparser = sub.choices[args.command]
    ignored = [
        ("--" + dest.replace("_", "-"), needs)
        for dest, needs, needed in _NEEDS.get(args.command, [])
        if getattr(args, dest) not in (None, subparser.get_default(dest)) and not needed(args)
    ]
    if ignored:
        named = ", ".join(option for option, _ in ignored)
        needs = " and ".join(sorted({n for _, n in ignored}))
        verb = "it needs" if len(ignored) == 1 else "they need"
        subparser.error(f"{named} would be ignored: {verb} {needs}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the subcommand of ``argv``; its errors are reported by :func:`run_cli`."""
    parser = build_parser()
    args = parser.parse_args(argv)
    refuse_ignored(parser, args)
    args.func(args)
    return 0


if __name__ == "__main__":
    from pmgsam.utils.cli import run_cli

    run_cli(main, error_prog(sys.argv[1:]))
