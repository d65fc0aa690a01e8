"""Commands print Python warnings as one line (pmgsam.utils.cli.run_cli); library use and tests
keep Python's own format and recording."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest

from pmgsam.utils.cli import exit_status


def test_command_prints_each_warning_as_one_line_without_its_source_line() -> None:
    # Before, a warning printed "<file>:<line>: UnscoredPredictionWarning: ..." and then the
    # calling source line ("    scores = evaluate_cos_folder(").
    code = (
        "import warnings\n"
        "from pmgsam.utils.cli import run_cli\n"
        "class UnscoredPredictionWarning(UserWarning):\n"
        "    pass\n"
        "def main():\n"
        "    warnings.warn('2 prediction(s) in P have no image\\n  in the GT',\n"
        "                  UnscoredPredictionWarning)\n"
        "    warnings.warn('plain one')\n"
        "    return 0\n"
        "run_cli(main, 'prog')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        "WARNING: 2 prediction(s) in P have no image in the GT [UnscoredPredictionWarning]",
        "WARNING: plain one",
    ]


def test_warnings_inside_a_command_still_reach_a_recorder_and_python_format_comes_back() -> None:
    before = warnings.formatwarning

    def main(argv: list) -> int:
        warnings.warn("seen by the recorder", RuntimeWarning, stacklevel=2)
        return 0

    with pytest.warns(RuntimeWarning, match="seen by the recorder"):
        assert exit_status(main, []) == 0
    assert warnings.formatwarning is before
    assert "WARNING:" not in warnings.formatwarning("m", UserWarning, "f.py", 3, "x = 1")
