"""Mutation audit of ``python -m pmgsam`` (pmgsam/__main__.py) in process: it names the
installed version, lists every command in one aligned column, takes no options (a stray
argument is a usage error, exit status 2, not ignored) and reads the arguments it is given,
not the interpreter's.

Expectations: the listing's documented form and argparse's exit statuses.
"""

from __future__ import annotations

import sys

import pytest

import pmgsam
from pmgsam.__main__ import COMMANDS, main


def test_the_listing_names_the_version_and_aligns_every_command(capsys, monkeypatch) -> None:
    # sys.argv holds pytest's options here: main(argv) must not read them.
    monkeypatch.setattr(sys, "argv", ["python -m pmgsam", "--no-such-option"])
    assert main([]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"pmgsam {pmgsam.__version__}: run each with python -m MODULE --help"
    listed = [line for line in lines if line.startswith("  pmgsam.")]
    assert [line.split()[0] for line in listed] == [module for module, _ in COMMANDS]
    starts = {line.index(what) for line, (_, what) in zip(listed, COMMANDS)}
    width = max(len(module) for module, _ in COMMANDS)
    assert starts == {2 + width + 2}  # one column, two spaces after the longest module
    assert {"pmgsam.train", "pmgsam.evaluate"} <= {module for module, _ in COMMANDS}
    # Said once the list ends: the scripts of the same name, and the configs it does not hold.
    tail = " ".join(lines[len(listed) + 2 :])
    assert "python train.py and python evaluate.py" in tail and "configs/" in tail


@pytest.mark.parametrize("argv, status", [(["--help"], 0), (["train"], 2), (["-x"], 2)])
def test_it_takes_no_options(argv, status, capsys) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == status
    if status:
        assert "python -m pmgsam: error: unrecognized arguments" in capsys.readouterr().err
