"""record_failures (a --keep-going run's record of its unreadable inputs) in an output folder
whose manifest is gone or unreadable by then (deleted or damaged while the run went on)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pmgsam.engine.unreadable import record_failures
from pmgsam.utils.outputs import MANIFEST


@pytest.mark.parametrize("manifest", [None, b"{not json"])
def test_a_folder_without_a_readable_manifest_is_left_as_it_is(
    tmp_path: Path, manifest: bytes
) -> None:
    """Nothing vouches for its files, so none is taken for a stale map and removed, and no
    manifest is made up or written over."""
    (tmp_path / "a.png").write_bytes(b"a user's file")
    if manifest is not None:
        (tmp_path / MANIFEST).write_bytes(manifest)
    record_failures(tmp_path, {"a": "truncated"})
    assert (tmp_path / "a.png").read_bytes() == b"a user's file"
    names = {"a.png", MANIFEST} if manifest is not None else {"a.png"}
    assert {p.name for p in tmp_path.iterdir()} == names
    if manifest is not None:
        assert (tmp_path / MANIFEST).read_bytes() == manifest
