"""The options each evaluate.py mode needs, written out by hand: MODE_NEEDS drives both the
missing-option refusal and the empty-value advice, so a test that reads MODE_NEEDS cannot see
an option dropped from it (COS scoring without --out would run and write nothing)."""

from __future__ import annotations

import pytest
from test_evaluate_mode_arguments import DEMO, usage_error

DIS = ["--pred-dir", "p", "--gt-dir", "g", "--out", "o.json"]
COS = ["--task", "cos", "--pred-dir", "p", "--gt-json", "g.json", "--out", "o.json"]
BENCHMARK = ["--config", DEMO, "--checkpoint", "c.pt"]


@pytest.mark.parametrize(
    "argv, option, mode",
    [
        (DIS, "--pred-dir", "DIS scoring"),
        (DIS, "--gt-dir", "DIS scoring"),
        (DIS, "--out", "DIS scoring"),
        (COS, "--pred-dir", "COS scoring (--task cos)"),
        (COS, "--gt-json", "COS scoring (--task cos)"),
        (COS, "--out", "COS scoring (--task cos)"),
        (BENCHMARK, "--checkpoint", "benchmark mode (--config)"),
    ],
)
def test_a_mode_refuses_to_run_without_an_option_it_needs(
    argv, option, mode, monkeypatch, capsys
) -> None:
    at = argv.index(option)
    line = usage_error(argv[:at] + argv[at + 2 :], monkeypatch, capsys)
    assert line.endswith(f"{option} is required in {mode}"), line
