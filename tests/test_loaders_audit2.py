"""command_worker_init, the worker_init_fn of every command's loaders: a worker started by spawn
(which begins with Python's warning format) prints warnings in the command's one-line format
and leaves its loop on a SIGTERM as on Ctrl-C."""

from __future__ import annotations

import pickle
import signal
import warnings

import pytest

from pmgsam.utils.cli import one_line_warning
from pmgsam.utils.loaders import command_worker_init


def _python_format(*args, **kwargs) -> str:  # what a spawned worker starts with
    return ""


def test_a_spawned_worker_warns_in_one_line_and_stops_on_sigterm(monkeypatch):
    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(warnings, "formatwarning", one_line_warning)  # as run_cli sets it
    init = pickle.dumps(command_worker_init())  # as spawn sends it to the worker
    monkeypatch.setattr(warnings, "formatwarning", _python_format)
    try:
        pickle.loads(init)(0)
        assert warnings.formatwarning is one_line_warning
        with pytest.raises(KeyboardInterrupt):
            signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None)
    finally:
        signal.signal(signal.SIGTERM, before)
