"""The ablation driver on small hand-written grids: which configs a grid names, which keys
they switch, which scores go into the table and plots (when a kept score is redone:
tests/test_ablate_rescoring.py).
Nothing is trained here (tests/test_ablate.py runs the whole CLI once)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any, Dict, List

import pytest
from ablate_cases import write_grid

import pmgsam.ablate as ablate
from pmgsam.evaluation.scoring import EvaluationInputError
from pmgsam.utils.config import ConfigError

GRID = """
splits: DIS-TE
table:
  title: "My ablation"
  rows:
    - {config: zeta, label: "(z) Zeta"}
    - {config: alpha, label: "(a) Alpha"}
plots:
  - name: fig_k
    title: "K sweep"
    key: model.drfm_blocks
    xlabel: K
    series:
      - {label: line, configs: [k1, alpha, k5]}
      - {label: lonely, configs: [k5b]}
"""
CONFIGS = {
    "zeta": "model:\n  fusion: none\n",
    "alpha": "output_dir: somewhere\n",
    "k1": "model:\n  drfm_blocks: 1\n",
    "k5": "model:\n  drfm_blocks: 5\n  srb_iterations: 2\n",
    "k5b": "model:\n  drfm_blocks: 5\n",
    "unused": "model:\n  drfm_blocks: 7\n",
}


@pytest.fixture
def grid(tmp_path: Path) -> Path:
    return write_grid(tmp_path / "grid", GRID, CONFIGS)


def test_grid_names_its_configs_in_order_of_appearance(grid: Path) -> None:
    spec, paths = ablate.load_grid(grid)
    # Table rows first, then plot configs; "alpha" appears twice, "unused" in no row or plot.
    assert spec.config_names() == ["zeta", "alpha", "k1", "k5", "k5b"]
    assert list(paths) == ["zeta", "alpha", "k1", "k5", "k5b"]
    assert paths["k5"] == grid / "k5.yaml"
    (grid / "k1.yaml").unlink()
    with pytest.raises(ConfigError, match=r"names configs not in .*\['k1'\]"):
        ablate.load_grid(grid)


def test_grid_folder_without_grid_file_or_with_a_bad_one_is_named(grid: Path) -> None:
    grid_file = grid / "grid.yaml"
    grid_file.write_text("splits: DIS-TE\ntabel: {}\n")
    with pytest.raises(ConfigError, match=r"unknown config key\(s\) 'tabel'.*\(.*grid\.yaml\)$"):
        ablate.load_grid(grid)
    # A row without its label: a ConfigError naming the key and the file (was a TypeError).
    grid_file.write_text("table:\n  rows:\n    - {config: zeta}\n")
    with pytest.raises(ConfigError, match=r"'table.rows\[0\].label'.*\(.*grid\.yaml\)$"):
        ablate.load_grid(grid)
    grid_file.unlink()
    with pytest.raises(ConfigError, match=re.escape(f"grid folder '{grid}' has no grid.yaml")):
        ablate.load_grid(grid)


def test_switched_keys_are_dotted_without_base_or_output_dir(grid: Path) -> None:
    (grid / "based.yaml").write_text("base: zeta.yaml\nmodel:\n  high_res: none\n")
    assert ablate.switched_keys(grid / "k5.yaml") == ["model.drfm_blocks", "model.srb_iterations"]
    assert ablate.switched_keys(grid / "alpha.yaml") == []
    assert ablate.switched_keys(grid / "based.yaml") == ["model.high_res"]
    _, paths = ablate.load_grid(grid)
    ablate.check_overrides(paths, ["model.high_res=none", "output_dir=x"])  # switched by none
    with pytest.raises(ConfigError, match=r"'model\.srb_iterations'.*config 'k5'"):
        ablate.check_overrides(paths, [" model.srb_iterations =3"])


def _scores(mae: float) -> Dict[str, float]:
    return {"maxFm": 0.9, "wFmeasure": 0.8, "MAE": mae, "Smeasure": 0.85, "meanEm": 0.9}


def _run_json(out: Path, config: str, dis: Dict[str, Any]) -> None:
    (out / config).mkdir(parents=True, exist_ok=True)
    (out / config / "run.json").write_text(json.dumps({"method": config, "dis": dis}))


def test_outputs_use_the_combined_scores_labels_and_resolved_x(grid, tmp_path, monkeypatch):
    import pmgsam.analysis.plots as plots

    drawn: List[Any] = []
    monkeypatch.setattr(
        plots, "line_panels", lambda *a: drawn.append(a) or Path(a[-1])
    )  # fmt: skip
    spec, paths = ablate.load_grid(grid)
    out = tmp_path / "out"
    # DIS-TE is scored as one set named DIS-TE1-4; a per-subset entry must not be read.
    _run_json(out, "alpha", {"DIS-TE1-4": _scores(0.05), "DIS-TE1": _scores(0.5)})
    _run_json(out, "k1", {"DIS-TE1-4": _scores(0.07)})
    _run_json(out, "k5", {"DIS-TE1-4": _scores(0.04)})
    _run_json(out, "zeta", {"DIS-TE1": _scores(0.5)})  # not the grid's split: unscored
    # x is the resolved config's value: alpha sets no model.drfm_blocks, so the default 3.
    ablate.write_outputs(spec, paths, out, ["train.device=cpu"])
    with (out / "ablation.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["method"] for r in rows] == ["(z) Zeta", "(a) Alpha"]
    mae = [k for k in rows[0] if "MAE" in k]
    assert len(mae) == 1 and "TE1-4" in mae[0]
    assert rows[0][mae[0]] in ("", "–") and float(rows[1][mae[0]]) == pytest.approx(0.05)
    assert "My ablation" in (out / "ablation.md").read_text()
    # One figure; the series whose only config is unscored is left out.
    assert len(drawn) == 1
    series, metrics, xlabel, title, path = drawn[0]
    assert list(series) == ["line"]
    assert [(x, s["MAE"]) for x, s in series["line"]] == [(1, 0.07), (3, 0.05), (5, 0.04)]
    assert xlabel == "K" and title == "K sweep (DIS-TE1-4)" and path == out / "fig_k.png"
    assert metrics == ablate.PLOT_METRICS


def test_interrupted_training_is_resumed(grid, tmp_path, monkeypatch) -> None:
    import pmgsam.engine.state as state
    import pmgsam.engine.trainer as trainer

    calls: List[Any] = []

    def experiment_config(path, overrides, **kwargs):
        calls.append(("config", kwargs))
        return "cfg"

    class FakeTrainer:
        data_sample_fingerprint = "data-A"

        def __init__(self, cfg, resume=None):
            calls.append(("trainer", resume))

        def fit(self):
            return {"epochs_completed": 1}

    monkeypatch.setattr(state, "experiment_config", experiment_config)
    monkeypatch.setattr(trainer, "Trainer", FakeTrainer)
    train_dir = tmp_path / "out" / "k5" / "train"
    last = state.checkpoint_dir(train_dir, "last")
    last.mkdir(parents=True)
    (last / state.STATE_FILE).write_bytes(b"")
    ablate.train_variant(grid / "k5.yaml", train_dir.parent, [])
    assert calls == [("config", {"resume": train_dir}), ("trainer", train_dir)]
    done = json.loads((train_dir / ablate.DONE_FILE).read_text())
    assert done == {"epochs_completed": 1, "data_sample_fingerprint": "data-A"}
    ablate.train_variant(grid / "k5.yaml", train_dir.parent, [])  # finished: skipped
    assert len(calls) == 2


def test_cli_passes_row_labels_and_the_split_option(grid, tmp_path, monkeypatch, capsys) -> None:
    evaluated: List[tuple] = []

    def evaluate_variant(path, run_dir, label, splits, overrides, opts):
        evaluated.append((path.stem, run_dir, label, splits))

    monkeypatch.setattr(ablate, "evaluate_variant", evaluate_variant)
    out = tmp_path / "out"
    args = ["--grid", str(grid), "--output-dir", str(out), "--evaluate", "--device", "cpu"]
    assert ablate.main(args + ["--only", "k1,alpha", "--splits", "DIS-TE1"]) == 0
    # A table row is scored under its label, a plot-only config under its name.
    assert evaluated == [
        ("k1", out / "k1", "k1", "DIS-TE1"),
        ("alpha", out / "alpha", "(a) Alpha", "DIS-TE1"),
    ]
    printed = capsys.readouterr().out
    assert "(a) Alpha" in printed  # the table, from the results so far
    assert "scored on DIS-TE1, not DIS-TE1-4" in printed  # the caption says what was scored
    with pytest.raises(ConfigError, match=r"--only names configs not in the grid: \['unused'\]"):
        ablate.main(args + ["--only", "k1,unused"])


def test_plot_key_must_name_a_config_value() -> None:
    resolved = {"model": {"drfm_blocks": 3}}
    assert ablate._dotted(resolved, "model.drfm_blocks") == 3
    for key in ("model.drfm", "model.drfm_blocks.k", "loss"):
        with pytest.raises(ConfigError, match=f"plot key '{key}' is not a config key"):
            ablate._dotted(resolved, key)


def test_unreadable_run_json_is_named(grid, tmp_path) -> None:
    spec, paths = ablate.load_grid(grid)
    (tmp_path / "out" / "k1").mkdir(parents=True)
    (tmp_path / "out" / "k1" / "run.json").write_text("{cut short")
    with pytest.raises(EvaluationInputError, match=r"cannot read run file '.*k1.run\.json'"):
        ablate.write_outputs(spec, paths, tmp_path / "out", [])


def _finished(grid: Path, out: Path, name: str, overrides: List[str]) -> Path:
    """A variant 'trained' under ``out`` with ``overrides``: its saved config and done file."""
    from pmgsam.engine.state import experiment_config, write_config

    train_dir = out / name / "train"
    train_dir.mkdir(parents=True)
    write_config(train_dir, experiment_config(grid / f"{name}.yaml", overrides, train_dir))
    (train_dir / ablate.DONE_FILE).write_text("{}")
    return train_dir


def test_rows_trained_with_other_settings_are_refused(grid, tmp_path, monkeypatch) -> None:
    trained: List[str] = []
    monkeypatch.setattr(ablate, "train_variant", lambda path, *a: trained.append(path.stem))
    out = tmp_path / "out"
    base = ["train.device=cpu", "schedule.epochs=4", "schedule.warmup_epochs=0"]
    # Each switches its own keys (fusion, drfm_blocks); loader workers never change results.
    _finished(grid, out, "zeta", base)
    _finished(grid, out, "k1", base + ["data.num_workers=0"])
    args = ["--grid", str(grid), "--output-dir", str(out)]
    assert ablate.main(args) == 0
    # One run of 1 epoch beside runs of 4: its row and plot point would not be comparable.
    _finished(grid, out, "alpha", ["train.device=cpu", *base[2:], "schedule.epochs=1"])
    expected = (
        r"not all trained with the same settings: alpha \(schedule\.epochs: 1\), "
        r"where zeta, k1 have schedule\.epochs: 4\."
    )
    with pytest.raises(ConfigError, match=expected):
        ablate.main(args)
    # Refused before training another, and so is a new variant that would differ in turn.
    with pytest.raises(ConfigError, match=r"settings: alpha \(schedule\.epochs: 1\), where z"):
        ablate.main(args + ["--train", "--only", "k5"] + base)
    (out / "alpha" / "train" / ablate.DONE_FILE).unlink()  # as if never finished
    with pytest.raises(ConfigError, match=r"k5 \(model\.image_size: 64\)"):
        ablate.main(args + ["--train", "--only", "k5", "model.image_size=64"] + base)
    assert trained == []
    ablate.main(args + ["--train", "--only", "k5"] + base)
    assert trained == ["k5"]


def test_scoring_a_run_with_other_overrides_is_refused(grid, tmp_path, monkeypatch) -> None:
    evaluated: List[str] = []
    monkeypatch.setattr(ablate, "evaluate_variant", lambda path, *a: evaluated.append(path.stem))
    out = tmp_path / "out"
    _finished(grid, out, "k1", ["train.device=cpu", "model.image_size=64"])
    args = ["--grid", str(grid), "--output-dir", str(out), "--evaluate", "--only", "k1"]
    args += ["--device", "cpu", "train.device=cpu"]
    # Scores already there used to be kept as they were, whatever the overrides said.
    with pytest.raises(ConfigError, match=r"k1: finished in .*model\.image_size: 64 != 1024"):
        ablate.main(args)
    assert evaluated == []
    ablate.main(args + ["model.image_size=64"])
    assert evaluated == ["k1"]
