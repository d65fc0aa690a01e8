"""Plain helpers of the CLI error tests (test_cli_errors_inference.py,
test_cli_errors_train_evaluate.py): run a command's ``main`` as ``python -m`` runs it, and find
its one error line."""

from __future__ import annotations

import re
from typing import Callable, List

from pmgsam.utils.cli import exit_status


def cli(main: Callable, argv: List, capsys) -> tuple:
    """(exit status, stderr) of ``main(argv)`` run the way ``python -m`` runs it."""
    code = exit_status(main, argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def one_error_line(err: str) -> str:
    """The single error line (progress bars may precede it on stderr, nothing may follow)."""
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error:" in ln]
    assert len(errors) == 1 and lines[-1] == errors[0], err
    # On a line of its own: not glued to a progress bar that the failure left open.
    assert re.match(r"[\w. -]+: error: ", errors[0]), err
    return errors[0]
