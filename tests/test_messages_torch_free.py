"""``pmgsam.utils.messages`` beyond test_messages.py: a process that never imported torch (DIS
scoring) is not in a DataLoader worker (its mask warnings must not fail on the missing
module)."""

from __future__ import annotations

import sys

import pytest

from pmgsam.utils.messages import in_dataloader_worker


def test_without_torch_imported_no_worker_is_asked_about(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "torch.utils.data", raising=False)
    assert in_dataloader_worker() is False
