"""Mutation-audit tests for the benchmark tables: every column marks the value that is better by
the metric's meaning (not by the table's own arrow), and the report's output guard."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pmgsam import report
from pmgsam.evaluation.tables import build_tables, pool_te
from pmgsam.utils.outputs import OutputError

# Written from the metrics' definitions, not from the tables module: an error, a correction
# effort, a size, a cost or a memory footprint is better when lower; F, E, S, AP and speed when
# higher; the trainable-parameter count describes a design and is never ranked.
LOWER_IS_BETTER = {"MAE", "HCE", "params_total_M", "flops_G", "peak_memory_MB"}
HIGHER_IS_BETTER = {"maxFm", "wFmeasure", "Smeasure", "meanEm", "AP", "AP50", "AP75", "fps"}
NOT_RANKED = {"params_trainable_M"}


def _runs() -> list:
    """Two methods; 'good' is better than 'bad' on every metric (values far apart)."""
    good, bad = {}, {}
    for key in LOWER_IS_BETTER | HIGHER_IS_BETTER | NOT_RANKED:
        low, high = (0.2, 0.6) if key not in ("HCE",) else (100.0, 900.0)
        if key in ("params_total_M", "flops_G", "peak_memory_MB", "fps", "params_trainable_M"):
            low, high = 10.0, 50.0
        good[key], bad[key] = (low, high) if key not in HIGHER_IS_BETTER else (high, low)
    sections = {}
    for name, vals in (("good", good), ("bad", bad)):
        dis = {k: vals[k] for k in ("maxFm", "wFmeasure", "MAE", "Smeasure", "meanEm", "HCE")}
        cos = {k: vals[k] for k in ("AP", "AP50", "AP75")}
        eff = {k: vals[k] for k in ("params_total_M", "params_trainable_M", "flops_G", "fps")}
        eff.update(peak_memory_MB=vals["peak_memory_MB"], timed_on="cpu, fp32, S=64, batch 1")
        sections[name] = {
            "method": name,
            "dis": {"DIS-TE1": dict(dis, num_images=10)},
            "cos": {"NC4K": dict(cos, num_images=10)},
            "efficiency": eff,
        }
    return [sections["good"], sections["bad"]]


@pytest.mark.parametrize("name", ["dis", "cos", "efficiency"])
def test_every_column_marks_the_better_value_by_the_metrics_meaning(name: str):
    table = build_tables(_runs())[name]
    assert not table.unranked
    cells = table.cell_texts()
    cols = [c for _, group in table.groups for c in group]
    keys = [c.key for c in cols]
    assert set(keys) <= LOWER_IS_BETTER | HIGHER_IS_BETTER | NOT_RANKED
    for j, key in enumerate(keys):
        good_best, bad_best = cells[0][j][1], cells[1][j][1]
        if key in NOT_RANKED:
            assert not good_best and not bad_best, key
        else:
            assert good_best and not bad_best, (key, cells[0][j], cells[1][j])


def _run(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(
        json.dumps({"method": "ours", "dis": {"DIS-TE1": {"maxFm": 0.5, "num_images": 1}}})
    )
    return folder


@pytest.mark.parametrize("kind", ["pred", "premask", "priors"])
def test_report_refuses_to_write_tables_into_a_runs_map_folder(tmp_path: Path, kind: str):
    run = _run(tmp_path / "run")
    maps = run / kind
    maps.mkdir()
    (maps / "img1.png").write_bytes(b"")
    # OutputError itself (any exception naming --out, argparse's usage error included, would
    # have passed before), for the map folder and for a folder inside it.
    for out in (maps, maps / "tables"):
        where = "is" if out == maps else "lies inside"
        words = f"--out '{out}' {where} the input folder '{maps}': the tables would be written"
        with pytest.raises(OutputError, match=re.escape(words)):
            report.main([str(run), "--out", str(out)])
    assert sorted(p.name for p in maps.iterdir()) == ["img1.png"]


def test_overall_leaves_out_a_metric_one_part_lacks():
    # HCE of DIS-TE3 was not computed: pooling the other three over 2000 images would pass a
    # 1500-image mean off as the overall one, so Overall (TE1-4) shows no HCE. The MAE pools
    # by hand: (100 * 0.1 + 200 * 0.2 + 300 * 0.3 + 400 * 0.4) / 1000 = 0.3.
    parts = {
        f"DIS-TE{i}": {"MAE": i / 10, "HCE": 100.0 * i, "num_images": 100 * i} for i in range(1, 5)
    }
    del parts["DIS-TE3"]["HCE"]
    pooled = pool_te(parts)
    assert pooled["num_images"] == 1000
    assert pooled["MAE"] == pytest.approx(0.3)
    assert "HCE" not in pooled
