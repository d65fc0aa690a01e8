"""What the map writer and the inference modules promise a user, pinned where no test did:
a failed write never leaves a truncated map under the map's name."""

from __future__ import annotations

import errno
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from pmgsam.engine.prediction_maps import write_probability_png


def _fail_half_way(monkeypatch) -> None:
    """Every write puts half its bytes down, then the disk is full."""
    real = Path.write_bytes

    def half(self: Path, data: bytes) -> int:
        real(self, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", half)


def test_a_failed_write_keeps_the_earlier_map_whole(tmp_path, monkeypatch) -> None:
    path = tmp_path / "a.png"
    write_probability_png(torch.full((6, 5), 0.25), path)
    before = path.read_bytes()
    _fail_half_way(monkeypatch)
    with pytest.raises(OSError, match=r"could not write prediction '.*a\.png': No space left"):
        write_probability_png(torch.full((6, 5), 0.75), path)
    monkeypatch.undo()
    assert path.read_bytes() == before  # a resumed run may keep it: it must be whole
    assert (cv2.imread(str(path), cv2.IMREAD_UNCHANGED) == round(0.25 * 255)).all()
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]  # no temporary left


def test_a_failed_first_write_leaves_no_map(tmp_path, monkeypatch) -> None:
    _fail_half_way(monkeypatch)
    with pytest.raises(OSError, match="could not write prediction"):
        write_probability_png(torch.from_numpy(np.ones((4, 4), np.float32)), tmp_path / "b.png")
    assert list(tmp_path.iterdir()) == []  # a truncated b.png would pass for a finished map
