"""A path that is not UTF-8 (a Latin-1 ``café``) printed on a strict UTF-8 stdout, or train.log.

Python decodes such a name's bytes to surrogates (``b'caf\\xe9'`` to ``'caf\\udce9'``), which no
UTF-8 stream encodes; a UTF-8 locale's stdout, or ``PYTHONIOENCODING=utf-8``, is strict, so a
command printing ``wrote <path>`` raised after writing its files. Expectations: Python's own
``backslashreplace`` text, as its stderr writes it.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

import pmgsam
from pmgsam.utils.cli import printable_stdout

REPO = str(Path(pmgsam.__file__).resolve().parents[1])
LATIN1_NAME = b"tables_caf\xe9"


def test_a_strict_utf8_stdout_prints_a_latin1_name_as_escapes(monkeypatch) -> None:
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8", errors="strict")
    monkeypatch.setattr(sys, "stdout", stream)
    printable_stdout()
    name = os.fsdecode(b"caf\xe9.png")
    print(f"wrote {name} (\u03b2)")
    stream.flush()
    assert raw.getvalue() == "wrote caf\\udce9.png (\u03b2)\n".encode()


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="names there are Unicode only")
def test_a_command_given_a_latin1_out_folder_ends_well(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(
        json.dumps({"method": "ours", "dis": {"DIS-TE1": {"maxFm": 0.5, "num_images": 1}}})
    )
    out = os.fsencode(tmp_path) + b"/" + LATIN1_NAME
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "PYTHONPATH": REPO}
    done = subprocess.run(
        [sys.executable, "-m", "pmgsam.report", str(run), "--out", os.fsdecode(out)],
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert b"wrote " + os.fsencode(tmp_path) + b"/tables_caf\\udce9/dis.md" in done.stdout
    assert (Path(os.fsdecode(out)) / "dis.md").is_file()


def test_train_log_keeps_a_line_naming_a_latin1_image(tmp_path: Path) -> None:
    # The line that stops a run names the image that could not be read: logging dropped it
    # from train.log (a "--- Logging error ---" on stderr) when the name was not UTF-8.
    from pmgsam.engine.training_log import attach_run_log

    detach = attach_run_log(tmp_path)
    try:
        logging.getLogger("pmgsam.engine.trainer").error(
            f"cannot read {os.fsdecode(b'caf' + bytes([0xE9]))}.jpg"
        )
    finally:
        detach()
    assert "cannot read caf\\udce9.jpg" in (tmp_path / "train.log").read_text(encoding="utf-8")
