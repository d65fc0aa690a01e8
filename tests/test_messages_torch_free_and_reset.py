"""``pmgsam.utils.messages`` beyond test_messages.py: a process that never imported torch (DIS
scoring) is not in a DataLoader worker (its mask warnings must not fail on the missing
module), and ``FilesNamedOnce.clear`` forgets the files as well as their count."""

from __future__ import annotations

import sys

import pytest

from pmgsam.utils.messages import FilesNamedOnce, in_dataloader_worker


def test_without_torch_imported_no_worker_is_asked_about(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "torch.utils.data", raising=False)
    assert in_dataloader_worker() is False


def test_clear_forgets_the_files_named_and_their_count() -> None:
    named = FilesNamedOnce()
    assert (named.first("a.png"), named.first("b.png")) == (0, 1)
    named.clear()
    # A new run names a.png again, as its first file.
    assert (named.first("a.png"), named.first("c.png")) == (0, 1)
