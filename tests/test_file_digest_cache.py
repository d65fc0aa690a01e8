"""file_sha256 remembers digests: a moved checkpoint, hashed once to match the run.json that
records it and again for the record, is read once; a file changed since is read again, and one
whose status changed moments ago is not remembered even with an old modification time (a
``cp -p`` just made); the cache keeps the 32 files used most recently."""

from __future__ import annotations

import builtins
import hashlib
import json
import os
import time
from collections import OrderedDict

import pytest

from pmgsam.utils import io as io_module
from pmgsam.utils.io import file_sha256

HOUR_NS = 3600 * 10**9
OLD_NS = 1_600_000_000 * 10**9


@pytest.fixture
def opens(monkeypatch):
    """The paths file_sha256 opens; the cache starts empty and forgets nothing set here."""
    opened = []

    def counting_open(path, *args, **kwargs):
        opened.append(str(path))
        return builtins.open(path, *args, **kwargs)

    monkeypatch.setattr(io_module, "open", counting_open, raising=False)
    monkeypatch.setattr(io_module, "_DIGESTS", OrderedDict(), raising=False)
    return opened


def _write(path, data: bytes, mtime_ns: int) -> None:
    path.write_bytes(data)
    os.utime(path, ns=(mtime_ns, mtime_ns))


def test_second_call_does_not_read_the_file(tmp_path, opens, monkeypatch):
    # utime cannot make the status-change time old, so the settling delay is waived here.
    monkeypatch.setattr(io_module, "_SETTLED_NS", 0, raising=False)
    weights = tmp_path / "model.safetensors"
    _write(weights, b"weights" * 1000, 1_600_000_000 * 10**9)
    expected = hashlib.sha256(b"weights" * 1000).hexdigest()
    assert file_sha256(weights) == expected
    assert file_sha256(str(weights)) == expected
    assert file_sha256(tmp_path / "." / "model.safetensors") == expected
    assert opens == [str(weights)]


def test_file_rewritten_with_same_size_and_new_mtime_is_hashed_again(tmp_path, opens, monkeypatch):
    monkeypatch.setattr(io_module, "_SETTLED_NS", 0, raising=False)
    weights = tmp_path / "model.safetensors"
    _write(weights, b"a" * 4096, 1_600_000_000 * 10**9)
    assert file_sha256(weights) == hashlib.sha256(b"a" * 4096).hexdigest()
    _write(weights, b"b" * 4096, 1_600_000_000 * 10**9 + HOUR_NS)
    assert file_sha256(weights) == hashlib.sha256(b"b" * 4096).hexdigest()
    assert len(opens) == 2


def test_file_rewritten_keeping_its_mtime_is_hashed_again(tmp_path, opens, monkeypatch):
    # `cp -p` over it, or an rsync -t: the old modification time, but a new status-change time.
    monkeypatch.setattr(io_module, "_SETTLED_NS", 0, raising=False)
    weights = tmp_path / "model.safetensors"
    old = 1_600_000_000 * 10**9
    _write(weights, b"a" * 4096, old)
    file_sha256(weights)
    hashed_at = os.stat(weights).st_ctime_ns
    _write(weights, b"b" * 4096, old)
    while os.stat(weights).st_ctime_ns == hashed_at:  # within the file system's clock tick
        time.sleep(0.001)
        os.utime(weights, ns=(old, old))
    assert file_sha256(weights) == hashlib.sha256(b"b" * 4096).hexdigest()


def test_file_replaced_by_another_is_hashed_again(tmp_path, opens, monkeypatch):
    monkeypatch.setattr(io_module, "_SETTLED_NS", 0, raising=False)
    weights, other = tmp_path / "model.safetensors", tmp_path / "other"
    old = 1_600_000_000 * 10**9
    _write(weights, b"a" * 4096, old)
    file_sha256(weights)
    _write(other, b"b" * 4096, old)
    os.replace(other, weights)
    assert file_sha256(weights) == hashlib.sha256(b"b" * 4096).hexdigest()


def test_file_changed_moments_ago_is_read_every_time(tmp_path, opens):
    # A second write within the file system's clock tick would keep its size and times, so an
    # unchanged identity does not prove unchanged bytes for a file that recent.
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"a" * 4096)
    file_sha256(weights)
    assert file_sha256(weights) == hashlib.sha256(b"a" * 4096).hexdigest()
    assert len(opens) == 2


def test_benchmark_reads_a_moved_checkpoint_once(tmp_path, opens, monkeypatch):
    # run_benchmark's order: check_same_model matches the moved file to run.json's SHA-256,
    # then hash_weights takes the SHA-256 to record.
    from pmgsam.evaluation.run_json import check_same_model
    from pmgsam.modeling.checkpoint import hash_weights

    monkeypatch.setattr(io_module, "_SETTLED_NS", 0)
    weights = tmp_path / "moved" / "model.safetensors"
    weights.parent.mkdir()
    _write(weights, b"the weights" * 100, 1_600_000_000 * 10**9)
    sha = hashlib.sha256(b"the weights" * 100).hexdigest()
    meta = {"checkpoint": "runs/A/model.safetensors", "weights_sha256": sha}
    meta["checkpoint_resolved"] = str(tmp_path / "gone" / "model.safetensors")
    (tmp_path / "run.json").write_text(json.dumps({"method": "bench", "meta": meta}))
    check_same_model(tmp_path, weights)  # the same model, moved: not refused
    assert hash_weights(weights).sha256 == sha
    assert opens == [str(weights)]


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
