"""Train and evaluate an ablation grid, then write its table (Table 4) and plots (Fig. 9).

    python -m pmgsam.ablate --grid configs/ablations --output-dir results/ablations \\
        [--train] [--evaluate] [--only a,b] [--device cuda] [--overwrite] [key=value ...]

The grid folder holds one experiment config per variant and ``grid.yaml``, which says which
config is which table row and plot point (layout in :class:`GridSpec`). For every config
``NAME`` used by the grid:

* ``--train`` trains into ``<output-dir>/NAME/train/`` (a finished run, marked by
  ``ablate_done.json``, is skipped; an interrupted one is resumed from its ``last`` checkpoint);
* ``--evaluate`` predicts the grid's test splits with the best weights into
  ``<output-dir>/NAME/pred/<split>/`` and scores them as one set (``DIS-TE`` = DIS-TE1..4
  combined, as the paper's ablations) into ``<output-dir>/NAME/metrics/`` and
  ``<output-dir>/NAME/run.json``, which records the best weights (``meta.checkpoint`` and
  ``weights_sha256``, as evaluate.py records its checkpoint), as the map folders' manifests
  do, so the analyses and evaluate.py take the variant's folder for a run of those weights
  (predicted by :func:`~pmgsam.engine.inference.predict_split`, as evaluate.py's maps);
  scores are kept when they were computed from the same best
  weights (by SHA-256) with this call's HCE option, image size, device type, precision, speed
  options (TF32, ...) and data, else scored again with a line saying why
  (:mod:`pmgsam.ablation.scoring`).

Then, whatever was asked, the table (``ablation.md/.csv/.tex``) and one PNG per plot are
written to ``<output-dir>`` from the results present so far: a row not scored yet shows as "–"
and a note under the table names it and why (not trained, or not scored), and a plot point
missing is named in a warning. ``--evaluate`` scores every trained variant chosen, then fails
(exit status 2) naming all those it could not score for want of a finished training. A file
of one of those names there that pmgsam did not write is refused before any work, unless
``--overwrite``; so is, before a variant's model loads to predict its maps, a map in its
``pred/<split>/`` that pmgsam wrote and the user edited since, or a file there that pmgsam did
not write (:mod:`pmgsam.ablation.maps`: a variant scored by an older pmgsam.ablate, without
a record of its maps, is written over).
``key=value`` overrides apply to every config (data.root, demo sizes, ...); overriding a key
that a config of the grid switches is refused, since it would erase that ablation. Before any
work, a variant trained already must have been trained with the overrides given now (when
training or scoring), and the finished variants under ``--output-dir`` (with those about to be
trained) must agree in every setting no config switches (:mod:`pmgsam.ablation.checks`): a row
trained for other epochs or at another image size is refused, naming it and the setting. So
is a variant about to be trained on other training or validation images than the finished
ones (their done files record what they learned from: pmgsam.ablation.data).
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from pmgsam.ablation.checks import (
    DONE_FILE,
    check_finished_config,
    check_grid_runs,
    check_overrides,
    switched_keys,  # noqa: F401 (part of this module's interface: ablate.switched_keys)
)
from pmgsam.ablation.data import DATA_KEY
from pmgsam.ablation.options import add_arguments, refuse_scoring_options_without_evaluate
from pmgsam.ablation.scoring import NotTrainedError, evaluate_variant
from pmgsam.analysis.output_files import check_output_files, record_output_files
from pmgsam.utils.cli import CommandParser, HelpFormatter
from pmgsam.utils.config import ConfigError, from_dict, load_config, non_blank_field, to_dict
from pmgsam.utils.config_files import read_yaml_mapping
from pmgsam.utils.io import write_text_atomic
from pmgsam.utils.outputs import refuse_output_in_inputs

# By name: run as `python -m pmgsam.ablate`, __name__ is "__main__", outside the package logger.
logger = logging.getLogger("pmgsam.ablate")
GRID_FILE = "grid.yaml"
TOOL = "python -m pmgsam.ablate"
TABLE_EXTENSIONS = ("md", "csv", "tex")
PLOT_METRICS = (
    ("maxFm", "max Fβ ↑"),
    ("wFmeasure", "weighted Fβ ↑"),
    ("MAE", "MAE ↓"),
    ("Smeasure", "Sα ↑"),
    ("meanEm", "mean Eφ ↑"),
    ("HCE", "HCE ↓"),
)


@dataclass
class TableRow:
    """Arguments: config (str): config file stem. label (str): row name in the table."""

    config: str = non_blank_field("a config file stem")
    label: str


@dataclass
class TableSpec:
    """Arguments: title (str): table caption. rows (list of TableRow): rows in order."""

    title: str = "Ablation"
    rows: List[TableRow] = field(default_factory=list)


@dataclass
class Series:
    """Arguments: label (str): legend entry. configs (list of str): config stems, one per x."""

    label: str
    configs: List[str] = non_blank_field("a config file stem", default_factory=list)


@dataclass
class PlotSpec:
    """One Fig. 9 panel set.

    Arguments:
      name (str): PNG file stem.
      title (str): figure title.
      key (str): dotted config key whose value is the x coordinate (e.g. model.drfm_blocks).
      xlabel (str): x axis label.
      series (list of Series): the lines.
    """

    name: str = non_blank_field("a PNG file stem")
    title: str
    key: str = non_blank_field("a dotted config key")
    xlabel: str
    series: List[Series] = field(default_factory=list)


@dataclass
class GridSpec:
    """The content of ``grid.yaml``.

    Arguments:
      splits (str): test split spec scored for every config (``DIS-TE`` = TE1-4 as one set).
      table (TableSpec): the table rows.
      plots (list of PlotSpec): the line plots.
    """

    splits: str = non_blank_field("a split name", default="DIS-TE")
    table: TableSpec = field(default_factory=TableSpec)
    plots: List[PlotSpec] = field(default_factory=list)

    def config_names(self) -> List[str]:
        """Every config the grid uses, each once, in order of appearance."""
        names = [r.config for r in self.table.rows]
        names += [c for p in self.plots for s in p.series for c in s.configs]
        return list(dict.fromkeys(names))


def load_grid(folder: Path) -> Tuple[GridSpec, Dict[str, Path]]:
    """(GridSpec, {config name: path}) of a grid folder; raises ConfigError naming problems."""
    grid_file = folder / GRID_FILE
    if not grid_file.is_file():
        raise ConfigError(f"grid folder '{folder}' has no {GRID_FILE}")
    data = read_yaml_mapping(grid_file)
    try:
        spec = from_dict(GridSpec, data)
    except ConfigError as err:
        raise ConfigError(f"{err} ({grid_file})") from None
    paths = {p.stem: p for p in sorted(folder.glob("*.yaml")) if p.name != GRID_FILE}
    missing = [n for n in spec.config_names() if n not in paths]
    if missing:
        raise ConfigError(f"{grid_file} names configs not in {folder}: {missing}")
    return spec, {n: paths[n] for n in spec.config_names()}


def train_variant(path: Path, run_dir: Path, overrides: Sequence[str]) -> None:
    """Train (or resume, or skip when finished) one config into ``run_dir/train``; its done
    file records the fingerprint of the data it trained on (:mod:`pmgsam.ablation.data`)."""
    from pmgsam.engine.state import STATE_FILE, checkpoint_dir, experiment_config
    from pmgsam.engine.trainer import Trainer

    train_dir = run_dir / "train"
    done = train_dir / DONE_FILE
    if done.is_file():
        check_finished_config(path, train_dir, overrides)
        logger.info("%s: already trained (%s), skipped", path.stem, done)
        return
    if (checkpoint_dir(train_dir, "last") / STATE_FILE).is_file():
        logger.info("%s: resuming %s", path.stem, train_dir)
        cfg = experiment_config(path, overrides, resume=train_dir)
        trainer = Trainer(cfg, resume=train_dir)
    else:
        cfg = experiment_config(path, overrides, output_dir=train_dir)
        trainer = Trainer(cfg)
    summary = trainer.fit()
    # The data this variant learned from, as its training state holds it (a resumed run's
    # data was checked against that state).
    summary = {**summary, DATA_KEY: trainer.data_sample_fingerprint}
    write_text_atomic(done, json.dumps(summary, indent=2) + "\n")


def _dotted(data: Dict[str, Any], key: str) -> Any:
    for part in key.split("."):
        if not isinstance(data, dict) or part not in data:
            raise ConfigError(f"plot key '{key}' is not a config key")
        data = data[part]
    return data


def write_outputs(
    spec: GridSpec,
    paths: Dict[str, Path],
    out: Path,
    overrides: Sequence[str],
    left_out: Sequence[str] = (),
    given: Sequence[str] = (),
) -> List[Path]:
    """The ablation table and the line plots from the run.json files present under ``out``;
    ``left_out``: configs this call's ``--only`` did not name, ``given``: the steps this call
    ran (``--train``, ``--evaluate``); both shape the reason given where a variant is unscored."""
    from pmgsam.analysis.plots import line_panels
    from pmgsam.engine.config import ExperimentConfig
    from pmgsam.evaluation.combined import combined_name
    from pmgsam.evaluation.run_json import read_run_file
    from pmgsam.evaluation.table_rendering import write_table
    from pmgsam.evaluation.tables import dis_table

    name = combined_name(spec.splits)
    scores: Dict[str, Optional[Dict[str, float]]] = {}
    for config in spec.config_names():
        # An unreadable run.json is an error naming it (json.loads alone would not say which).
        dis = read_run_file(out / config / "run.json").get("dis") or {}
        scores[config] = dis.get(name)
    runs = [{"method": r.label, "dis": {name: scores[r.config] or {}}} for r in spec.table.rows]
    table = dis_table(runs, [name])
    table.title = spec.table.title
    missing = [
        f"{r.label} ({_why_unscored(out / r.config, r.config in left_out, given)})"
        for r in spec.table.rows
        if not scores[r.config]
    ]
    if missing:  # a row of dashes alone could pass for a failed or empty run
        table.notes.append(f"Not scored yet (no values): {'; '.join(missing)}.")
    if name != combined_name("DIS-TE"):  # the grid's caption names the paper's test set
        table.title += f" — scored on {name}, not DIS-TE1-4"
    record_output_files(out, [f"ablation.{ext}" for ext in TABLE_EXTENSIONS], TOOL)
    written = write_table(table, out, "ablation")
    for plot in spec.plots:
        series = {}
        for s in plot.series:
            pts = []
            for config in s.configs:
                if scores[config]:
                    resolved = to_dict(load_config(ExperimentConfig, paths[config], overrides))
                    pts.append((_dotted(resolved, plot.key), scores[config]))
                else:
                    logger.warning(
                        "%s: no point for %s in series '%s' (%s)",
                        plot.name, config, s.label,
                        _why_unscored(out / config, config in left_out, given),
                    )  # fmt: skip
            if pts:
                series[s.label] = pts
        if series:
            title = f"{plot.title} ({name})"
            record_output_files(out, [f"{plot.name}.png"], TOOL)
            written.append(
                line_panels(series, PLOT_METRICS, plot.xlabel, title, out / f"{plot.name}.png")
            )
    return written


def _why_unscored(run_dir: Path, left_out: bool = False, given: Sequence[str] = ()) -> str:
    """Why a variant has no scores in ``run_dir``: untrained, or trained but not scored;
    ``left_out``: not named by this call's ``--only``, so its --train / --evaluate skipped it;
    ``given``: the steps this call ran, whose "run with" hint would only tell the user to
    give again what they gave."""
    if (run_dir / "train" / DONE_FILE).is_file():
        why, step = "trained, not scored", "--evaluate"
    else:
        why, step = "no finished training", "--train"
    if step not in given:
        why += f": run with {step}"
    return f"{why}; left out by --only" if left_out else why


def output_files(spec: GridSpec) -> List[str]:
    """The names :func:`write_outputs` may write into the output folder (table, plots)."""
    return [f"ablation.{ext}" for ext in TABLE_EXTENSIONS] + [f"{p.name}.png" for p in spec.plots]


def build_parser() -> argparse.ArgumentParser:
    """The options of ``python -m pmgsam.ablate`` (usage in the module docstring)."""
    p = CommandParser(
        prog="python -m pmgsam.ablate",
        description=__doc__,
        formatter_class=HelpFormatter,
    )
    add_arguments(p)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Train and/or score the chosen configs of the grid, then write the table and plots."""
    parser = build_parser()
    args = parser.parse_args(argv)
    refuse_scoring_options_without_evaluate(parser, args)
    out = Path(args.output_dir)
    refuse_output_in_inputs(out, [args.grid], "--output-dir", "the runs and tables")
    spec, paths = load_grid(Path(args.grid))
    if args.splits:
        spec.splits = args.splits
    check_overrides(paths, args.overrides)
    # Before any training: the table and plots must not replace files of the user's.
    check_output_files(out, output_files(spec), "--output-dir", args.overwrite)
    if args.evaluate:
        from pmgsam.engine.distributed import resolve_device

        # Up front, also when every config is scored already: a bad --device is never silent.
        args.device = resolve_device(args.device, option="--device")
    chosen = args.only or list(paths)
    if args.only:
        unknown = [n for n in chosen if n not in paths]
        if unknown:
            raise ConfigError(f"--only names configs not in the grid: {unknown}")
    # Before any training: every row and plot point must come from comparable runs.
    check_grid_runs(
        paths, chosen if args.train or args.evaluate else [], out, args.overrides, args.train
    )
    labels = {r.config: r.label for r in spec.table.rows}
    untrained: List[str] = []
    for name in chosen:
        if args.train:
            train_variant(paths[name], out / name, args.overrides)
        if args.evaluate:
            label = labels.get(name, name)
            try:
                evaluate_variant(paths[name], out / name, label, spec.splits, args.overrides, args)
            except NotTrainedError:
                # The trained variants are scored all the same; these are named at the end.
                untrained.append(name)
    left_out = [n for n in paths if n not in chosen]
    given = [step for step in ("--train", "--evaluate") if getattr(args, step[2:])]
    written = write_outputs(spec, paths, out, args.overrides, left_out, given)
    print((out / "ablation.md").read_text(encoding="utf-8"))
    for p in written:
        print(f"wrote {p}")
    if untrained:
        others = " (the others were scored)" if len(untrained) < len(chosen) else ""
        raise NotTrainedError(
            f"not scored, no finished training under '{out}': {', '.join(untrained)}; "
            f"run with --train to train them{others}"
        )
    return 0


if __name__ == "__main__":
    from pmgsam.utils.cli import run_cli

    run_cli(main, "python -m pmgsam.ablate")
