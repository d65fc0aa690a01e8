"""Audit of :mod:`pmgsam.utils.signals`: the command's own SIGTERM handler comes back when the
block ends (normally or stopped), a use outside the main thread changes nothing, and a worker
given SIGTERM's default back dies of the signal at once, neither ignoring it nor raising."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time

import pytest

from pmgsam.utils.signals import Terminated, default_sigterm, sigterm_interrupts


@pytest.fixture
def own_handler():
    calls = []

    def handler(signum, frame):
        calls.append(signum)

    before = signal.signal(signal.SIGTERM, handler)
    yield handler
    signal.signal(signal.SIGTERM, before)


def test_the_previous_handler_is_back_after_the_block_and_after_a_stop(own_handler):
    with sigterm_interrupts():
        assert signal.getsignal(signal.SIGTERM) is not own_handler
    assert signal.getsignal(signal.SIGTERM) is own_handler
    with pytest.raises(Terminated):
        with sigterm_interrupts():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # interrupted at once
    assert signal.getsignal(signal.SIGTERM) is own_handler


def test_outside_the_main_thread_the_block_runs_and_changes_nothing(own_handler):
    ran, errors = [], []

    def body():
        try:
            with sigterm_interrupts():
                ran.append(signal.getsignal(signal.SIGTERM))
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert errors == [] and ran == [own_handler]


def _sleep_with_default_sigterm(ready) -> None:
    default_sigterm()
    ready.set()
    time.sleep(30)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forked workers only")
def test_a_worker_given_the_default_back_dies_of_sigterm_at_once():
    with sigterm_interrupts():  # inherited by the fork, as scoring workers inherit it
        fork = mp.get_context("fork")
        ready = fork.Event()
        worker = fork.Process(target=_sleep_with_default_sigterm, args=(ready,))
        worker.start()
        assert ready.wait(timeout=10)
        os.kill(worker.pid, signal.SIGTERM)
        worker.join(timeout=10)
        if worker.exitcode is None:
            worker.kill()
            worker.join()
    assert worker.exitcode == -signal.SIGTERM
