"""A loader's ``worker_init_fn`` made by :func:`pmgsam.utils.loaders.sigterm_stops_quietly`
still runs the one it wraps (seeding, one-line warnings) in every worker, with its worker id,
and a SIGTERM then leaves the worker's loop as Ctrl-C does."""

from __future__ import annotations

import pickle
import signal

import pytest

from pmgsam.utils.loaders import sigterm_stops_quietly


def _record_id(worker_id: int) -> None:
    _record_id.seen.append(worker_id)


_record_id.seen = []


def test_the_wrapped_init_runs_with_the_worker_id_and_sigterm_interrupts():
    before = signal.getsignal(signal.SIGTERM)
    _record_id.seen.clear()
    # Pickled as spawned workers receive it.
    init = pickle.loads(pickle.dumps(sigterm_stops_quietly(_record_id)))
    try:
        init(3)
        assert _record_id.seen == [3]
        with pytest.raises(KeyboardInterrupt):
            signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None)
        sigterm_stops_quietly()(0)  # nothing to wrap: the handler alone
    finally:
        signal.signal(signal.SIGTERM, before)
