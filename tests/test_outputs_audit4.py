"""Map identities (pmgsam.utils.outputs) in the cases the resume tests leave open: a map the
user deleted is written again by a run that stops before recording it (kept as this tool's,
no warning), a check before a run (no ``warn``) says nothing, a folder without a manifest
gets none from settling, and ``changed_maps`` names only the files asked about that exist."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from pmgsam.utils.outputs import (
    IDENTITIES,
    MANIFEST,
    changed_maps,
    finished_maps,
    prepare_output_dir,
    read_manifest,
    settle_output_dir,
)

PRODUCER = {"weights": "/w/a.safetensors", "weights_sha256": "a" * 64, "maps": "final"}
NAMES = ["a.png", "b.png"]


def _settled(out: Path) -> Path:
    prepare_output_dir(out, NAMES, producer=PRODUCER)
    for name in NAMES:
        (out / name).write_bytes(b"map " + name.encode())
    settle_output_dir(out, NAMES)
    return out


def _newer(path: Path, data: bytes) -> None:
    # Other bytes, two seconds newer (a file system's clock may be coarse).
    old = path.stat().st_mtime_ns if path.exists() else 0
    path.write_bytes(data)
    os.utime(path, ns=(old + 2_000_000_000, old + 2_000_000_000))


def test_a_deleted_map_written_again_by_a_stopped_run_is_kept_without_a_warning(
    tmp_path,
) -> None:
    out = _settled(tmp_path / "pred")
    old = (out / "b.png").stat().st_mtime_ns
    (out / "b.png").unlink()  # deleted by the user: the resumed run predicts it again
    assert finished_maps(out, PRODUCER, warn=True) == {"a.png"}
    prepare_output_dir(out, NAMES, producer=PRODUCER, kept=["a.png"])
    (out / "b.png").write_bytes(b"map b.png, predicted again")  # then the run stopped
    os.utime(out / "b.png", ns=(old + 2_000_000_000, old + 2_000_000_000))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the map is this tool's: no "changed" warning
        assert finished_maps(out, PRODUCER, warn=True) == {"a.png", "b.png"}


def test_a_check_before_the_run_does_not_warn(tmp_path) -> None:
    out = _settled(tmp_path / "pred")
    _newer(out / "b.png", b"another method's map")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert finished_maps(out, PRODUCER) == {"a.png"}


def test_settling_a_folder_without_a_manifest_writes_none(tmp_path) -> None:
    out = tmp_path / "pred"
    out.mkdir()
    (out / "a.png").write_bytes(b"the user's own map")
    settle_output_dir(out, ["a.png"])
    # A manifest would vouch for the user's file as a map this tool wrote.
    assert not (out / MANIFEST).exists()


def test_changed_maps_names_only_changed_files_that_exist(tmp_path) -> None:
    out = _settled(tmp_path / "pred")
    _newer(out / "a.png", b"replaced")
    (out / "b.png").unlink()
    assert changed_maps(out) == ["a.png"]  # b is gone, not changed
    assert changed_maps(out, ["b.png"]) == []  # only the names asked about


def test_settling_records_only_the_maps_the_manifest_lists(tmp_path) -> None:
    out = _settled(tmp_path / "pred")
    (out / "notes.txt").write_text("the user's")
    settle_output_dir(out, [*NAMES, "notes.txt"])
    assert sorted(read_manifest(out)[IDENTITIES]) == NAMES
