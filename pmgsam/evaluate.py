"""Evaluate PMG-SAM predictions: DIS metrics, COS instance AP, or a full benchmark run.

In the source folder ``python evaluate.py`` is the same command. The experiment configs that
benchmark and baseline modes take (``--config``) come with the source folder and its source
archive, not with the installed package: give one of them, a config of your own, or a
training run's ``config.yaml``.

Score existing DIS predictions (six metrics; per-image values beside --out, in
``metrics.per_image.csv`` for ``--out metrics.json``)::

    python -m pmgsam.evaluate --pred-dir P --gt-dir G [--ske-dir K] [--workers N] [--resize-pred] \\
        [--overwrite] --out metrics.json

Score existing COS probability maps against COCO instance labels (AP, AP50, AP75)::

    python -m pmgsam.evaluate --task cos --pred-dir P --gt-json G.json [--protocol all|matched] \\
        [--threshold 0.5] [--min-area 0] [--overwrite] --out ap.json

NC4K's instance labels are PNGs (``Instance/``): write the COCO file that benchmark mode builds
from them (the same images, ids and instances, so the same AP) once, then score against it::

    python -m pmgsam.evaluation.export_cos_gt --config configs/pmgsam_nc4k_ft.yaml --split test \\
        [--data-root data/NC4K] --out nc4k_test.gt.json

Either scoring mode adds its scores to ``DIR/run.json`` (the row ``python -m pmgsam.report``
tables) with ``--run DIR --split NAME [--method ROW]``: NAME is the DIS split (``DIS-TE1``) or
the COS table column (``COD10K``, ``NC4K``), matched exactly (another spelling of a column is
refused; a set of DIS5K splits goes under its column, ``DIS-TE1+DIS-TE3``); one DIR per method,
never a model's run folder.

``--out`` is a JSON file: a folder (``--out scores/``) or another suffix (``--out m.csv``) is
refused. Both scoring modes refuse to replace ``--out`` or its side file (``metrics.per_image.csv``,
COS ``ap.results.json``) when pmgsam did not write it (it lists its own in the folder's
hidden ``.pmgsam-outputs.json``), unless ``--overwrite``; a re-run into the same ``--out``
replaces its own files.

Benchmark a checkpoint: predict each split into ``<output-dir>/pred/<split>/``, score it into
``<output-dir>/metrics/<split>.json`` (``DIS-TE``, i.e. DIS-TE1..4 as one set, into
``DIS-TE1-4.json``; COS: also ``<split>.results.json`` and the COCO ground truth,
``<split>.gt.json``; a folder dataset with ``data.instance_dir``: its instance AP too, beside
the DIS metrics, in ``<split>.cos.json`` with ``<split>.cos.results.json`` and
``<split>.cos.gt.json``), update ``<output-dir>/run.json`` and print the tables::

    python -m pmgsam.evaluate --config CFG --checkpoint CKPT [--dataset dis5k] \\
        [--splits DIS-VD,DIS-TE1,DIS-TE2,DIS-TE3,DIS-TE4] [--data-root R] \\
        [--output-dir results/<run>] [--device cuda] [--batch-size N] [--overwrite] \\
        [--skip-existing] [--keep-going] [key=value ...]

``--dataset`` and ``--splits`` default to the config's ``data.dataset`` and ``data.test_splits``.

Benchmark mode refuses a ``pred/<split>`` folder inside the dataset, or one holding files it did
not write unless ``--overwrite`` is given (see :mod:`pmgsam.utils.outputs`), or one that on a
filesystem blind to case is the folder of another dataset's maps (COD10K's ``Test`` and NC4K's
``test`` in one ``--output-dir``: :mod:`pmgsam.evaluation.split_folders`). ``--skip-existing``
resumes a stopped run: maps already in ``pred/<split>`` from the same weights and settings and the
same image files are kept (their images not opened), the others predicted, and every image scored.
An image that cannot be read stops the run, naming it; on COD10K / NC4K (and a folder dataset's
splits with instance labels), images whose header or instance-map PNG cannot be read are all
named before anything is predicted (the COCO ground truth needs their size and instances). With
``--keep-going`` such an image is skipped (no map, no place in the COCO ground truth), the
others are predicted, the splits holding such files are not scored, and the run ends with an
error listing them all (exit status 2). A corrupt COCO instance file stops the run, naming it,
with or without ``--keep-going``.

Predict and score a baseline row (SAM / SAM2.1 / E-SAM-style; see pmgsam/baselines/cli.py)::

    python -m pmgsam.evaluate --baseline sam-auto|sam-box|sam2-auto|sam2-box|esam \\
        --model-type vit_b --checkpoint FILE --config CFG --dataset dis5k --splits DIS-TE1 \\
        --output-dir results/<row> [--skip-existing] [--keep-going]

Baseline mode resumes and skips unreadable files the same way: ``--skip-existing`` keeps the maps
(and each image's masks) that the same checkpoint and map-changing settings made from the same
files. On a folder dataset with ``data.instance_dir`` its automatic rows (``sam-auto``,
``sam2-auto``, ``esam``) score every generated mask as a COCO instance too, into the same
``<split>.cos.*`` files as benchmark mode; box rows prompt one box around the whole GT mask
there, so they get the DIS metrics only (with a warning).

Both modes predict on the config's ``train.num_threads`` torch threads (``train.num_threads=N``
on the command line); unset, on the CPU, as many as the CPUs this process may use less the image
loading workers (baseline mode reads its images in process), on CUDA torch's default. A baseline
row's timing (``--speed-iters``) runs on torch's own count, as ``python -m pmgsam.efficiency``
times PMG-SAM (``OMP_NUM_THREADS`` sets it for both).
"""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path
from typing import Dict, NoReturn, Optional, Sequence

from pmgsam.baselines import cli as baselines_cli
from pmgsam.evaluation.dis_results import dis_line
from pmgsam.evaluation.evaluate_options import add_arguments, refuse_unused, require
from pmgsam.evaluation.json_out import check_json_out
from pmgsam.evaluation.scoring import EvaluationInputError
from pmgsam.utils.cli import CommandParser, HelpFormatter, refuse_missing_config, run_cli
from pmgsam.utils.outputs import refuse_output_in_inputs

#: The command as its usage and error lines name it when started as a module, whatever started
#: it (sys.argv[0]). The source folder's evaluate.py passes its own.
PROG = "python -m pmgsam.evaluate"


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """Every mode's options in one parser; :func:`main` refuses those the chosen mode ignores.
    ``prog`` names the command in its usage and error lines."""
    p = CommandParser(prog=prog, description=__doc__, formatter_class=HelpFormatter)
    add_arguments(p)
    return p


def _check_out(out: str, example: str, inputs: Sequence[Optional[str]]) -> None:
    """--out is a JSON file (:func:`~pmgsam.evaluation.json_out.check_json_out`). An --out among
    the ``inputs`` (a GT mask's name) is said as such first: its suffix is not the mistake."""
    refuse_output_in_inputs(out, inputs, "--out", "the scores")
    check_json_out(out, example, "the file", "the scores are written as JSON")


def score_dis(args: argparse.Namespace) -> Dict[str, object]:
    """DIS scoring mode: the six metrics of --pred-dir against --gt-dir, written to --out."""
    from pmgsam.evaluation.dis_results import write_dis_results
    from pmgsam.evaluation.scoring import evaluate_dis_folder

    if args.ske_dir and not Path(args.ske_dir).is_dir():
        # Without this, HCE would silently be scored without skeletons.
        state = "is not a folder" if Path(args.ske_dir).exists() else "does not exist"
        raise EvaluationInputError(f"--ske-dir '{args.ske_dir}' {state}")
    from pmgsam.analysis.output_files import check_output_paths, record_output_paths
    from pmgsam.evaluation.dis_results import per_image_path

    outputs = [Path(args.out), per_image_path(args.out)]
    inputs = [args.pred_dir, args.gt_dir, args.ske_dir]
    refuse_output_in_inputs(args.out, inputs, "--out", "the scores")
    _check_run(args, inputs)
    check_output_paths(outputs, "--out", args.overwrite)  # the user's own files stay
    summary, per_image = evaluate_dis_folder(
        args.pred_dir,
        args.gt_dir,
        args.ske_dir,
        args.workers,
        args.resize_pred,
        with_hce=not args.no_hce,
        progress=not args.quiet,
    )
    record_output_paths(outputs, "evaluate.py")
    out, side = write_dis_results(args.out, summary, per_image)
    print(dis_line(summary))
    print(f"wrote {out} and {side}")
    if args.run:  # as benchmark mode's entry: the file written, curves included
        _add_row(args, "dis", json.loads(out.read_text(encoding="utf-8")))
    return summary


def _check_run(args: argparse.Namespace, inputs: Sequence[Optional[str]]) -> None:
    """--run is refused before scoring when it lies among the inputs or is a model's run."""
    if args.run:
        from pmgsam.evaluation.folder_row import check_split, refuse_model_run

        check_split(args.task or "dis", args.split)
        refuse_output_in_inputs(args.run, inputs, "--run", "run.json")
        row_file = Path(args.run) / "run.json"
        if Path(args.out).resolve() == row_file.resolve():
            # The scores would replace the row (its other splits lost) and then be merged
            # into it as its own entry.
            raise EvaluationInputError(
                f"--out '{args.out}' is --run's run.json, the row the scores are added to: "
                f"write the scores elsewhere (e.g. {Path(args.run) / 'metrics' / args.split}.json)"
            )
        refuse_model_run(args.run)


def _add_row(args: argparse.Namespace, section: str, scores: Dict[str, object]) -> None:
    from pmgsam.evaluation.folder_row import add_to_run, entry_name

    path = add_to_run(args, section, scores)
    row = json.loads(path.read_text(encoding="utf-8"))["method"]
    # The entry as run.json holds it: a set of splits typed in another order is stored sorted.
    column = entry_name(section, args.split)
    print(
        f"added {section} '{column}' to {path} (row '{row}'); table it with "
        f"python -m pmgsam.report {args.run} [other runs] --out TABLES"
    )


def score_cos(args: argparse.Namespace) -> Dict[str, object]:
    """COS scoring mode: instance AP of --pred-dir against --gt-json, written to --out (and the
    COCO results beside it)."""
    from pmgsam.analysis.output_files import check_output_paths, record_output_paths
    from pmgsam.evaluation.instances import evaluate_cos_folder
    from pmgsam.utils.io import atomic_path

    out = Path(args.out)
    results_file = out.with_name(out.stem + ".results.json")
    for path in (out, results_file):
        refuse_output_in_inputs(path, [args.pred_dir, args.gt_json], "--out", "the scores")
    _check_run(args, [args.pred_dir, args.gt_json])
    check_output_paths([out, results_file], "--out", args.overwrite)  # the user's own stay
    scores = evaluate_cos_folder(
        args.pred_dir,
        args.gt_json,
        threshold=args.threshold,
        min_area=args.min_area,
        protocol=args.protocol,
        resize_pred=args.resize_pred,
        results_out=results_file,
        progress=not args.quiet,
        # Claimed only once the maps have been read and checked: a scoring refused before
        # must not leave the names recorded as ours (a file put there later would be replaced).
        before_writing=lambda: record_output_paths([out, results_file], "evaluate.py"),
    )
    scores["results_file"] = results_file.name
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(scores, indent=2) + "\n", encoding="utf-8")
    print(
        f"AP={scores['AP']:.4f} AP50={scores['AP50']:.4f} AP75={scores['AP75']:.4f} "
        f"(protocol: {scores['protocol_description']})"
    )
    print(f"wrote {out} and {results_file}")
    if args.run:
        _add_row(args, "cos", scores)
    return scores


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    """Run one mode; bad inputs raise the project's error types, which :func:`run_cli` reports."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if args.matched_only:
        if args.protocol_given and args.protocol != "matched":
            parser.error(f"--matched-only contradicts --protocol {args.protocol}: give one of them")
        args.protocol = "matched"
    from pmgsam.data.splits import read_only_splits

    if args.baseline:
        refuse_unused(parser, args, "baseline mode (--baseline)")
        if args.config:  # --dataset and --splits default to the config's, as in benchmark mode
            refuse_missing_config(args.config)
            from pmgsam.evaluation.benchmark import data_overrides, dataset_and_splits

            dataset_and_splits(args, data_overrides(args))
        baselines_cli.check_arguments(parser, args)
        with read_only_splits():  # evaluation never writes into the dataset folder
            baselines_cli.run(args)
    elif args.config:
        refuse_unused(parser, args, "benchmark mode (--config)")
        require(parser, args, "benchmark mode (--config)")
        refuse_missing_config(args.config)
        from pmgsam.evaluation.benchmark import data_overrides, dataset_and_splits, run_benchmark

        dataset_and_splits(args, data_overrides(args))
        from pmgsam.evaluation.tables import COS_NAMES

        cos = args.dataset in COS_NAMES
        kind = "COS data (instance AP)" if cos else "DIS data"
        refuse_unused(parser, args, f"benchmark mode on {kind}")
        with read_only_splits():  # evaluation never writes into the dataset folder
            run_benchmark(args)
    elif args.checkpoint and not args.pred_dir:
        # A checkpoint carries its model config, so --config is easily taken for optional;
        # "--checkpoint is not used by DIS scoring" would not say what is missing.
        parser.error(
            "--checkpoint is scored in benchmark mode, which also needs --config (the experiment "
            "config naming the dataset, its folder and splits: e.g. the run's config.yaml); "
            "maps already written are scored with --pred-dir instead"
        )
    elif args.overrides:
        given = " ".join(args.overrides)
        parser.error(f"unexpected arguments: {given} (key=value overrides need --config)")
    elif (args.split or args.method) and not args.run:
        given = "--split" if args.split else "--method"
        parser.error(f"{given} names a table row's entry: it needs --run DIR (the row's folder)")
    elif args.run and not args.split:
        parser.error("--run needs --split: the split (DIS) or table column (COS) of the scores")
    elif args.task == "cos":
        refuse_unused(parser, args, "COS scoring (--task cos)")
        require(parser, args, "COS scoring (--task cos)")
        _check_out(args.out, "ap.json", [args.pred_dir, args.gt_json])
        score_cos(args)
    else:
        refuse_unused(parser, args, "DIS scoring")
        require(parser, args, "DIS scoring")
        _check_out(args.out, "metrics.json", [args.pred_dir, args.gt_dir, args.ske_dir])
        score_dis(args)
    return 0


def run(prog: str = PROG) -> NoReturn:
    """Run the command on ``sys.argv`` and exit, naming it ``prog``."""
    run_cli(functools.partial(main, prog=prog), prog)


if __name__ == "__main__":
    run()
