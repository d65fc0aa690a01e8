"""Evaluate PMG-SAM predictions: DIS metrics, COS instance AP, or a full benchmark run.

Score existing DIS predictions (six metrics; per-image values beside --out, in
``metrics.per_image.csv`` for ``--out metrics.json``)::

    python evaluate.py --pred-dir P --gt-dir G [--ske-dir K] [--workers N] [--resize-pred] \\
        [--overwrite] --out metrics.json

Score existing COS probability maps against COCO instance labels (AP, AP50, AP75)::

    python evaluate.py --task cos --pred-dir P --gt-json G.json [--protocol all|matched] \\
        [--threshold 0.5] [--min-area 0] [--overwrite] --out ap.json

``--out`` is a JSON file: a folder (``--out scores/``) or another suffix (``--out m.csv``) is
refused. Both scoring modes refuse to replace ``--out`` or its side file (``metrics.per_image.csv``,
COS ``ap.results.json``) when pmgsam did not write it (it lists its own in the folder's
hidden ``.pmgsam-outputs.json``), unless ``--overwrite``; a re-run into the same ``--out``
replaces its own files.

Benchmark a checkpoint: predict each split into ``<output-dir>/pred/<split>/``, score it into
``<output-dir>/metrics/<split>.json`` (``DIS-TE``, i.e. DIS-TE1..4 as one set, into
``DIS-TE1-4.json``; COS: also ``<split>.results.json`` and the COCO ground truth,
``<split>.gt.json``), update ``<output-dir>/run.json`` and print the tables::

    python evaluate.py --config CFG --checkpoint CKPT [--dataset dis5k] \\
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
An image that cannot be read stops the run, naming it; on COD10K / NC4K, images whose header
or instance-map PNG cannot be read are all named before anything is predicted (the COCO ground
truth needs their size and instances). With ``--keep-going`` such an image is skipped (no map,
no place in the COCO ground truth), the others are predicted, the splits holding such files are
not scored, and the run ends with an error listing them all (exit status 2). A corrupt COCO
instance file stops the run, naming it, with or without ``--keep-going``.

Predict and score a baseline row (SAM / SAM2.1 / E-SAM-style; see pmgsam/baselines/cli.py)::

    python evaluate.py --baseline sam-auto|sam-box|sam2-auto|sam2-box|esam --model-type vit_b \\
        --checkpoint FILE --config CFG --dataset dis5k --splits DIS-TE1 \\
        --output-dir results/<row> [--skip-existing] [--keep-going]

Baseline mode resumes and skips unreadable files the same way: ``--skip-existing`` keeps the maps
(and each image's masks) that the same checkpoint and map-changing settings made from the same
files.

Both modes predict on the config's ``train.num_threads`` torch threads (``train.num_threads=N``
on the command line); unset, on the CPU, as many as the CPUs this process may use less the image
loading workers (baseline mode reads its images in process), on CUDA torch's default. A baseline
row's timing (``--speed-iters``) runs on torch's own count, as ``python -m pmgsam.efficiency``
times PMG-SAM (``OMP_NUM_THREADS`` sets it for both).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Dict, Optional, Sequence

from pmgsam.baselines import cli as baselines_cli
from pmgsam.engine.unreadable import KEEP_GOING_SKIPS, KEEP_GOING_STOPS
from pmgsam.evaluation.scoring import EvaluationInputError, dis_line
from pmgsam.utils.cli import (
    DEVICE_NAMES,
    CommandParser,
    HelpFormatter,
    NonEmpty,
    device_name,
    name_list,
    non_negative_int,
    positive_int,
    probability,
    run_cli,
)
from pmgsam.utils.outputs import refuse_output_in_inputs

#: The command as the README has users type it (``python evaluate.py``) and as its error lines
#: name it, whatever started it (sys.argv[0]).
PROG = "evaluate.py"

# A `folder` dataset (your own image/mask pairs) is scored with the DIS metrics, per split.
BENCHMARK_DATASETS = ("dis5k", "cod10k", "nc4k", "folder")
# The options each mode reads (besides --quiet). Any other option given is refused: it would be
# ignored, e.g. --limit (a baseline option) would leave benchmark mode scoring every image.
_COS_SCORING = ("protocol", "matched_only", "threshold", "min_area")
_RUN = ("config", "checkpoint", "dataset", "splits", "data_root", "output_dir", "method")
_RUN += ("device", "overwrite", "overrides", "workers", "skip_existing", "keep_going")
_BENCH = _RUN + ("batch_size", "resize_pred")
MODE_OPTIONS = {
    "DIS scoring": ("task", "pred_dir", "gt_dir", "ske_dir", "out", "workers", "resize_pred")
    + ("no_hce", "overwrite"),
    "COS scoring (--task cos)": ("task", "pred_dir", "gt_json", "out", "resize_pred")
    + ("overwrite",)
    + _COS_SCORING,
    "benchmark mode (--config)": _BENCH + ("no_hce",) + _COS_SCORING,
    # Once the dataset is known: DIS metrics (DIS5K, folder) or instance AP (COD10K, NC4K).
    "benchmark mode on DIS data": _BENCH + ("no_hce",),
    # --workers (scoring processes) changes no number: a script may pass it for every dataset.
    "benchmark mode on COS data (instance AP)": _BENCH + _COS_SCORING,
    "baseline mode (--baseline)": _RUN + baselines_cli.option_names(),
}


class _ProtocolGiven(argparse.Action):
    """Stores ``--protocol`` and notes that it was given: its default is ``all``, so only this
    tells a ``--protocol all`` that ``--matched-only`` would contradict from no ``--protocol``."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, values)
        namespace.protocol_given = True


def build_parser() -> argparse.ArgumentParser:
    """Every mode's options in one parser; :func:`main` refuses those the chosen mode ignores."""
    p = CommandParser(prog=PROG, description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("--task", choices=["dis", "cos"], help="scoring mode: dis (default) or cos")
    p.add_argument(
        "--pred-dir",
        type=NonEmpty("a folder of predicted maps"),
        help="folder of predicted maps (grey PNG, stems = GT stems; a folder of colour images "
        "is refused)",
    )
    p.add_argument(
        "--gt-dir", type=NonEmpty("a folder of GT masks"), help="DIS: folder of GT masks"
    )
    p.add_argument(
        "--ske-dir",
        type=NonEmpty("a folder of GT skeletons"),
        help="DIS: optional folder of GT skeletons for HCE, read as benchmark mode reads a "
        "DIS5K split's ske/ folder (<stem> with a mask extension, any case: .png .bmp .tif "
        ".tiff .jpg .jpeg; a GT without one uses a skeleton computed from it, as the official "
        "tool does, named in a warning)",
    )
    p.add_argument(
        "--gt-json",
        type=NonEmpty("a COCO instance annotation file"),
        help="COS: COCO instance annotation file",
    )
    p.add_argument(
        "--out",
        type=NonEmpty("a JSON file to write"),
        help="output JSON file (.json or no suffix), not a folder (scoring modes)",
    )
    p.add_argument(
        "--workers",
        type=positive_int,
        default=max(1, os.cpu_count() or 1),
        help="DIS scoring processes; at most the CPUs this process may use",
    )
    p.add_argument("--resize-pred", action="store_true", help="resize predictions to the GT size")
    p.add_argument("--no-hce", action="store_true", help="DIS: skip HCE")
    p.add_argument(
        "--protocol",
        choices=["all", "matched"],
        default="all",
        action=_ProtocolGiven,
        help="COS: 'all' predicted instances (standard COCO, default) or 'matched': only the "
        "predictions paired with a GT instance by the Hungarian assignment (paper)",
    )
    p.add_argument(
        "--matched-only",
        action="store_true",
        help="COS: same as --protocol matched (refused beside --protocol all)",
    )
    p.set_defaults(protocol_given=False)
    p.add_argument("--threshold", type=probability, default=0.5, help="COS: foreground = prob > t")
    p.add_argument(
        "--min-area", type=non_negative_int, default=0, help="COS: smallest instance (pixels)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    b = p.add_argument_group("benchmark mode")
    b.add_argument(
        "--config", type=NonEmpty("an experiment config file"), help="experiment config YAML"
    )
    b.add_argument(
        "--checkpoint",
        type=NonEmpty("a checkpoint file or training run folder"),
        help="benchmark mode: PMG-SAM weights file or training run folder; with --baseline: "
        "the SAM / SAM2.1 checkpoint (.pth / .pt) of --model-type",
    )
    b.add_argument(
        "--dataset", choices=BENCHMARK_DATASETS, help="default: the config's data.dataset"
    )
    b.add_argument(
        "--splits",
        type=NonEmpty("comma-separated splits", name_list),
        help="comma-separated splits, e.g. DIS-VD,DIS-TE1; on DIS5K, DIS-TE or "
        "DIS-TE1+DIS-TE2+... scores those subsets as one set (default: the config's "
        "data.test_splits)",
    )
    b.add_argument(
        "--data-root",
        type=NonEmpty("a dataset folder"),
        help="dataset folder (overrides data.root)",
    )
    b.add_argument(
        "--output-dir",
        type=NonEmpty("a run folder"),
        help="run folder (default results/<config stem>; with --baseline "
        "results/<baseline>-<model type>)",
    )
    b.add_argument(
        "--method",
        type=NonEmpty("a row name, e.g. 'PMG-SAM'"),
        help="row name in the tables (default: the run folder's name; with --baseline the "
        "row's description, e.g. 'SAM ViT-B GT box')",
    )
    b.add_argument("--device", default="auto", type=device_name, help=f"{DEVICE_NAMES}")
    b.add_argument(
        "--batch-size", type=positive_int, default=1, help="benchmark mode: images per forward pass"
    )
    b.add_argument(
        "--overwrite",
        action="store_true",
        help="allow pred/<split> folders holding other files; scoring modes: replace --out and "
        "its side file (metrics.per_image.csv for --out metrics.json, COS ap.results.json for "
        "ap.json) when pmgsam did not write them (its own are replaced without it)",
    )
    b.add_argument(
        "--skip-existing",
        action="store_true",
        help="benchmark and baseline mode: resume a stopped run: keep the maps it already "
        "wrote into pred/<split> with the same weights and settings (baselines: checkpoint, "
        "model type and the settings that change the maps) from the same image files, predict "
        "only the other images (never read), then score every image; a folder holding maps of "
        "other weights or settings, or of a pmgsam that did not record them, is refused",
    )
    b.add_argument(
        "--keep-going",
        action="store_true",
        help=f"benchmark and baseline mode: {KEEP_GOING_SKIPS} (on COD10K / NC4K also an image "
        "whose instance-map PNG cannot be read: it is left out of the COCO ground truth); the "
        f"splits holding such files are not scored and run.json is not written. "
        f"{KEEP_GOING_STOPS}",
    )
    b.add_argument("overrides", nargs="*", help="config overrides key=value")
    baselines_cli.add_arguments(p)
    return p


def _refuse_unused(parser: argparse.ArgumentParser, args: argparse.Namespace, mode: str) -> None:
    """Exit with a usage error naming every option given that ``mode`` would ignore."""
    allowed = set(MODE_OPTIONS[mode]) | {"quiet", "help"}
    unused = []
    for action in parser._actions:
        value = getattr(args, action.dest, None)
        if action.dest == "protocol" and not args.protocol_given:
            continue  # set by --matched-only, which is named itself
        if action.dest not in allowed and value != action.default and value not in (None, []):
            unused.append(action.option_strings[0] if action.option_strings else action.dest)
    if unused:
        verb = "is" if len(unused) == 1 else "are"
        parser.error(f"{', '.join(unused)} {verb} not used by {mode} and would be ignored")


def _require(
    parser: argparse.ArgumentParser, args: argparse.Namespace, names: Sequence[str]
) -> None:
    missing = ["--" + n.replace("_", "-") for n in names if getattr(args, n) in (None, "")]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        parser.error(f"{' and '.join(missing)} {verb} required in this mode")


def _check_out(out: str, example: str, inputs: Sequence[Optional[str]]) -> None:
    """--out ending in a separator names a folder (``--out scores/``, as inference's --out is
    one); Path() drops the separator, and the scores went to a file called ``scores``. A suffix
    other than .json (``--out m.csv``) would name JSON as another format. An --out among the
    ``inputs`` (a GT mask's name) is said as such first: its suffix is not the mistake."""
    refuse_output_in_inputs(out, inputs, "--out", "the scores")
    if out.endswith(("/", os.sep)):
        raise EvaluationInputError(
            f"--out '{out}' names a folder; give the path of the file to write, e.g. "
            f"'{out}{example}'"
        )
    suffix = Path(out).suffix
    if suffix and suffix.lower() != ".json":
        raise EvaluationInputError(
            f"--out '{out}': the scores are written as JSON, not {suffix}; give a .json file, "
            f"e.g. '{Path(out).with_suffix('.json')}'"
        )


def score_dis(args: argparse.Namespace) -> Dict[str, object]:
    """DIS scoring mode: the six metrics of --pred-dir against --gt-dir, written to --out."""
    from pmgsam.evaluation.scoring import evaluate_dis_folder, write_dis_results

    if args.ske_dir and not Path(args.ske_dir).is_dir():
        # Without this, HCE would silently be scored without skeletons.
        state = "is not a folder" if Path(args.ske_dir).exists() else "does not exist"
        raise EvaluationInputError(f"--ske-dir '{args.ske_dir}' {state}")
    from pmgsam.analysis.output_files import check_output_paths, record_output_paths
    from pmgsam.evaluation.scoring import per_image_path

    outputs = [Path(args.out), per_image_path(args.out)]
    inputs = [args.pred_dir, args.gt_dir, args.ske_dir]
    refuse_output_in_inputs(args.out, inputs, "--out", "the scores")
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
    return summary


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
    return scores


def main(argv: Sequence[str] | None = None) -> int:
    """Run one mode; bad inputs raise the project's error types, which :func:`run_cli` reports."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.matched_only:
        if args.protocol_given and args.protocol != "matched":
            parser.error(f"--matched-only contradicts --protocol {args.protocol}: give one of them")
        args.protocol = "matched"
    from pmgsam.data.splits import read_only_splits

    if args.baseline:
        _refuse_unused(parser, args, "baseline mode (--baseline)")
        if args.config:  # --dataset and --splits default to the config's, as in benchmark mode
            from pmgsam.evaluation.benchmark import data_overrides, dataset_and_splits

            dataset_and_splits(args, data_overrides(args))
        baselines_cli.check_arguments(parser, args)
        with read_only_splits():  # evaluation never writes into the dataset folder
            baselines_cli.run(args)
    elif args.config:
        _refuse_unused(parser, args, "benchmark mode (--config)")
        _require(parser, args, ["checkpoint"])
        from pmgsam.evaluation.benchmark import data_overrides, dataset_and_splits, run_benchmark

        dataset_and_splits(args, data_overrides(args))
        from pmgsam.evaluation.tables import COS_NAMES

        cos = args.dataset in COS_NAMES
        kind = "COS data (instance AP)" if cos else "DIS data"
        _refuse_unused(parser, args, f"benchmark mode on {kind}")
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
    elif args.task == "cos":
        _refuse_unused(parser, args, "COS scoring (--task cos)")
        _require(parser, args, ["pred_dir", "gt_json", "out"])
        _check_out(args.out, "ap.json", [args.pred_dir, args.gt_json])
        score_cos(args)
    else:
        _refuse_unused(parser, args, "DIS scoring")
        _require(parser, args, ["pred_dir", "gt_dir", "out"])
        _check_out(args.out, "metrics.json", [args.pred_dir, args.gt_dir, args.ske_dir])
        score_dis(args)
    return 0


if __name__ == "__main__":
    run_cli(main, PROG)
