"""DIS results written for a scoring without per-image rows: the CSV still has its header, so
that a reader (csv.DictReader, pandas) sees a table of no images rather than a blank file."""

from __future__ import annotations

import csv
import json

from pmgsam.evaluation.dis_results import write_dis_results


def test_no_per_image_rows_leave_a_csv_with_its_name_column(tmp_path) -> None:
    out, side = write_dis_results(tmp_path / "m.json", {"num_images": 0}, [])
    assert side.name == "m.per_image.csv"
    with side.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == ["name"] and list(reader) == []
    payload = json.loads(out.read_text(encoding="utf-8"))
    assert payload["per_image_file"] == "m.per_image.csv" and "curves" not in payload
