"""Benchmark tables' best-value marks and pooled sets: every column marks the better value by
the metric's meaning, and the Overall (TE1-4) set pools its parts by image count (or shows the
set scored as one, or leaves out a metric one part lacks). Table snapshots and run.json
handling are test_tables.py's."""

from __future__ import annotations

import pytest

from pmgsam.evaluation import tables
from pmgsam.evaluation.tables import build_tables, pool_te


def _te(n, curve, mae, hce):
    return {"num_images": n, "MAE": mae, "HCE": hce, "curves": {"fm": curve}}


def test_pool_te_weights_curves_and_means_by_image_count():
    # Unequal sizes, so that a plain mean of the four subsets differs from the pooled one.
    dis = {
        "DIS-TE1": _te(100, [0.9, 0.5], 0.10, 100.0),
        "DIS-TE2": _te(300, [0.5, 0.7], 0.02, 200.0),
        "DIS-TE3": _te(100, [0.9, 0.5], 0.10, 300.0),
        "DIS-TE4": _te(500, [0.5, 0.7], 0.02, 400.0),
    }
    pooled = pool_te(dis)
    # Pooled F curve: (100*.9 + 300*.5 + 100*.9 + 500*.5)/1000 = 0.58,
    #                 (100*.5 + 300*.7 + 100*.5 + 500*.7)/1000 = 0.66 -> max 0.66.
    # (Unweighted curve mean [0.7, 0.6] would give 0.7; weighted mean of maxima 0.74.)
    assert pooled["maxFm"] == pytest.approx(0.66)
    # MAE: (100*.1 + 300*.02 + 100*.1 + 500*.02)/1000 = 36/1000 (unweighted: 0.06).
    assert pooled["MAE"] == pytest.approx(0.036)
    # HCE: (100*100 + 300*200 + 100*300 + 500*400)/1000 = 300 (unweighted: 250).
    assert pooled["HCE"] == pytest.approx(300.0)
    assert pooled["num_images"] == 1000
    assert "wFmeasure" not in pooled  # not given for any subset: nothing to pool
    # One subset without its F curve: maxF cannot be pooled (the others' curves alone
    # would be a different set of images), while the per-image means still can.
    del dis["DIS-TE3"]["curves"]
    pooled = pool_te(dis)
    assert "maxFm" not in pooled and pooled["MAE"] == pytest.approx(0.036)


def test_scored_overall_entry_wins_over_pooling_its_parts():
    # A run scored DIS-TE1-4 as one set and also has the parts, without F curves: the table
    # must show the one-set scores, not pool the parts (which here cannot even give maxF).
    parts = {k: _te(500, None, 0.05, 1000.0) for k in tables.TE_PARTS}
    for p in parts.values():
        del p["curves"]
    overall = {"maxFm": 0.8, "MAE": 0.04, "HCE": 900.0, "num_images": 2000}
    table = tables.dis_table([{"method": "m", "dis": {**parts, "DIS-TE1-4": overall}}])
    vals = table.rows[0][1]
    assert vals[("Overall (TE1-4)", "maxFm")] == 0.8
    assert vals[("Overall (TE1-4)", "MAE")] == 0.04
    assert vals[("Overall (TE1-4)", "HCE")] == 900.0


# Written from the metrics' definitions, not from the tables module: an error, a correction
# effort, a size, a cost or a memory footprint is better when lower; F, E, S, AP and speed when
# higher; the trainable-parameter count describes a design and is never ranked.
LOWER_IS_BETTER = {"MAE", "HCE", "params_total_M", "flops_G", "peak_memory_MB"}

HIGHER_IS_BETTER = {"maxFm", "wFmeasure", "Smeasure", "meanEm", "AP", "AP50", "AP75", "fps"}

NOT_RANKED = {"params_trainable_M"}


def _good_and_bad_runs() -> list:
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
    table = build_tables(_good_and_bad_runs())[name]
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
