"""The checkpoint folder swap (pmgsam.engine.state.save_checkpoint) beyond what a kill test can
see: the new files reach the disk before the rename that makes them ``last``; and a failed write
of a weights file (save_model) leaves the previous file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pmgsam.engine import state as state_mod
from pmgsam.engine.state import MODEL_FILE, STATE_FILE, save_checkpoint


def test_both_files_are_synced_before_the_folder_is_renamed_into_place(
    tmp_path: Path, tiny_model, monkeypatch
) -> None:
    # After a power loss a rename can survive while unsynced data does not: `last` would then
    # hold empty files where the previous complete checkpoint was.
    last = tmp_path / "checkpoints" / "last"
    save_checkpoint(last, tiny_model, {"epoch": 1})
    events = []
    real_rename = os.rename

    def rename(src, dst):
        events.append(("rename", Path(dst).name))
        real_rename(src, dst)

    monkeypatch.setattr(state_mod, "sync_file", lambda path: events.append(("fsync", path.name)))
    monkeypatch.setattr(os, "rename", rename)
    save_checkpoint(last, tiny_model, {"epoch": 2})
    assert events.index(("rename", "last")) > max(
        events.index(("fsync", STATE_FILE)), events.index(("fsync", MODEL_FILE))
    ), events


def test_a_failed_weights_write_keeps_the_previous_file(tmp_path: Path, tiny_model, monkeypatch):
    # A weights file given to save_model (e.g. an exported model) is replaced only by a
    # complete one: a disk filling up mid-write leaves the previous file.
    from pmgsam.modeling import checkpoint as checkpoint_mod
    from pmgsam.modeling.checkpoint import save_model

    path = tmp_path / "export" / MODEL_FILE
    save_model(tiny_model, path)
    before = path.read_bytes()

    def disk_full(state, filename, metadata=None):
        Path(filename).write_bytes(before[:100])
        raise OSError("No space left on device")

    monkeypatch.setattr(checkpoint_mod, "save_file", disk_full)
    with pytest.raises(OSError, match="No space"):
        save_model(tiny_model, path)
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == [MODEL_FILE]
