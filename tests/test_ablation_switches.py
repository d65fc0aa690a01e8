"""Each shipped ablation config sets the switch value its Table 4 row or Fig. 9 point names.

The expected values are written out by hand from DESIGN.md (defaults K=3, M=4, N=2
bidirectional, BCE:Dice:IoU = 1:1:10, DRFM fusion, Hiera high-res) and the paper's section
4.7 (Table 4 groups (a) fusion none / residual and (b) high-res none / U²-Net / both, on
DIS-TE1-4; Fig. 9 sweeps of K, M, N with a unidirectional BAIM, and IoU weights 5, 10, 15).
"""

from __future__ import annotations

from functools import reduce
from pathlib import Path
from typing import Any

import pytest

from pmgsam.ablate import load_grid
from pmgsam.engine.config import ExperimentConfig
from pmgsam.utils.config import load_config

GRID = Path(__file__).resolve().parents[1] / "configs" / "ablations"
DEFAULTS = {
    "model.fusion": "drfm",
    "model.high_res": "hiera",
    "model.drfm_blocks": 3,
    "model.srb_iterations": 4,
    "model.decoder_depth": 2,
    "model.bidirectional": True,
    "loss.iou_weight": 10.0,
}
SWITCHES = {
    "full": {},
    "fusion_none": {"model.fusion": "none"},
    "fusion_residual": {"model.fusion": "residual"},
    "highres_none": {"model.high_res": "none"},
    "highres_u2net": {"model.high_res": "u2net"},
    "highres_both": {"model.high_res": "both"},
    **{f"drfm_k{k}": {"model.drfm_blocks": k} for k in (1, 2, 4, 5)},
    **{f"srb_m{m}": {"model.srb_iterations": m} for m in (2, 3, 5, 6)},
    "baim_n1": {"model.decoder_depth": 1},
    "baim_n3": {"model.decoder_depth": 3},
    "baim_uni": {"model.bidirectional": False},
    "loss_iou5": {"loss.iou_weight": 5.0},
    "loss_iou15": {"loss.iou_weight": 15.0},
}


def _value(cfg: ExperimentConfig, key: str) -> Any:
    return reduce(getattr, key.split("."), cfg)


@pytest.fixture(scope="module")
def grid():
    return load_grid(GRID)


def test_every_variant_sets_its_named_value_and_keeps_the_other_defaults(grid) -> None:
    _, paths = grid
    assert set(paths) == set(SWITCHES)
    for name, switch in SWITCHES.items():
        cfg = load_config(ExperimentConfig, paths[name])
        expected = {**DEFAULTS, **switch}
        assert {k: _value(cfg, k) for k in DEFAULTS} == expected, name


def test_table_rows_are_table_4_in_order_with_their_labels(grid) -> None:
    spec, _ = grid
    assert spec.splits == "DIS-TE"  # the combined DIS-TE1-4, as the paper's ablations
    rows = [(r.config, r.label) for r in spec.table.rows]
    assert rows == [
        ("fusion_none", "(a) No fusion"),
        ("fusion_residual", "(a) Residual fusion"),
        ("highres_none", "(b) No high-res features"),
        ("highres_u2net", "(b) High-res from U²-Net"),
        ("highres_both", "(b) High-res from Hiera + U²-Net"),
        ("full", "PMG-SAM (DRFM + Hiera high-res)"),
    ]


def test_fig_9_plots_sweep_their_key_through_the_default(grid) -> None:
    spec, paths = grid
    xs = {
        (plot.name, plot.key, s.label): [
            _value(load_config(ExperimentConfig, paths[c]), plot.key) for c in s.configs
        ]
        for plot in spec.plots
        for s in plot.series
    }
    assert xs == {
        ("fig9a_drfm_blocks", "model.drfm_blocks", "PMG-SAM"): [1, 2, 3, 4, 5],
        ("fig9b_srb_iterations", "model.srb_iterations", "PMG-SAM"): [2, 3, 4, 5, 6],
        ("fig9c_baim_blocks", "model.decoder_depth", "bidirectional"): [1, 2, 3],
        ("fig9c_baim_blocks", "model.decoder_depth", "unidirectional"): [2],
        ("fig9d_loss_weights", "loss.iou_weight", "PMG-SAM"): [5.0, 10.0, 15.0],
    }
    uni = next(s for p in spec.plots for s in p.series if s.label == "unidirectional")
    assert [_value(load_config(ExperimentConfig, paths[c]), "model.bidirectional") for c in
            uni.configs] == [False]  # fmt: skip
