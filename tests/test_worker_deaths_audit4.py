"""dead_worker_message for exit codes the other tests do not cover: a signal numbered 1 (an exit
code of -1 is a signal, not an exit status), a signal with no name, and several workers that
died of different causes (each named once)."""

from __future__ import annotations

import signal

from pmgsam.evaluation.worker_deaths import dead_worker_message


def test_sighup_is_a_signal_from_outside_not_an_exit_status() -> None:
    # multiprocessing gives -N for a process ended by signal N: -1 is SIGHUP (a closed
    # terminal or ssh session), not "exited with status -1".
    text = dead_worker_message([-signal.SIGHUP], "fork")
    assert "killed by SIGHUP, sent by another process" in text and "status" not in text


def test_a_signal_without_a_name_is_named_by_its_number() -> None:
    # Real-time signals between SIGRTMIN and SIGRTMAX have no name in signal.Signals.
    number = signal.SIGRTMIN + 6
    text = dead_worker_message([-number], "fork")
    assert f"killed by signal {number}, sent by another process" in text


def test_each_cause_is_named_once() -> None:
    codes = [-signal.SIGKILL, 1, -signal.SIGKILL, -signal.SIGTERM]
    text = dead_worker_message(codes, "fork", main_script="/x/run.py")
    assert text.count("SIGKILL") == 1 and "exited with status 1" in text
    assert "SIGTERM" not in text  # the executor's ending of the survivors
