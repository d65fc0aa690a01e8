"""``--help`` defaults (HelpFormatter): shown once, after the help text, for options with a set
default; never where the help text already states it, for unset or off options, or for
positional arguments."""

from __future__ import annotations

import argparse

from pmgsam.utils.cli import HelpFormatter


def test_help_shows_each_set_default_once():
    parser = argparse.ArgumentParser(prog="p", formatter_class=HelpFormatter)
    parser.add_argument("--rows", type=int, default=3, help="rows (the default 3 is the paper's)")
    parser.add_argument("--cols", type=int, default=4, help="columns")
    parser.add_argument("--flag", action="store_true", help="a switch")
    parser.add_argument("--unset", help="nothing set")
    parser.add_argument("--many", nargs="*", default=[], help="a list")
    parser.add_argument("paths", nargs="*", default=["x"], help="inputs")
    text = " ".join(parser.format_help().split())
    assert "columns (default: 4)" in text
    assert "(default: 3)" not in text and "(the default 3 is the paper's)" in text
    assert text.count("(default:") == 1  # --cols only


def test_a_default_of_zero_is_shown():
    # 0 == False: a membership test would hide it.
    import evaluate

    text = " ".join(evaluate.build_parser().format_help().split())
    assert "COS: smallest instance (pixels) (default: 0)" in text


def test_efficiency_takes_batch_size_like_the_other_commands():
    # inference, evaluate, ablate and the Pre-Mask analysis spell it --batch-size.
    from pmgsam.efficiency.cli import build_parser

    assert build_parser().parse_args(["--batch-size", "8"]).batch == 8
    assert build_parser().parse_args(["--batch", "2"]).batch == 2


def test_efficiency_method_without_a_run_is_refused(capsys):
    # --method renames a run's row; without --run-dir it did nothing, silently.
    from pmgsam.efficiency.cli import main
    from pmgsam.utils.cli import exit_status

    assert exit_status(main, ["--model", "pmgsam_tiny", "--method", "X"]) == 2
    assert "--method renames a run's row: it needs --run-dir" in capsys.readouterr().err
