"""DataLoader workers of a command print warnings in the command's one-line format, also when
they are started by ``spawn`` (macOS's default), which gives them Python's own format."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from torch.utils.data import DataLoader

from pmgsam.data import io, mask_warnings
from pmgsam.utils.cli import exit_status
from pmgsam.utils.messages import FilesNamedOnce


def _label_mask(path: Path) -> Path:
    cv2.imwrite(str(path), np.eye(8, dtype=np.uint8))  # 0/1 labels: load_mask warns
    return path


def test_a_spawned_worker_of_a_command_prints_a_warning_as_one_line(
    tmp_path: Path, capfd: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before, the worker printed Python's format: "<...>/io.py:<line>: MaskValueWarning: ..."
    # and then the source line ("    warnings.warn(message, MaskValueWarning, ...)").
    # A fresh run: earlier tests may have named the file (or one of the same CRC).
    monkeypatch.setattr(mask_warnings, "_NAMED", FilesNamedOnce())
    mask = _label_mask(tmp_path / "labels.png")

    def main(argv: list) -> int:
        # batch_size=None hands each path to load_mask in the worker (one spawn: ~2 s).
        loader = DataLoader(
            [str(mask)],
            batch_size=None,
            collate_fn=io.load_mask,
            num_workers=1,
            multiprocessing_context="spawn",
            worker_init_fn=io.worker_warnings_init(),
        )
        assert [int(m.max()) for m in loader] == [255]
        return 0

    assert exit_status(main, []) == 0
    lines = capfd.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("WARNING: ") and lines[0].endswith(" [MaskValueWarning]")
    assert str(mask) in lines[0] and "0/1 labels" in lines[0]


def test_the_worker_init_made_outside_a_command_keeps_python_format() -> None:
    before = warnings.formatwarning
    io.worker_warnings_init()(0)  # as a worker of library code calls it
    assert warnings.formatwarning is before
    assert "WARNING:" not in warnings.formatwarning("m", UserWarning, "f.py", 3, "x = 1")
