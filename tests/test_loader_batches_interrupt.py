"""``loader_batches`` stops a DataLoader's workers when Ctrl-C (KeyboardInterrupt, not an
Exception) leaves the loop: the interrupted run's iterator is kept by the traceback, and its
workers would live until the garbage collector frees it (in a notebook, until the next
error). Worker errors: test_loader_shutdown.py."""

from __future__ import annotations

import pytest
from torch.utils.data import DataLoader

from pmgsam.utils.loaders import loader_batches


def test_an_interrupt_in_the_loop_stops_the_workers() -> None:
    loader = DataLoader(list(range(6)), batch_size=1, num_workers=1)
    with pytest.raises(KeyboardInterrupt):
        with loader_batches(loader) as batches:
            iterator = batches
            next(batches)
            assert all(w.is_alive() for w in iterator._workers)
            raise KeyboardInterrupt
    assert not any(w.is_alive() for w in iterator._workers)
