"""pmgsam.utils.io: where the temporary of an atomic write lies, which files count as (and are
cleared as) its leftovers, and the SHA-256 that manifests record of a weights file."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import torch

from pmgsam.utils import io as io_module
from pmgsam.utils.io import (
    atomic_path,
    current_umask,
    file_sha256,
    is_temporary,
    remove_stale_temporaries,
)


def test_the_temporary_lies_beside_the_file_it_replaces(tmp_path: Path) -> None:
    # os.replace is atomic (and possible at all) only within one file system: same folder.
    target = tmp_path / "maps" / "x.png"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and is_temporary(tmp.name)
        tmp.write_bytes(b"map")
    assert target.read_bytes() == b"map"
    assert [p.name for p in target.parent.iterdir()] == ["x.png"]


def test_only_hidden_marked_tmp_files_are_temporaries(tmp_path: Path) -> None:
    names = {".model.safetensors.pmgsam-0123456789ab.tmp": True, "notes.tmp": False,
             ".model.safetensors.k3j2.tmp": False, ".gitignore": False, "x.png": False,
             ".x.png": False}  # fmt: skip
    assert {n: is_temporary(n) for n in names} == names
    for name in names:
        (tmp_path / name).write_text("user data")
    removed = remove_stale_temporaries(tmp_path)
    assert [p.name for p in removed] == [".model.safetensors.pmgsam-0123456789ab.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        n for n, t in names.items() if not t
    )


def test_file_sha256_is_hashlibs_over_the_whole_file(tmp_path: Path) -> None:
    # Weights files are hundreds of MB, read in 1 MiB blocks: two files differing only past
    # the first block must hash apart, or a resumed run keeps maps of other weights.
    data = np.random.default_rng(0).integers(0, 256, 3 * (1 << 20) + 123, np.uint8).tobytes()
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(data)
    b.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    assert file_sha256(a) == hashlib.sha256(data).hexdigest()
    assert file_sha256(b) == hashlib.sha256(b.read_bytes()).hexdigest() != file_sha256(a)


def test_a_replaced_file_gets_the_mode_the_umask_gives(tmp_path: Path) -> None:
    old = os.umask(0o002)  # group-writable, as on a shared project folder
    try:
        with atomic_path(tmp_path / "x.png") as tmp:
            tmp.write_bytes(b"map")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "x.png").stat().st_mode) == 0o664  # 0o666 & ~0o002


def _has_umask_line() -> bool:
    try:
        return "Umask:" in Path(io_module.PROCESS_STATUS).read_text()
    except OSError:
        return False


@pytest.mark.skipif(not _has_umask_line(), reason="the kernel shows no Umask in /proc")
def test_the_umask_is_read_without_setting_it(monkeypatch) -> None:
    # Setting it is process-wide: the map writer's threads reading it by setting and restoring
    # could interleave and leave the process (and a file made meanwhile) with the wrong one.
    old = os.umask(0o027)
    try:
        with monkeypatch.context() as patch:
            patch.setattr(os, "umask", lambda mask: pytest.fail("os.umask was called"))
            assert current_umask() == 0o027
    finally:
        os.umask(old)


def test_without_proc_the_umask_is_read_and_set_back(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(io_module, "PROCESS_STATUS", str(tmp_path / "none"))
    old = os.umask(0o007)
    try:
        assert current_umask() == 0o007 and current_umask() == 0o007
    finally:
        os.umask(old)


def test_maps_written_by_threads_follow_the_umask_and_leave_it(tmp_path) -> None:
    from pmgsam.engine.map_writer import MapWriter

    old = os.umask(0o027)
    try:
        with MapWriter(4) as maps:
            for k in range(40):
                maps.write(torch.zeros(8, 8), tmp_path / f"{k}.png")
        assert current_umask() == 0o027
    finally:
        os.umask(old)
    modes = {stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes == {0o640}
