"""evaluate.py's ``--workers`` default: the CPUs this process may use (its affinity mask and
cgroup CPU quota, :func:`pmgsam.utils.cpus.cpu_share`), not every CPU of the host, which a
container or ``taskset`` mask does not give it; ``--help`` says what the default is."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import pytest

from pmgsam.evaluation.evaluate_options import add_arguments
from pmgsam.utils import cpus
from pmgsam.utils.cli import CommandParser, HelpFormatter


@pytest.fixture
def three_of_sixty_four(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 64-CPU host on which this process may run on 3 (a taskset mask), with no quota."""
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    monkeypatch.setattr(cpus, "cpu_quota", lambda: None)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    monkeypatch.setattr(cpus, "_said", set())


def _parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="evaluate.py", formatter_class=HelpFormatter)
    add_arguments(parser)
    return parser


def test_the_default_is_the_cpus_this_process_may_use(three_of_sixty_four, caplog) -> None:
    args = _parser().parse_args(["--pred-dir", "p", "--gt-dir", "g", "--out", "m.json"])
    assert args.workers == 3
    # At that count the scoring pool is not capped: no line naming a --workers nobody gave.
    with caplog.at_level(logging.INFO, logger="pmgsam.utils.cpus"):
        assert cpus.loader_workers(args.workers, "--workers") == 3
    assert not caplog.records


def test_help_says_what_the_default_is(three_of_sixty_four) -> None:
    text = " ".join(_parser().format_help().split())
    assert "(default: the CPUs this process may use, as its CPU affinity and cgroup CPU " in text
    assert "quota allow: 3 here)" in text
