"""figures' failure sheet list (``failures_<split>_<by>.txt``) writes an image name that is not
UTF-8 ('café' in Latin-1, held as 'caf\\udce9') as its bytes, as the scoring's per-image file
does: it raised UnicodeEncodeError with a traceback after the figures were drawn."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
from test_figure_pixels import _runs, _split

from pmgsam.analysis import figures
from tests.cli_cases import figures_args

pytestmark = pytest.mark.usefixtures("one_thread")


def test_the_failure_list_keeps_a_name_that_is_not_utf8(tmp_path: Path, monkeypatch) -> None:
    images = _split(tmp_path)
    names = [os.fsdecode(b"caf\xe9_" + str(k).encode()) for k in range(len(images.names))]
    images = dataclasses.replace(images, names=names)
    runs = _runs(tmp_path)
    monkeypatch.setattr(figures, "draw_grid", lambda rows, headers, path, *a, **k: path)
    monkeypatch.setattr(figures, "split_images", lambda config, split, overrides: images)
    figures.figures_report(figures_args(runs, tmp_path / "f", worst=3), [])
    listed = (tmp_path / "f" / "failures_S_iou.txt").read_bytes().splitlines()
    assert sorted(line.split(b"\t")[0] for line in listed) == [
        b"caf\xe9_0",
        b"caf\xe9_1",
        b"caf\xe9_2",
    ]
