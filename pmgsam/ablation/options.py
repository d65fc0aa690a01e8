"""``python -m pmgsam.ablate``'s options, and the usage error for scoring options given
without ``--evaluate``."""

from __future__ import annotations

import argparse

from pmgsam.utils.cli import DEVICE_NAMES, NonEmpty, device_name, name_list, positive_int


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``python -m pmgsam.ablate`` (usage in its module docstring)."""
    p.add_argument(
        "--grid",
        required=True,
        type=NonEmpty("an ablation grid folder"),
        help="folder of ablation configs + grid.yaml",
    )
    p.add_argument(
        "--output-dir",
        required=True,
        type=NonEmpty("an output folder"),
        help="folder of the runs, table and plots",
    )
    p.add_argument("--train", action="store_true", help="train configs not trained yet")
    p.add_argument(
        "--evaluate",
        action="store_true",
        help="score configs not scored yet, or scored from other weights or with another HCE "
        "choice, image size, device type, precision, speed options (performance.*) or data",
    )
    p.add_argument(
        "--only",
        type=NonEmpty("comma-separated config names", name_list),
        help="comma-separated config names (default: the whole grid)",
    )
    p.add_argument(
        "--splits",
        type=NonEmpty("a test set, e.g. DIS-TE"),
        help="the one test set every variant is scored on: a split, or parts joined by '+' "
        "(default: grid.yaml's, e.g. DIS-TE = DIS-TE1..4 as one set)",
    )
    p.add_argument(
        "--device",
        default="auto",
        type=device_name,
        help=f"evaluation device (with --evaluate): {DEVICE_NAMES}",
    )
    p.add_argument(
        "--batch-size", type=positive_int, default=1, help="evaluation batch size (with --evaluate)"
    )
    p.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        help="scoring processes (with --evaluate); at most the CPUs this process may use",
    )
    p.add_argument("--no-hce", action="store_true", help="skip HCE (with --evaluate)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace table or plot files in --output-dir that pmgsam did not write, and (with "
        "--evaluate) maps in NAME/pred/<split> edited since pmgsam wrote them or files there "
        "it did not write",
    )
    p.add_argument("overrides", nargs="*", help="config overrides key=value for every config")


# Options that only set how --evaluate predicts and scores: (option, attribute).
SCORING_OPTIONS = (
    ("--device", "device"),
    ("--batch-size", "batch_size"),
    ("--workers", "workers"),
    ("--no-hce", "no_hce"),
)


def refuse_scoring_options_without_evaluate(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> None:
    """Without --evaluate these would be ignored without a word: ``--train --device cuda``
    trains on the config's train.device, whatever --device says."""
    if args.evaluate:
        return
    given = [o for o, a in SCORING_OPTIONS if getattr(args, a) != parser.get_default(a)]
    if not given:
        return
    message = (
        f"{', '.join(given)} only apply to --evaluate (how the variants are predicted and "
        "scored), which is not given: add --evaluate or leave them out"
    )
    if "--device" in given:
        message += "; training runs on the configs' train.device (train.device=... sets it)"
    parser.error(message)
