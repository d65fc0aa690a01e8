"""The suite in parallel (``pytest -n 2``, pytest-xdist): each worker runs on one torch
thread, as two workers with torch's default of one thread per core would oversubscribe the
cores (the -n 2 suite took twice as long on a loaded 2-core machine)."""

from __future__ import annotations

import conftest
import pytest
import torch


def test_an_xdist_worker_runs_on_one_thread(monkeypatch: pytest.MonkeyPatch, torch_default):
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    conftest.pytest_configure(None)
    assert torch.get_num_threads() == 1


def test_a_serial_run_keeps_torchs_thread_count(monkeypatch: pytest.MonkeyPatch, torch_default):
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    conftest.pytest_configure(None)
    assert torch.get_num_threads() == torch_default
