"""Evaluate PMG-SAM predictions: DIS metrics, COS instance AP, or a full benchmark run.

Score existing DIS predictions (six metrics, per-image values in ``<out>.per_image.csv``)::

    python evaluate.py --pred-dir P --gt-dir G [--ske-dir K] [--workers N] [--resize-pred] \\
        --out metrics.json

Score existing COS probability maps against COCO instance labels (AP, AP50, AP75)::

    python evaluate.py --task cos --pred-dir P --gt-json G.json [--protocol all|matched] \\
        [--threshold 0.5] [--min-area 0] --out ap.json

Benchmark a checkpoint: predict each split into ``<output-dir>/pred/<split>/``, score it into
``<output-dir>/metrics/<split>.json`` (``DIS-TE``, i.e. DIS-TE1..4 as one set, into
``DIS-TE1-4.json``), update ``<output-dir>/run.json`` and print the tables::

    python evaluate.py --config CFG --checkpoint CKPT [--dataset dis5k] \\
        [--splits DIS-VD,DIS-TE1,DIS-TE2,DIS-TE3,DIS-TE4] [--data-root R] \\
        [--output-dir results/<run>] [--device cuda] [--batch-size N] [--overwrite] [key=value ...]

``--dataset`` and ``--splits`` default to the config's ``data.dataset`` and ``data.test_splits``.

Benchmark mode refuses a ``pred/<split>`` folder inside the dataset, or one holding files it did
not write unless ``--overwrite`` is given (see :mod:`pmgsam.utils.outputs`).

Predict and score a baseline row (SAM / SAM2.1 / E-SAM-style; see pmgsam/baselines/cli.py)::

    python evaluate.py --baseline sam-auto|sam-box|sam2-auto|sam2-box|esam --model-type vit_b \\
        --checkpoint FILE --config CFG --dataset dis5k --splits DIS-TE1 --output-dir results/<row>
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from pmgsam.baselines import cli as baselines_cli
from pmgsam.evaluation.combined import is_combined
from pmgsam.evaluation.scoring import EvaluationInputError
from pmgsam.evaluation.tables import COS_NAMES
from pmgsam.utils.cli import (
    DEVICE_NAMES,
    HelpFormatter,
    device_name,
    name_list,
    non_negative_int,
    positive_int,
    probability,
    run_cli,
)
from pmgsam.utils.config import ConfigError
from pmgsam.utils.outputs import check_output_file, refuse_output_in_inputs

# A `folder` dataset (your own image/mask pairs) is scored with the DIS metrics, per split.
BENCHMARK_DATASETS = ("dis5k", "cod10k", "nc4k", "folder")
# The options each mode reads (besides --quiet). Any other option given is refused: it would be
# ignored, e.g. --limit (a baseline option) would leave benchmark mode scoring every image.
_COS_SCORING = ("protocol", "matched_only", "threshold", "min_area")
_RUN = ("config", "checkpoint", "dataset", "splits", "data_root", "output_dir", "method")
_RUN += ("device", "overwrite", "overrides", "workers")
MODE_OPTIONS = {
    "DIS scoring": ("task", "pred_dir", "gt_dir", "ske_dir", "out", "workers", "resize_pred")
    + ("no_hce",),
    "COS scoring (--task cos)": ("task", "pred_dir", "gt_json", "out", "resize_pred")
    + _COS_SCORING,
    "benchmark mode (--config)": _RUN + ("batch_size", "resize_pred", "no_hce") + _COS_SCORING,
    "baseline mode (--baseline)": _RUN + baselines_cli.option_names(),
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("--task", choices=["dis", "cos"], default="dis", help="scoring mode")
    p.add_argument("--pred-dir", help="folder of predicted maps (PNG, stems = GT stems)")
    p.add_argument("--gt-dir", help="DIS: folder of GT masks")
    p.add_argument("--ske-dir", help="DIS: optional folder of GT skeletons for HCE")
    p.add_argument("--gt-json", help="COS: COCO instance annotation file")
    p.add_argument("--out", help="output JSON (scoring modes)")
    p.add_argument(
        "--workers", type=positive_int, default=max(1, os.cpu_count() or 1), help="processes"
    )
    p.add_argument("--resize-pred", action="store_true", help="resize predictions to the GT size")
    p.add_argument("--no-hce", action="store_true", help="DIS: skip HCE")
    p.add_argument(
        "--protocol",
        choices=["all", "matched"],
        default="all",
        help="COS: 'all' predicted instances (standard COCO, default) or 'matched': only the "
        "predictions paired with a GT instance by the Hungarian assignment (paper)",
    )
    p.add_argument("--matched-only", action="store_true", help="COS: same as --protocol matched")
    p.add_argument("--threshold", type=probability, default=0.5, help="COS: foreground = prob > t")
    p.add_argument(
        "--min-area", type=non_negative_int, default=0, help="COS: smallest instance (pixels)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    b = p.add_argument_group("benchmark mode")
    b.add_argument("--config", help="experiment config YAML")
    b.add_argument(
        "--checkpoint",
        help="benchmark mode: PMG-SAM weights file or training run folder; with --baseline: "
        "the SAM / SAM2.1 checkpoint (.pth / .pt) of --model-type",
    )
    b.add_argument(
        "--dataset", choices=BENCHMARK_DATASETS, help="default: the config's data.dataset"
    )
    b.add_argument(
        "--splits",
        type=name_list,
        help="comma-separated splits, e.g. DIS-VD,DIS-TE1; DIS-TE or DIS-TE1+DIS-TE2+... "
        "scores those subsets as one set (default: the config's data.test_splits)",
    )
    b.add_argument("--data-root", help="dataset folder (overrides data.root)")
    b.add_argument("--output-dir", help="run folder (default results/<config stem>)")
    b.add_argument("--method", help="row name in the tables (default: run folder name)")
    b.add_argument("--device", default="auto", type=device_name, help=f"{DEVICE_NAMES}")
    b.add_argument("--batch-size", type=positive_int, default=1)
    b.add_argument(
        "--overwrite", action="store_true", help="allow pred/<split> folders holding other files"
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
        if action.dest not in allowed and value != action.default and value not in (None, []):
            unused.append(action.option_strings[0] if action.option_strings else action.dest)
    if unused:
        verb = "is" if len(unused) == 1 else "are"
        parser.error(f"{', '.join(unused)} {verb} not used by {mode} and would be ignored")


def _require(parser: argparse.ArgumentParser, args: argparse.Namespace, names: Sequence[str]):
    missing = ["--" + n.replace("_", "-") for n in names if getattr(args, n) in (None, "")]
    if missing:
        parser.error(f"{' '.join(missing)} required in this mode")


def _print_dis(summary: Dict[str, object]) -> None:
    keys = ("maxFm", "wFmeasure", "MAE", "Smeasure", "meanEm", "HCE")
    cells = [f"{k}={summary[k]:.4f}" if summary.get(k) is not None else f"{k}=-" for k in keys]
    print(f"[{summary['num_images']} images] " + "  ".join(cells))


def score_dis(args: argparse.Namespace) -> Dict[str, object]:
    from pmgsam.evaluation.scoring import evaluate_dis_folder, write_dis_results

    if args.ske_dir and not Path(args.ske_dir).is_dir():
        # Without this, HCE would silently be scored without skeletons.
        state = "is not a folder" if Path(args.ske_dir).exists() else "does not exist"
        raise EvaluationInputError(f"--ske-dir '{args.ske_dir}' {state}")
    check_output_file(args.out, "--out")
    inputs = [args.pred_dir, args.gt_dir, args.ske_dir]
    refuse_output_in_inputs(args.out, inputs, "--out", "the scores")
    summary, per_image = evaluate_dis_folder(
        args.pred_dir,
        args.gt_dir,
        args.ske_dir,
        args.workers,
        args.resize_pred,
        with_hce=not args.no_hce,
        progress=not args.quiet,
    )
    out, side = write_dis_results(args.out, summary, per_image)
    _print_dis(summary)
    print(f"wrote {out} and {side}")
    return summary


def score_cos(args: argparse.Namespace) -> Dict[str, object]:
    from pmgsam.evaluation.instances import evaluate_cos_folder

    out = Path(args.out)
    results_file = out.with_name(out.stem + ".results.json")
    check_output_file(out, "--out")
    for path in (out, results_file):
        refuse_output_in_inputs(path, [args.pred_dir, args.gt_json], "--out", "the scores")
    scores = evaluate_cos_folder(
        args.pred_dir,
        args.gt_json,
        threshold=args.threshold,
        min_area=args.min_area,
        protocol=args.protocol,
        resize_pred=args.resize_pred,
        results_out=results_file,
        progress=not args.quiet,
    )
    scores["results_file"] = results_file.name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(scores, indent=2) + "\n")
    print(
        f"AP={scores['AP']:.4f} AP50={scores['AP50']:.4f} AP75={scores['AP75']:.4f} "
        f"(protocol: {scores['protocol_description']})"
    )
    print(f"wrote {out} and {results_file}")
    return scores


def _data_config(config: str, overrides: List[str]):
    """(DataConfig, image size) of the experiment config, with the same overrides as prediction."""
    from pmgsam.engine.config import ExperimentConfig
    from pmgsam.utils.config import load_config

    cfg = load_config(ExperimentConfig, config, overrides)
    return cfg.data, cfg.model.image_size


def _score_combined(
    args: argparse.Namespace,
    split: str,
    run_dir: Path,
    datasets: Dict,
    overrides: List[str],
    loaded: Dict[str, object],
) -> Tuple[str, Dict[str, object]]:
    """Predict every part of a combined split and score all its images as one set."""
    from pmgsam.evaluation.combined import score_combined_split

    name, summary = score_combined_split(
        split,
        datasets.__getitem__,
        lambda part: _predict(args, part, run_dir, overrides, loaded),
        run_dir / "metrics",
        args.workers,
        args.resize_pred,
        not args.no_hce,
        not args.quiet,
    )
    _print_dis(summary)
    return name, summary


def _split_datasets(args: argparse.Namespace, data_cfg: object, image_size: int) -> Dict:
    """``{split or part: dataset}`` of every split (and part of a combined one), built before
    anything is predicted: a typo in the last one must not cost the predictions of the others."""
    from pmgsam.data import build_dataset
    from pmgsam.evaluation.combined import split_parts

    datasets = {}
    for spec in args.splits:
        parts = split_parts(spec) if args.dataset == "dis5k" and is_combined(spec) else [spec]
        for part in parts:
            datasets[part] = build_dataset(data_cfg, part, image_size, train=False)
    return datasets


def _predict(
    args: argparse.Namespace,
    split: str,
    run_dir: Path,
    overrides: List[str],
    loaded: Dict[str, object],
) -> str:
    """The checkpoint's maps of ``split`` in ``<run_dir>/pred/<split>``; its folder."""
    from pmgsam.engine.inference import predict_split

    return predict_split(
        args.config,
        args.checkpoint,
        split,
        run_dir / "pred" / split,
        args.device,
        args.batch_size,
        overrides,
        overwrite=args.overwrite,
        progress=not args.quiet,
        reuse=loaded,
    )


def _data_overrides(args: argparse.Namespace) -> List[str]:
    """The config overrides, with ``--data-root`` as ``data.root``."""
    return list(args.overrides) + ([f"data.root={args.data_root}"] if args.data_root else [])


def _dataset_and_splits(args: argparse.Namespace, overrides: List[str]) -> None:
    """Fill ``args.dataset`` and ``args.splits`` from the config's ``data.dataset`` and
    ``data.test_splits`` where the command line leaves them out."""
    data, _ = _data_config(args.config, overrides)
    if args.dataset is None:
        args.dataset = data.dataset
    elif args.dataset != data.dataset:
        try:
            _data_config(args.config, overrides + [f"data.dataset={args.dataset}"])
        except ConfigError as err:
            raise ConfigError(
                f"--dataset {args.dataset}, but config '{args.config}' is for "
                f"{data.dataset} ({err}): give a {args.dataset} config"
            ) from None
    if args.splits is None:
        if args.dataset != data.dataset:
            raise ConfigError(f"--splits is needed: the config's test_splits are {data.dataset}'s")
        args.splits = list(data.test_splits)
        print(f"splits from the config's data.test_splits: {','.join(args.splits)}")


def run_benchmark(args: argparse.Namespace) -> Dict[str, object]:
    from pmgsam.evaluation.instances import evaluate_cos_folder
    from pmgsam.evaluation.run_json import check_same_model, checkpoint_meta, write_run_json
    from pmgsam.evaluation.scoring import evaluate_dis_pairs, write_dis_results
    from pmgsam.evaluation.table_rendering import to_markdown
    from pmgsam.evaluation.tables import build_tables
    from pmgsam.modeling.checkpoint import weights_digest

    run_dir = Path(args.output_dir or Path("results") / Path(args.config).stem)
    overrides = _data_overrides(args)
    _dataset_and_splits(args, overrides)
    overrides.append(f"data.dataset={args.dataset}")
    check_same_model(run_dir, args.checkpoint, option="--output-dir")
    data_cfg, image_size = _data_config(args.config, overrides)
    datasets = _split_datasets(args, data_cfg, image_size)
    # Before predicting: a run still training may replace its best weights meanwhile.
    digest = weights_digest(args.checkpoint)
    dis, cos = {}, {}
    loaded: Dict[str, object] = {}  # one model load (and compile) for every split
    for split in args.splits:
        if args.dataset == "dis5k" and is_combined(split):  # DIS-TE or DIS-TE1+...: one set
            dis.update([_score_combined(args, split, run_dir, datasets, overrides, loaded)])
            continue
        pred_dir = Path(_predict(args, split, run_dir, overrides, loaded))
        ds = datasets[split]
        out_json = run_dir / "metrics" / f"{split}.json"
        if args.dataset not in COS_NAMES:  # DIS5K or a folder dataset: the DIS metrics
            skes = ds.skeleton_paths or [None] * len(ds.names)
            pairs = [
                (n, pred_dir / f"{n}.png", g, k) for n, g, k in zip(ds.names, ds.mask_paths, skes)
            ]
            missing = [str(p) for _, p, _, _ in pairs if not p.exists()]
            if missing:
                raise EvaluationInputError(f"predict_split wrote no map for: {missing[:20]}")
            summary, per_image = evaluate_dis_pairs(
                pairs, args.workers, args.resize_pred, not args.no_hce, not args.quiet
            )
            write_dis_results(out_json, summary, per_image, extra={"split": split})
            dis[split] = json.loads(out_json.read_text())
            _print_dis(summary)
        else:
            name = COS_NAMES[args.dataset] + ("" if split.lower() == "test" else f" {split}")
            scores = evaluate_cos_folder(
                pred_dir,
                ds.coco_gt(),
                threshold=args.threshold,
                min_area=args.min_area,
                protocol=args.protocol,
                resize_pred=args.resize_pred,
                results_out=out_json.with_name(f"{split}.results.json"),
                progress=not args.quiet,
            )
            out_json.parent.mkdir(parents=True, exist_ok=True)
            out_json.write_text(json.dumps(scores, indent=2) + "\n")
            cos[name] = scores
    meta = {
        "config": str(args.config),
        **checkpoint_meta(args.checkpoint),
        "weights_sha256": digest,
        "overrides": overrides,
    }
    path = write_run_json(run_dir, args.method or run_dir.name, dis=dis, cos=cos, meta=meta)
    run = json.loads(path.read_text())
    for table in build_tables([run]).values():
        print(to_markdown(table))
    print(f"wrote {path}")
    return run


def main(argv: Sequence[str] | None = None) -> int:
    """Run one mode; bad inputs raise the project's error types, which :func:`run_cli` reports."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.matched_only:
        args.protocol = "matched"
    if args.baseline:
        _refuse_unused(parser, args, "baseline mode (--baseline)")
        if args.config:  # --dataset and --splits default to the config's, as in benchmark mode
            _dataset_and_splits(args, _data_overrides(args))
        baselines_cli.check_arguments(parser, args)
        baselines_cli.run(args)
    elif args.config:
        _refuse_unused(parser, args, "benchmark mode (--config)")
        _require(parser, args, ["checkpoint"])
        run_benchmark(args)
    elif args.overrides:
        parser.error(f"unexpected arguments {args.overrides} (overrides need --config)")
    elif args.task == "cos":
        _refuse_unused(parser, args, "COS scoring (--task cos)")
        _require(parser, args, ["pred_dir", "gt_json", "out"])
        score_cos(args)
    else:
        _refuse_unused(parser, args, "DIS scoring")
        _require(parser, args, ["pred_dir", "gt_dir", "out"])
        score_dis(args)
    return 0


if __name__ == "__main__":
    run_cli(main, "evaluate.py")
