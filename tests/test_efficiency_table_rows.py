"""The efficiency table has rows only for runs that were measured (pmgsam.evaluation.tables)."""

from __future__ import annotations

from pmgsam.evaluation.table_rendering import to_markdown
from pmgsam.evaluation.tables import build_tables


def test_runs_without_efficiency_figures_get_no_row_and_the_others_still_rank() -> None:
    timed = "cpu, fp32, S=128, batch 1"
    runs = [
        {"method": "big", "efficiency": {"params_total_M": 20.0, "fps": 5.0, "timed_on": timed}},
        {"method": "scored only", "cos": {"COD10K": {"AP": 0.2, "num_images": 3}}},
        {"method": "small", "efficiency": {"params_total_M": 10.0, "fps": 8.0, "timed_on": timed}},
        {"method": "empty entry", "efficiency": {}, "cos": {"COD10K": {"AP": 0.1}}},
    ]
    table = build_tables(runs)["efficiency"]
    assert [method for method, _ in table.rows] == ["big", "small"]
    lines = to_markdown(table).splitlines()
    # Before, "| scored only | – | – | – | – | – |" stood between them.
    rows = [line for line in lines if line.startswith("| ") and "Method" not in line]
    assert rows == [
        "| big | 20.0 | – | – | 5.00 | – |",
        "| small | **10.0** | – | – | **8.00** | – |",
    ]
    left_out = "Not measured, so not in this table: scored only, empty entry ("
    assert table.notes[-1].startswith(left_out)
    # No run measured: no efficiency table at all, as before.
    assert "efficiency" not in build_tables([runs[1], runs[3]])
