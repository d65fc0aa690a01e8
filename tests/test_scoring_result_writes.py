"""A scoring that fails while writing its results (a full disk, a kill) leaves the earlier
``<split>.json`` whole, and never a new summary beside the per-image values of an earlier
scoring: ``pmgsam.ablate`` keeps scores read from that file, and the figures read the CSV."""

from __future__ import annotations

import errno
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from pmgsam.evaluation.dis_results import write_dis_results


def _row(name: str) -> SimpleNamespace:
    return SimpleNamespace(
        fm_curve=[0.5, 0.5], em_curve=[0.5, 0.5], row=lambda: {"name": name, "MAE": 0.1}
    )


def _earlier(tmp_path: Path) -> Path:
    out = tmp_path / "metrics" / "DIS-VD.json"
    write_dis_results(out, {"num_images": 1, "MAE": 0.1}, [_row("old")], {"split": "DIS-VD"})
    return out


def test_a_failed_summary_write_keeps_the_earlier_summary_whole(tmp_path, monkeypatch) -> None:
    out = _earlier(tmp_path)
    before = out.read_text()
    real = Path.write_text

    def half(self: Path, text: str, *args, **kwargs) -> int:
        real(self, text[: len(text) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", half)
    with pytest.raises(OSError, match="No space left"):
        write_dis_results(out, {"num_images": 2, "MAE": 0.3}, [_row("a"), _row("b")])
    monkeypatch.undo()
    assert out.read_text() == before
    assert sorted(p.name for p in out.parent.iterdir()) == [
        "DIS-VD.json", "DIS-VD.per_image.csv"
    ]  # fmt: skip


def test_a_failed_per_image_write_leaves_the_earlier_summary(tmp_path) -> None:
    out = _earlier(tmp_path)

    def broken() -> dict:
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        write_dis_results(out, {"num_images": 2, "MAE": 0.3}, [_row("a"), SimpleNamespace(
            fm_curve=[0.5, 0.5], em_curve=[0.5, 0.5], row=broken)])  # fmt: skip
    # The summary still describes the per-image file beside it (the earlier scoring's).
    assert json.loads(out.read_text())["num_images"] == 1
    assert "old" in (out.parent / "DIS-VD.per_image.csv").read_text()
