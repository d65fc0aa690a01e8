"""Commands started by torchrun (WORLD_SIZE > 1): train.py shares its work among the processes;
every other command is refused before it does anything, since each process would repeat all
of its work and write the same files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

from pmgsam.utils.cli import EXIT_INTERRUPTED, EXIT_USER_ERROR, run_cli

REPO = Path(__file__).resolve().parents[1]


def _exit(several_processes: bool = False) -> tuple:
    ran: List[bool] = []
    with pytest.raises(SystemExit) as exit_:
        run_cli(lambda: ran.append(True), "prog", several_processes=several_processes)
    return exit_.value.code, ran


def test_a_one_process_command_is_refused_once_per_job(monkeypatch, capsys) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    assert _exit() == (EXIT_USER_ERROR, [])  # main never ran
    err = capsys.readouterr().err
    assert err.startswith("prog: error: this command runs in one process") and err.count("\n") == 1
    assert "(WORLD_SIZE=2)" in err
    monkeypatch.setenv("RANK", "1")  # the same refusal: said by rank 0 alone
    assert _exit() == (EXIT_USER_ERROR, [])
    assert capsys.readouterr().err == ""
    assert _exit(several_processes=True) == (0, [True])


@pytest.mark.parametrize("world", ["1", "", "x"])
def test_one_process_or_no_usable_world_size_runs(monkeypatch, world) -> None:
    monkeypatch.setenv("WORLD_SIZE", world)
    assert _exit() == (0, [True])


@pytest.mark.parametrize(
    "command, status",
    [(["train.py"], 0), (["evaluate.py"], EXIT_USER_ERROR), (["-m", "pmgsam.efficiency"], 2)],
)
def test_only_train_py_starts_under_torchrun(command: List[str], status: int) -> None:
    env = {**os.environ, "WORLD_SIZE": "2", "RANK": "0", "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, *command, "--help"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert done.returncode == status, done.stderr
    assert ("runs in one process" in done.stderr) == (status != 0)


def test_an_interruption_is_said_by_rank_zero_alone(monkeypatch, capsys) -> None:
    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setenv("WORLD_SIZE", "2")
    for rank, said in (("0", "prog: interrupted\n"), ("1", "")):
        monkeypatch.setenv("RANK", rank)
        with pytest.raises(SystemExit) as exit_:
            run_cli(interrupted, "prog", several_processes=True)
        assert exit_.value.code == EXIT_INTERRUPTED
        assert capsys.readouterr().err == said
