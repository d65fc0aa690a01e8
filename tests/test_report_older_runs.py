"""``pmgsam.report`` over run folders written before the ground-truth record (b9d6656's
format, written here by hand as that version wrote them) beside rows that record theirs: the
older row's scores are tabled as written, a note says they were not checked, and one note says
how to record them (someone who upgraded in the middle of a project learns it nowhere else)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from pmgsam.report import main as report

SCORES = {"maxFm": 0.2795, "wFmeasure": 0.2629, "MAE": 0.5243, "Smeasure": 0.3506}
SCORES.update({"meanEm": 0.3454, "HCE": 44.5, "num_images": 2})


def _run(folder: Path, method: str, entry: dict, meta: dict) -> Path:
    folder.mkdir()
    data = {"method": method, "dis": {"DIS-TE1": entry}, "meta": meta}
    (folder / "run.json").write_text(json.dumps(data, indent=2))
    return folder


def test_an_older_row_beside_a_recorded_one_is_kept_noted_and_told_how_to_record(tmp_path):
    # As b9d6656's benchmark mode wrote it: no ground_truth in the entry.
    older = _run(
        tmp_path / "bench_old",
        "bench_old",
        {**SCORES, "per_image_file": "DIS-TE1.per_image.csv", "split": "DIS-TE1"},
        {"config": "tiny.yaml", "checkpoint": "runs/A", "overrides": ["data.dataset=dis5k"]},
    )
    record = {"fingerprint": "ab" * 32, "images": 2, "source": "/data2/DIS5K/DIS-TE1/gt"}
    newer = {**SCORES, "MAE": 0.516, "split": "DIS-TE1", "ground_truth": record}
    recorded = _run(tmp_path / "bench_new", "NEW", newer, {"checkpoint": "runs/A"})
    out = tmp_path / "tables"
    assert report([str(older), str(recorded), "--out", str(out)]) == 0
    rows = {r["method"]: r for r in csv.DictReader((out / "dis.csv").open())}
    assert (rows["bench_old"]["DIS-TE1 MAE↓"], rows["NEW"]["DIS-TE1 MAE↓"]) == ("0.524", "0.516")
    text = (out / "dis.md").read_text()
    assert "DIS-TE1: the ground truth of bench_old is not recorded" in text
    assert "benchmark or baseline mode's command again with --skip-existing" in text
    assert "pmgsam.ablate --evaluate" in text


def test_no_record_note_where_every_row_is_older(tmp_path):
    meta = {"checkpoint": "runs/A"}
    one = _run(tmp_path / "one", "one", dict(SCORES), meta)
    two = _run(tmp_path / "two", "two", dict(SCORES), meta)
    out = tmp_path / "tables"
    assert report([str(one), str(two), "--out", str(out)]) == 0
    assert "--skip-existing" not in (out / "dis.md").read_text()
