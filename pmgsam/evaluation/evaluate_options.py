"""evaluate.py's options: one parser for every mode (DIS scoring, COS scoring, benchmark mode,
baseline mode), the options each mode reads, and the usage errors for those it would ignore or
lacks."""

from __future__ import annotations

import argparse

from pmgsam.baselines import cli as baselines_cli
from pmgsam.engine.unreadable import KEEP_GOING_SKIPS, KEEP_GOING_STOPS
from pmgsam.utils.cli import (
    DEVICE_NAMES,
    NonEmpty,
    device_name,
    name_list,
    non_negative_int,
    positive_int,
    probability,
)
from pmgsam.utils.cpus import cpu_share

# A `folder` dataset (your own image/mask pairs) is scored with the DIS metrics, per split.
BENCHMARK_DATASETS = ("dis5k", "cod10k", "nc4k", "folder")
# The options each mode reads (besides --quiet). Any other option given is refused: it would be
# ignored, e.g. --limit (a baseline option) would leave benchmark mode scoring every image.
_COS_SCORING = ("protocol", "matched_only", "threshold", "min_area")
_RUN = ("config", "checkpoint", "dataset", "splits", "data_root", "output_dir", "method")
_RUN += ("device", "overwrite", "overrides", "workers", "skip_existing", "keep_going")
_BENCH = _RUN + ("batch_size", "resize_pred")
# A folder's scores added to a run folder's run.json as a table row (pmgsam.evaluation.folder_row).
_ROW = ("run", "split", "method")
MODE_OPTIONS = {
    "DIS scoring": ("task", "pred_dir", "gt_dir", "ske_dir", "out", "workers", "resize_pred")
    + ("no_hce", "overwrite")
    + _ROW,
    "COS scoring (--task cos)": ("task", "pred_dir", "gt_json", "out", "resize_pred")
    + ("overwrite",)
    + _COS_SCORING
    + _ROW,
    "benchmark mode (--config)": _BENCH + ("no_hce",) + _COS_SCORING,
    # Once the dataset is known: DIS metrics (DIS5K, folder) or instance AP (COD10K, NC4K).
    "benchmark mode on DIS data": _BENCH + ("no_hce",),
    # --workers (scoring processes) changes no number: a script may pass it for every dataset.
    "benchmark mode on COS data (instance AP)": _BENCH + _COS_SCORING,
    "baseline mode (--baseline)": _RUN + baselines_cli.option_names(),
}

# The options each mode cannot run without (:func:`require`; baseline mode's are checked by
# pmgsam.baselines.cli.check_arguments). An empty value of one names these modes.
MODE_NEEDS = {
    "DIS scoring": ("pred_dir", "gt_dir", "out"),
    "COS scoring (--task cos)": ("pred_dir", "gt_json", "out"),
    "benchmark mode (--config)": ("config", "checkpoint"),
    "baseline mode (--baseline)": ("config", "checkpoint"),
}


def _needs(what: str, dest: str) -> NonEmpty:
    """The NonEmpty type of option ``dest``, knowing the modes that need it (MODE_NEEDS)."""
    return NonEmpty(what, needed_in=[mode for mode, need in MODE_NEEDS.items() if dest in need])


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


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Every mode's options; :func:`refuse_unused` refuses those the chosen mode ignores."""
    p.add_argument("--task", choices=["dis", "cos"], help="scoring mode: dis (default) or cos")
    p.add_argument(
        "--pred-dir",
        type=_needs("a folder of predicted maps", "pred_dir"),
        help="folder of predicted maps (grey PNG, stems = GT stems; a folder of colour images "
        "is refused)",
    )
    p.add_argument(
        "--gt-dir", type=_needs("a folder of GT masks", "gt_dir"), help="DIS: folder of GT masks"
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
        type=_needs("a COCO instance annotation file", "gt_json"),
        help="COS: COCO instance annotation file (for instance-map PNGs, such as NC4K's "
        "Instance/, write the one benchmark mode builds with python -m "
        "pmgsam.evaluation.export_cos_gt --config CFG --split SPLIT --out FILE)",
    )
    p.add_argument(
        "--out",
        type=_needs("a JSON file to write", "out"),
        help="output JSON file (.json or no suffix), not a folder (scoring modes)",
    )
    p.add_argument(
        "--workers",
        type=positive_int,
        # Not os.cpu_count(): a container's CPU quota or a taskset mask leaves fewer, and a
        # default above them was capped with a line naming a --workers nobody gave.
        default=cpu_share(),
        help="DIS scoring processes (default: the CPUs this process may use, as its CPU "
        f"affinity and cgroup CPU quota allow: {cpu_share()} here); more are capped at that",
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
    p.add_argument(
        "--run",
        type=NonEmpty("a run folder for the method's row"),
        help="scoring modes: also add the scores to DIR/run.json as --split's entry, the row "
        "python -m pmgsam.report tables (a folder of its own per method, not a model's run)",
    )
    p.add_argument(
        "--split",
        type=NonEmpty("a split or table column name, e.g. DIS-TE1 or COD10K"),
        help="with --run: the entry the scores go under: DIS, the split (DIS-VD, DIS-TE1...); "
        "COS, the table column (COD10K, NC4K). Matched exactly: another spelling of a column "
        "is refused, a name of no column warns (a column of its own); a DIS set A+B of DIS5K "
        "splits goes under its column (DIS-TE3+DIS-TE1 as DIS-TE1+DIS-TE3)",
    )
    b = p.add_argument_group("benchmark mode")
    b.add_argument(
        "--config",
        type=_needs("an experiment config file", "config"),
        help="experiment config YAML",
    )
    b.add_argument(
        "--checkpoint",
        type=_needs("a checkpoint file or training run folder", "checkpoint"),
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
        help="row name in the tables (default: the run folder's name, in scoring modes with "
        "--run the name the run already has; with --baseline the row's description, e.g. "
        "'SAM ViT-B GT box')",
    )
    b.add_argument("--device", default="auto", type=device_name, help=f"{DEVICE_NAMES}")
    b.add_argument(
        "--batch-size", type=positive_int, default=1, help="benchmark mode: images per forward pass"
    )
    b.add_argument(
        "--overwrite",
        action="store_true",
        help="allow pred/<split> folders holding other files or maps edited since pmgsam wrote "
        "them; scoring modes: replace --out and "
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


def refuse_unused(parser: argparse.ArgumentParser, args: argparse.Namespace, mode: str) -> None:
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
        # --split (a scoring row's entry) was, before it existed, --splits abbreviated.
        hint = "; benchmark mode's splits are --splits" if "--split" in unused else ""
        parser.error(f"{', '.join(unused)} {verb} not used by {mode} and would be ignored{hint}")


def require(parser: argparse.ArgumentParser, args: argparse.Namespace, mode: str) -> None:
    """Exit with a usage error naming every option ``mode`` needs (MODE_NEEDS) not given."""
    missing = [
        "--" + n.replace("_", "-") for n in MODE_NEEDS[mode] if getattr(args, n) in (None, "")
    ]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        parser.error(f"{' and '.join(missing)} {verb} required in {mode}")
