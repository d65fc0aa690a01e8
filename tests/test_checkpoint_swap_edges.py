"""The checkpoint folder swap (pmgsam.engine.state.save_checkpoint) beyond what a kill test can
see: the new files reach the disk before the rename that makes them ``last``."""

from __future__ import annotations

import os
from pathlib import Path

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

    monkeypatch.setattr(state_mod, "_fsync", lambda path: events.append(("fsync", path.name)))
    monkeypatch.setattr(os, "rename", rename)
    save_checkpoint(last, tiny_model, {"epoch": 2})
    assert events.index(("rename", "last")) > max(
        events.index(("fsync", STATE_FILE)), events.index(("fsync", MODEL_FILE))
    ), events
