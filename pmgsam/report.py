"""Merge benchmark runs into the paper's tables: ``python -m pmgsam.report RUN_DIR... --out DIR``.

Each RUN_DIR holds a ``run.json`` (layout in :mod:`pmgsam.evaluation.run_json`; ``evaluate.py``'s
benchmark mode and :func:`pmgsam.evaluation.run_json.write_run_json` write it). One row per
method name: runs of one name (the paper's PMG-SAM row: DIS columns from the DIS5K checkpoint's
run, COS columns from the COD10K and NC4K fine-tuned ones) make one row when no DIS split, COS
column or efficiency figure is given by two of them, and a note under each table names the run
(and checkpoint) each part came from; otherwise they are refused, naming both runs and what
they both give. Writes ``dis``, ``cos`` and ``efficiency`` tables as ``.md``, ``.csv`` and
``.tex`` into DIR (tables without any value are skipped) and prints the Markdown. A file of
one of those names in DIR that pmgsam did not write is refused before anything is written,
unless --overwrite.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path
from typing import Dict, Sequence

from pmgsam.analysis.output_files import check_output_files, record_output_files
from pmgsam.evaluation.run_json import load_runs
from pmgsam.evaluation.run_merge import merge_same_method
from pmgsam.evaluation.scoring import EvaluationInputError
from pmgsam.evaluation.table_rendering import to_markdown
from pmgsam.evaluation.tables import build_tables, write_tables
from pmgsam.utils.cli import CommandParser, HelpFormatter, NonEmpty, name_list
from pmgsam.utils.command_names import command_name
from pmgsam.utils.io import read_user_text
from pmgsam.utils.outputs import OutputError, refuse_output_in_inputs, written_names


def _refuse_same_run_twice(paths: Sequence[str]) -> None:
    """One run given twice would be merged with itself: every column would overlap."""
    files = [Path(p) / "run.json" if Path(p).is_dir() else Path(p) for p in paths]
    seen: Dict[object, int] = {}
    for i, f in enumerate(files):
        j = seen.setdefault(f.resolve(), i)
        if j != i:
            raise EvaluationInputError(f"'{paths[j]}' and '{paths[i]}' are the same run")


def _refuse_score_files(paths: Sequence[str]) -> None:
    """A scores file of ``evaluate.py --pred-dir`` (``metrics.json``, ``ap.json``) given as a
    run would be refused as holding no results: say how such scores become a row."""
    import json

    for given in paths:
        path = Path(given)
        if not path.is_file():
            continue
        try:
            data = json.loads(read_user_text(path))
        except (OSError, UnicodeDecodeError, ValueError):
            continue  # load_runs names the file
        if isinstance(data, dict) and ("maxFm" in data or "AP" in data):
            run = path.resolve().parent.parent
            if (run / "run.json").is_file():  # a run's metrics/<split>.json
                raise EvaluationInputError(
                    f"'{given}' is one split's scores of the run '{run}': give that folder"
                )
            task = "" if "maxFm" in data else " --task cos"
            raise EvaluationInputError(
                f"'{given}' is the scores file of a folder of maps, not a run's run.json: "
                f"score the maps again with {command_name('evaluate')}{task} ... --run DIR --split "
                "NAME [--method ROW] (one DIR per method; each split into the same DIR), then "
                "give DIR"
            )


def _refuse_unscored_splits(
    paths: Sequence[str], runs: Sequence[Dict[str, object]], subsets: Sequence[str]
) -> None:
    """A --splits group no run has would be dropped from the table without a word (or leave no
    table at all): name it, and the groups the runs do have."""
    from pmgsam.evaluation.tables import dis_table

    missing = [
        s
        for s in subsets
        if all(v is None for _, row in dis_table(runs, [s]).rows for v in row.values())
    ]
    if missing:
        have = sorted({str(k) for r in runs for k in (r.get("dis") or {})})
        raise EvaluationInputError(
            f"--splits: no run has {', '.join(missing)}; "
            + (f"the runs have {', '.join(have)}" if have else "the runs have no DIS results")
            + f" ({', '.join(str(p) for p in paths)})"
        )


def _warn_of_earlier_tables(out: Path, names: Sequence[str]) -> None:
    """Tables an earlier report wrote into ``out`` that this one does not replace (its runs
    have no COS scores, say) stay, and would pass for tables of these runs: name them."""
    if not out.is_dir():
        return
    tables = {f"{t}.{ext}" for t in ("dis", "cos", "efficiency") for ext in ("md", "csv", "tex")}
    stale = sorted(n for n in written_names(out) & tables if n not in names and (out / n).is_file())
    if stale:
        warnings.warn(
            f"--out '{out}' holds {len(stale)} table file(s) an earlier report wrote that this "
            f"one does not replace ({', '.join(stale)}): they are not of these runs; move them "
            "away or choose another folder",
            stacklevel=2,
        )


def build_parser() -> argparse.ArgumentParser:
    """The report's options (tests check the README's commands against them)."""
    parser = CommandParser(
        prog="python -m pmgsam.report", description=__doc__, formatter_class=HelpFormatter
    )
    parser.add_argument(
        "runs",
        nargs="+",
        type=NonEmpty("a run folder (or its run.json)"),
        help="run directories (or run.json files)",
    )
    parser.add_argument(
        "--out",
        required=True,
        type=NonEmpty("an output folder"),
        help="output directory for the tables",
    )
    parser.add_argument(
        "--splits",
        type=NonEmpty("comma-separated DIS groups", name_list),
        help="DIS groups to show, comma-separated (default: DIS-VD, DIS-TE1..4, DIS-TE1-4 "
        "(the Overall (TE1-4) column), then any other scored set); "
        "DIS-TE or DIS-TE1+DIS-TE2+... is a combined set",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace table files in --out (dis.md, cos.csv, ...) that pmgsam did not write",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Read the run folders and write their DIS, COS and efficiency tables to --out."""
    args = build_parser().parse_args(argv)
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise OutputError(f"--out '{args.out}' is an existing file, not a folder")
    # The runs' map folders: tables written there would sit among (and be read as) maps.
    folders = [Path(r) / kind for r in args.runs for kind in ("pred", "premask", "priors")]
    refuse_output_in_inputs(args.out, folders, "--out", "the tables")
    subsets = None
    if args.splits:
        from pmgsam.evaluation.combined import combined_name

        subsets = [combined_name(s) for s in args.splits]
        for i, name in enumerate(subsets):  # one group shown twice, under two spellings
            if name in subsets[:i]:
                first = args.splits[subsets.index(name)]
                raise EvaluationInputError(
                    f"--splits: '{first}' and '{args.splits[i]}' are one set ({name}): give it once"
                )
    _refuse_same_run_twice(args.runs)
    _refuse_score_files(args.runs)
    runs = merge_same_method([str(r) for r in args.runs], load_runs(args.runs), subsets or ())
    if subsets:
        _refuse_unscored_splits(args.runs, runs, subsets)
    tables = build_tables(runs, subsets)
    if not tables:
        names = ", ".join(str(r) for r in args.runs)
        raise EvaluationInputError(f"no table has a value from {names} (unknown metric names?)")
    # A table file of the user's own (a hand-edited dis.md) must not be replaced silently.
    names = [f"{name}.{ext}" for name in tables for ext in ("md", "csv", "tex")]
    check_output_files(args.out, names, "--out", args.overwrite)
    for table in tables.values():
        print(to_markdown(table))
    _warn_of_earlier_tables(Path(args.out), names)
    record_output_files(args.out, names, "python -m pmgsam.report")
    for path in write_tables(runs, args.out, subsets):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    from pmgsam.utils.cli import run_cli

    run_cli(main, "python -m pmgsam.report")
