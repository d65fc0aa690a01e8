"""Mutation audit: pmgsam.utils.folder_lock.locked_folder, seen from another open of the folder.

flock locks belong to an open file description, so a second ``os.open`` of the folder in this
process contends with the lock as another command's would: ``LOCK_NB`` fails while it is held.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from pmgsam.utils import folder_lock
from pmgsam.utils.folder_lock import locked_folder

fcntl = pytest.importorskip("fcntl")


def _is_locked(folder: Path) -> bool:
    """Whether another writer would have to wait for ``folder`` (opened by its real path)."""
    fd = os.open(os.path.realpath(folder), os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_the_folder_is_locked_in_the_block_only(tmp_path):
    assert not _is_locked(tmp_path)
    with locked_folder(tmp_path):
        assert _is_locked(tmp_path)
    assert not _is_locked(tmp_path)


def test_a_failing_block_releases_the_lock(tmp_path):
    # A write that fails (a full disk) must not leave the run locked for this process's next
    # write: flock on a second descriptor of the same process would wait for ever.
    with pytest.raises(OSError, match="disk full"):
        with locked_folder(tmp_path):
            raise OSError(errno.ENOSPC, "disk full")
    assert not _is_locked(tmp_path)
    with locked_folder(tmp_path):  # taken again, not waiting on the first
        assert _is_locked(tmp_path)


def test_a_run_folder_given_through_a_symlink_locks_the_folder_itself(tmp_path):
    # One command given results/latest -> results/run7, another results/run7: one lock.
    real = tmp_path / "run7"
    real.mkdir()
    (tmp_path / "latest").symlink_to(real, target_is_directory=True)
    with locked_folder(tmp_path / "latest"):
        assert _is_locked(real)
    assert not _is_locked(real)


def test_a_relative_folder_is_locked(tmp_path, monkeypatch):
    (tmp_path / "row").mkdir()
    monkeypatch.chdir(tmp_path)
    with locked_folder("row"):
        assert _is_locked(tmp_path / "row")


def test_a_folder_that_cannot_be_opened_runs_the_block_unlocked(tmp_path, monkeypatch):
    # A folder without read permission (root ignores permissions, hence the stand-in): the
    # write goes ahead unlocked, and says itself whatever stops it.
    def refuse(path, flags, *rest):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(folder_lock.os, "open", refuse)
    ran = []
    with locked_folder(tmp_path):
        ran.append(True)
    assert ran == [True]
