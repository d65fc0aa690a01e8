"""TensorBoard reads a run's event files in name order: a resumed run's file must come last.

The names start with the second the file was made, then host, process id and a per-process
count compared as text; a clock frozen here makes two attempts share a second (or lag behind),
as a loaded test run or a clock set back would.
"""

from __future__ import annotations

import logging
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
