"""Leftovers of a killed process that the clean-up must tell apart from a user's entries: a
hidden folder named like a temporary file is not deleted (nor does it stop the clean-up), and
the manifest's own temporary does not make the tool's map folder look foreign."""

from __future__ import annotations

import json
from pathlib import Path

from pmgsam.utils.io import remove_stale_temporaries
from pmgsam.utils.outputs import MANIFEST, prepare_output_dir


def test_a_hidden_folder_named_like_a_temporary_is_left_alone(tmp_path: Path) -> None:
    # Only atomic_path's files are temporaries; unlinking a folder raises, and a folder of
    # that name (a user's, another tool's) may hold anything.
    folder = tmp_path / ".cache.pmgsam-0123456789ab.tmp"
    folder.mkdir()
    (folder / "keep.txt").write_text("user data")
    (tmp_path / ".x.png.pmgsam-0123456789ab.tmp").write_bytes(b"half a map")
    removed = remove_stale_temporaries(tmp_path)
    assert [p.name for p in removed] == [".x.png.pmgsam-0123456789ab.tmp"]
    assert (folder / "keep.txt").read_text() == "user data"


def test_a_manifest_temporary_left_by_a_kill_does_not_block_the_rerun(tmp_path: Path) -> None:
    # Killed while the manifest was being replaced: `.pmgsam-outputs.json.pmgsam-<hex>.tmp` is
    # the tool's, so repeating the run needs no --overwrite, and the leftover goes.
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST).write_text(json.dumps({"format": "pmgsam-outputs", "files": ["x.png"]}))
    (out / "x.png").write_bytes(b"map")
    leftover = out / f".{MANIFEST}.pmgsam-9f8e7d6c5b4a.tmp"
    leftover.write_text('{"format": "pmgsam-out')
    prepare_output_dir(out, ["x.png"])
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "x.png"]
