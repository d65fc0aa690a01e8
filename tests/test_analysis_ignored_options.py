"""``python -m pmgsam.analysis`` refuses an option its call would ignore without a word: a
CLIPSeg prompt without CLIPSeg, a failure-sheet ranking without a failure sheet, a grid size
(``--num``) beside the grid's named ``--images``, overlap's scoring options with nothing to
score. Each used to run to the end as if it were not given."""

from __future__ import annotations

import pytest

from pmgsam.analysis.__main__ import build_parser, error_prog, main, refuse_ignored
from pmgsam.utils.cli import exit_status

PREMASK = ["premask", "--run", "r", "--config", "c.yaml", "--split", "DIS-TE1"]
FIGURES = ["figures", "--runs", "r", "--out", "o", "--config", "c.yaml", "--split", "DIS-TE1"]
OVERLAP = ["overlap", "--gt-json", "gt.json", "--name", "COD10K", "--out", "o"]


def _refused(argv, capsys) -> str:
    # The checks come before any file is read: none of these paths exists.
    assert exit_status(main, argv, error_prog(argv)) == 2
    return capsys.readouterr().err


def test_premask_prompt_without_clipseg_is_refused(capsys) -> None:
    err = _refused([*PREMASK, "--prompt", "a cat"], capsys)
    assert "premask: error: --prompt would be ignored: it needs --clipseg" in err


def test_figures_by_without_worst_is_refused(capsys) -> None:
    err = _refused([*FIGURES, "--by", "hce"], capsys)
    assert "--by would be ignored: it needs --worst K (K > 0)" in err
    err = _refused([*FIGURES, "--by", "hce", "--worst", "0"], capsys)  # no failure sheet either
    assert "--by would be ignored" in err


def test_figures_num_with_images_is_refused(capsys) -> None:
    # --images names the grid's images; --num (how many to spread over the split) went unread.
    err = _refused([*FIGURES, "--images", "a,b", "--num", "5"], capsys)
    assert "figures: error: --num would be ignored: it needs --images left out" in err
    err = _refused([*FIGURES, "--images", "a", "--num", "5", "--by", "hce"], capsys)
    assert "--by, --num would be ignored: they need --images left out" in err


@pytest.mark.parametrize(
    "option",
    [
        ["--threshold", "0.3"],
        ["--protocol", "matched"],
        ["--min-area", "5"],
        ["--resize-pred"],
    ],  # fmt: skip
)
def test_overlap_scoring_options_with_nothing_to_score_are_refused(option, capsys) -> None:
    err = _refused([*OVERLAP, *option], capsys)
    assert f"overlap: error: {option[0]} would be ignored: it needs --pred-dir or --run" in err


def test_several_ignored_options_are_named_together(capsys) -> None:
    err = _refused([*OVERLAP, "--threshold", "0.3", "--min-area", "5"], capsys)
    assert "--threshold, --min-area would be ignored: they need --pred-dir or --run" in err


@pytest.mark.parametrize(
    "argv",
    [
        [*PREMASK, "--prompt", "a cat", "--clipseg", "models/clipseg"],
        [*PREMASK, "--prompt", "the main object"],  # the default, spelt out by a script
        [*FIGURES, "--by", "hce", "--worst", "3"],
        [*FIGURES, "--by", "iou"],
        [*FIGURES, "--num", "5"],
        [*FIGURES, "--images", "a,b", "--num", "4"],  # the default, spelt out by a script
        [*OVERLAP, "--threshold", "0.3", "--pred-dir", "p"],
        [*OVERLAP, "--threshold", "0.3", "--run", "r", "--split", "Test"],
    ],
)
def test_options_that_act_pass_the_check(argv) -> None:
    parser = build_parser()
    refuse_ignored(parser, parser.parse_args(argv))  # no SystemExit


@pytest.mark.parametrize("blank", ["", "  "])
def test_a_blank_overlap_name_is_refused(blank, capsys) -> None:
    argv = ["overlap", "--gt-json", "gt.json", "--out", "o", "--name", blank]
    err = _refused(argv, capsys)
    assert f"--name is {'blank' if blank else 'empty'}" in err
