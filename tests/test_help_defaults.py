"""``--help`` defaults (HelpFormatter): shown once, after the help text, for options with a set
default; never where the help text already states it, for unset or off options, or for
positional arguments."""

from __future__ import annotations

import argparse

import pytest
from cli_cases import command_parsers

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


def test_plain_help_prints_names_not_restructuredtext_markup():
    from pmgsam.utils.cli import plain_help

    doc = (
        "Scores go to ``<out>/metrics.json`` (layout in :mod:`pmgsam.evaluation.run_json`;\n"
        "see :func:`~pmgsam.report.main`)::\n\n    python -m pmgsam.report RUN --out DIR\n"
        "A mid-line :: stays, as does a `single` quote.\n"
    )
    assert plain_help(doc) == (
        "Scores go to <out>/metrics.json (layout in pmgsam.evaluation.run_json;\n"
        "see main):\n\n    python -m pmgsam.report RUN --out DIR\n"
        "A mid-line :: stays, as does a `single` quote.\n"
    )


@pytest.mark.parametrize(
    "rst, plain",
    [
        (":py:func:`pmgsam.report.main`", "pmgsam.report.main"),  # was ':pypmgsam.report.main'
        (":py:class:`~pmgsam.data.io.DataError`", "DataError"),
        (":c:func:`malloc`", "malloc"),
        (":std:ref:`the-troubleshooting-table`", "the-troubleshooting-table"),
        (":func:`the report <pmgsam.report.main>`", "the report"),
        (":py:meth:`!Trainer.fit`", "Trainer.fit"),
        (":data:`~pmgsam.io.NAMED_MASK_FILES` files", "NAMED_MASK_FILES files"),
    ],
)
def test_plain_help_prints_every_form_of_role_as_plain_text(rst: str, plain: str) -> None:
    from pmgsam.utils.cli import plain_help

    assert plain_help(f"see {rst}.") == f"see {plain}."


def test_option_help_is_plain_text_too():
    import argparse

    from pmgsam.utils.cli import HelpFormatter

    parser = argparse.ArgumentParser(prog="x", formatter_class=HelpFormatter)
    parser.add_argument("--out", help="folder for ``metrics.json`` (see :func:`~a.b.report`)")
    text = " ".join(parser.format_help().split())
    assert "folder for metrics.json (see report)" in text


def test_no_command_help_shows_restructuredtext_markup():
    # The module docstrings are the commands' usage; their markup is for Sphinx, not terminals.
    for parser in command_parsers():
        text = parser.format_help()
        for markup in ("``", ":mod:`", ":func:`", ":class:`", ":data:`", ":meth:`"):
            assert markup not in text, f"{parser.prog}: {markup!r} in --help"
        assert not [line for line in text.splitlines() if line.endswith("::")], parser.prog
