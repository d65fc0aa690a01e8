"""A COCO GT file pmgsam exported, then saved by Windows Notepad (a UTF-8 byte-order mark),
keeps its recorded instance-label source in a --gt-json row: the scoring read it, but the
source record read it again without dropping the mark and called it another tool's file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pmgsam.evaluation.cos_label_sources import PMGSAM_GT, coco_file_labels

BOM = b"\xef\xbb\xbf"


@pytest.mark.parametrize("mark", [b"", BOM])
def test_the_source_of_an_export_with_a_bom_is_kept(tmp_path: Path, mark: bytes) -> None:
    info = {"description": f"{PMGSAM_GT}nc4k Test", "instance_labels": {"kind": "png"}}
    gt = tmp_path / "Test.gt.json"
    gt.write_bytes(mark + json.dumps({"info": info, "images": [], "annotations": []}).encode())
    record, warning = coco_file_labels(gt)
    assert warning is None
    assert record == {"kind": "png", "path": "", "coco_file": str(gt.resolve())}
