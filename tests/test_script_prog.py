"""train.py's and evaluate.py's usage and argparse error lines name the command as the README
has users type it (``python train.py``), as the other commands' parsers do (``python -m
pmgsam.efficiency``): they used to name whatever sys.argv[0] was (a launcher, pytest's
``__main__.py``), unlike the command's own error lines (run_cli's ``train.py: error:``)."""

from __future__ import annotations

import sys

import pytest
from cli_cases import script_module

from pmgsam.utils.cli import exit_status


@pytest.mark.parametrize(
    "script, bad, error",
    [
        ("train", ["--bogus"], "unrecognized arguments: --bogus"),
        ("evaluate", ["--task", "seg"], "argument --task: invalid choice: 'seg'"),
    ],
)
def test_usage_and_errors_name_the_script(monkeypatch, capsys, script, bad, error) -> None:
    monkeypatch.setattr(sys, "argv", ["/opt/launchers/start_job.py"])
    module = script_module(script)
    assert module.build_parser().format_usage().startswith(f"usage: {script}.py [-h]")
    assert exit_status(module.main, bad) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith(f"usage: {script}.py [-h]")
    assert lines[-1].startswith(f"{script}.py: error: {error}")
