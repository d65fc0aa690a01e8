"""An empty value of an evaluate.py option that some mode needs (--pred-dir, --out,
--checkpoint...) was refused with "or leave --pred-dir out", which that mode then refuses as
missing: the refusal names the modes that need it, and each mode named does refuse it missing."""

from __future__ import annotations

from typing import List

import pytest
from test_evaluate_mode_arguments import DEMO, usage_error

from pmgsam.evaluation.evaluate_options import MODE_NEEDS

DIS = ["--pred-dir", "p", "--gt-dir", "g", "--out", "o.json"]
COS = ["--task", "cos", "--pred-dir", "p", "--gt-json", "g.json", "--out", "o.json"]
BENCHMARK = ["--config", DEMO, "--checkpoint", "c.pt"]
BASELINE = ["--baseline", "sam-box", "--config", DEMO, "--checkpoint", "c.pth"]


@pytest.mark.parametrize(
    "argv, ending",
    [
        (
            ["--pred-dir", "", "--gt-dir", "g", "--out", "o.json"],
            "--pred-dir is empty: give a folder of predicted maps (DIS scoring and COS scoring "
            "(--task cos) need it), or leave --pred-dir out in other modes",
        ),
        (
            ["--config", DEMO, "--checkpoint", " "],
            "--checkpoint is blank (' '): give a checkpoint file or training run folder "
            "(benchmark mode (--config) and baseline mode (--baseline) need it), or leave "
            "--checkpoint out in other modes",
        ),
        (
            ["--task", "cos", "--gt-json", ""],
            "--gt-json is empty: give a COCO instance annotation file (COS scoring (--task cos) "
            "needs it), or leave --gt-json out in other modes",
        ),
    ],
)
def test_an_empty_needed_option_names_the_modes_that_need_it(
    argv: List[str], ending: str, monkeypatch, capsys
) -> None:
    line = usage_error(argv, monkeypatch, capsys)
    assert line.endswith(ending), line


def test_an_option_no_mode_needs_still_says_leave_it_out(monkeypatch, capsys) -> None:
    line = usage_error([*DIS, "--ske-dir", ""], monkeypatch, capsys)
    assert line.endswith(
        "--ske-dir is empty: give a folder of GT skeletons, or leave --ske-dir out"
    )


def _without(argv: List[str], option: str) -> List[str]:
    at = argv.index(option)
    return argv[:at] + argv[at + 2 :]


@pytest.mark.parametrize(
    "mode, argv",
    [
        ("DIS scoring", DIS),
        ("COS scoring (--task cos)", COS),
        ("benchmark mode (--config)", BENCHMARK),
        ("baseline mode (--baseline)", BASELINE),
    ],
)
def test_each_mode_named_refuses_to_run_without_the_option(mode, argv, monkeypatch, capsys):
    # The refusal's "X needs it" must be true: leaving the option out is refused in that mode.
    assert MODE_NEEDS[mode]
    for dest in MODE_NEEDS[mode]:
        option = "--" + dest.replace("_", "-")
        line = usage_error(_without(argv, option), monkeypatch, capsys)
        assert option in line and ("required" in line or "needs" in line), (option, line)
