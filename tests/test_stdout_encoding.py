"""A command's printed output never fails on a standard output that is not UTF-8.

On Windows, output redirected to a file or a pipe (``python -m pmgsam.report ... > log.txt``, a
batch job's log) is encoded in the ANSI code page, cp1252, which has no β, φ or ↑: the tables'
headers (``maxFβ↑``) raised UnicodeEncodeError there, with a traceback and exit status 1, after
every file was written. Python's stderr escapes such characters; stdout now does the same.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pmgsam.utils.cli import run_cli

ROOT = Path(__file__).resolve().parents[1]


def _exit_code(main) -> int:
    with pytest.raises(SystemExit) as stopped:
        run_cli(main, "prog")
    return stopped.value.code


def test_characters_the_encoding_lacks_print_as_escapes(monkeypatch) -> None:
    raw = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, encoding="cp1252"))
    assert _exit_code(lambda: print("| maxFβ↑ | MAE↓ | Zoë |")) == 0
    sys.stdout.flush()
    # cp1252 has ë; β, ↑ and ↓ are escaped as stderr would.
    assert raw.getvalue() == b"| maxF\\u03b2\\u2191 | MAE\\u2193 | Zo\xeb |\n"


def test_a_utf8_stdout_prints_the_characters_themselves(monkeypatch) -> None:
    # UTF-8 has β and ↑: they are written as such, not escaped (the stream only gains escapes
    # for what it cannot encode, the surrogates of a name that is not UTF-8:
    # tests/test_stdout_surrogates.py).
    raw = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, encoding="utf-8"))
    assert _exit_code(lambda: print("maxFβ↑")) == 0
    sys.stdout.flush()
    assert raw.getvalue() == "maxFβ↑\n".encode()


def test_report_prints_its_tables_to_a_cp1252_pipe(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    row = {"method": "ours", "dis": {"DIS-TE1": {"maxFm": 0.5, "num_images": 1}}}
    (run / "run.json").write_text(json.dumps(row), encoding="utf-8")
    env = {**os.environ, "PYTHONIOENCODING": "cp1252", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "pmgsam.report", str(run), "--out", str(tmp_path / "tables")],
        capture_output=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode("cp1252", "replace")[-2000:]
    assert b"maxF\\u03b2\\u2191" in done.stdout
    # The table files keep the characters: they are written as UTF-8.
    assert "maxFβ↑" in (tmp_path / "tables" / "dis.md").read_text(encoding="utf-8")
