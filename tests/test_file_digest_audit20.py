"""file_sha256's digest cache, beyond test_file_digest_cache: a file whose status changed
moments ago is not remembered even with an old modification time (a ``cp -p`` just made), and
the cache keeps the 32 files used most recently."""

from __future__ import annotations

import builtins
import hashlib
import os
from collections import OrderedDict

import pytest

from pmgsam.utils import io as io_module
from pmgsam.utils.io import file_sha256

OLD_NS = 1_600_000_000 * 10**9


@pytest.fixture
def opens(monkeypatch):
    opened = []

    def counting_open(path, *args, **kwargs):
        opened.append(str(path))
        return builtins.open(path, *args, **kwargs)

    monkeypatch.setattr(io_module, "open", counting_open, raising=False)
    monkeypatch.setattr(io_module, "_DIGESTS", OrderedDict())
    return opened


def test_old_mtime_but_fresh_status_change_is_read_every_time(tmp_path, opens) -> None:
    # The status-change time is now (utime itself sets it), so a second write in the same
    # clock tick could keep all the times: the newer of the two times decides, not the older.
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"a" * 4096)
    os.utime(weights, ns=(OLD_NS, OLD_NS))
    for _ in range(2):
        assert file_sha256(weights) == hashlib.sha256(b"a" * 4096).hexdigest()
    assert len(opens) == 2


def test_cache_keeps_the_most_recently_used_files(tmp_path, opens, monkeypatch) -> None:
    monkeypatch.setattr(io_module, "_SETTLED_NS", 0)
    kept = io_module._DIGESTS_KEPT
    files = []
    for i in range(kept + 1):
        files.append(tmp_path / f"f{i}")
        files[-1].write_bytes(b"%d" % i)
        os.utime(files[-1], ns=(OLD_NS, OLD_NS))
    for path in files[:kept]:
        file_sha256(path)
    file_sha256(files[0])  # used again: now the most recent
    file_sha256(files[kept])  # one over: the least recently used (f1) goes
    assert len(io_module._DIGESTS) == kept
    opens.clear()
    file_sha256(files[0])
    file_sha256(files[kept])
    file_sha256(files[2])
    assert opens == []
    assert file_sha256(files[1]) == hashlib.sha256(b"1").hexdigest()
    assert opens == [str(files[1])]
