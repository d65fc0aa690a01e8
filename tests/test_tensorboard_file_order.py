"""TensorBoard reads a run's event files in name order: a resumed run's file must come last.

The names start with the second the file was made, then host, process id and a per-process
count compared as text; a clock frozen here makes two attempts share a second (or lag behind),
as a loaded test run or a clock set back would. Also: several earlier files, the wait's limit
(5 s waited out, 6 s warned about), and an earlier file whose name carries no creation second.
"""

from __future__ import annotations

import logging
import pathlib
import time
from typing import List

import pytest
import tensorboard.summary.writer.event_file_writer as event_file_writer
from test_training_log import _log_steps, _scalars

T0 = 1_700_000_000.0


class _Clock:
    def __init__(self) -> None:
        self.now = T0
        self.slept: List[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch) -> _Clock:
    """A frozen clock, moved on only by a sleep (which it records)."""
    fake = _Clock()
    monkeypatch.setattr(time, "time", lambda: fake.now)
    monkeypatch.setattr(time, "sleep", fake.sleep)
    return fake


def test_a_resume_in_the_same_second_whose_file_count_rolls_over_still_reads_last(
    tmp_path, clock, monkeypatch
) -> None:
    # The writers' per-process count goes 9, 10: as text "...10" sorts before "...9", so
    # TensorBoard read the resumed file first and showed the crashed attempt's 3 steps.
    monkeypatch.setattr(event_file_writer._global_uid, "_value", 9)
    _log_steps(tmp_path, 0, range(1, 4), 1.0)
    _log_steps(tmp_path, 0, range(1, 3), 2.0)
    assert _scalars(tmp_path / "tb")["train/loss"] == [(1, 2.0), (2, 2.0)]
    # The wait lasts to the next second, and the folder keeps one file per attempt.
    assert clock.slept == [pytest.approx(1.0)]
    assert len(list((tmp_path / "tb").iterdir())) == 2


def test_a_clock_a_few_seconds_behind_the_earlier_attempt_is_waited_out(tmp_path, clock) -> None:
    clock.now = T0 + 3
    _log_steps(tmp_path, 0, range(1, 6), 1.0)
    clock.now = T0
    _log_steps(tmp_path, 3, range(4, 5), 2.0)
    assert _scalars(tmp_path / "tb")["train/loss"] == [(1, 1.0), (2, 1.0), (3, 1.0), (4, 2.0)]
    assert clock.slept == [pytest.approx(4.0)]


def test_a_clock_far_behind_the_earlier_attempt_is_named_in_a_warning(
    tmp_path, clock, caplog
) -> None:
    clock.now = T0 + 3600
    _log_steps(tmp_path, 0, range(1, 3), 1.0)
    clock.now = T0
    with caplog.at_level(logging.WARNING, logger="pmgsam"):
        _log_steps(tmp_path, 0, range(1, 3), 2.0)
    assert clock.slept == []  # a resume does not hang for an hour
    (earlier,) = [p for p in (tmp_path / "tb").iterdir() if ".1700003600." in p.name]
    text = caplog.text
    assert f"'{earlier}' sorts after this run's" in text and "3600 s ahead" in text
    assert "set the clock right" in text


def test_the_newest_of_several_earlier_files_is_the_one_to_sort_after(
    tmp_path, clock, monkeypatch
) -> None:
    # Two crashed attempts, made at T0+1 and T0+4, and a resume whose clock reads T0+2: its
    # file must wait until T0+5, after the newer one, not merely pass the older. The folder is
    # listed newest first, as a file system may (the name order is TensorBoard's, not its).
    glob = pathlib.Path.glob
    monkeypatch.setattr(
        pathlib.Path, "glob", lambda self, pattern: iter(sorted(glob(self, pattern), reverse=True))
    )
    clock.now = T0 + 1
    _log_steps(tmp_path, 0, range(1, 3), 1.0)
    clock.now = T0 + 4
    _log_steps(tmp_path, 2, range(3, 6), 2.0)
    clock.now = T0 + 2
    _log_steps(tmp_path, 3, range(4, 5), 3.0)
    assert clock.slept == [pytest.approx(3.0)]
    assert _scalars(tmp_path / "tb")["train/loss"] == [(1, 1.0), (2, 1.0), (3, 2.0), (4, 3.0)]


def test_a_wait_of_five_seconds_is_waited_out(tmp_path, clock) -> None:
    # The earlier file was made at second T0+4; the resume's clock reads T0, so its file sorts
    # last from T0+5 on: 5 s, the longest wait a resume takes.
    clock.now = T0 + 4
    _log_steps(tmp_path, 0, range(1, 3), 1.0)
    clock.now = T0
    _log_steps(tmp_path, 1, range(2, 3), 2.0)
    assert clock.slept == [pytest.approx(5.0)]
    assert _scalars(tmp_path / "tb")["train/loss"] == [(1, 1.0), (2, 2.0)]


def test_a_wait_of_six_seconds_is_warned_about_with_the_lag(tmp_path, clock, caplog) -> None:
    clock.now = T0 + 5
    _log_steps(tmp_path, 0, range(1, 3), 1.0)
    clock.now = T0
    with caplog.at_level(logging.WARNING, logger="pmgsam"):
        _log_steps(tmp_path, 0, range(1, 3), 2.0)
    assert clock.slept == []
    # The earlier file is 5 s ahead of this clock (a sign slip would print -5).
    assert ", 5 s ahead of this clock" in caplog.text


def test_an_earlier_file_without_a_second_in_its_name_is_warned_about(
    tmp_path, clock, caplog
) -> None:
    # A user's renamed copy sorts after every writer's file ('o' > 'e') and names no second:
    # no wait can help, so the warning names it (without a lag) and the run goes on.
    tb = tmp_path / "tb"
    tb.mkdir()
    renamed = tb / "old.events.out.tfevents.1699999999.host.1.0"
    renamed.write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="pmgsam"):
        _log_steps(tmp_path, 0, range(1, 3), 1.0)
    assert clock.slept == []
    assert f"'{renamed}' sorts after this run's" in caplog.text
    assert "s ahead of this clock" not in caplog.text
    assert _scalars(tb)["train/loss"] == [(1, 1.0), (2, 1.0)]
