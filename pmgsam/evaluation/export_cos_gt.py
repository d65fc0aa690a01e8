"""Write the COCO instance ground truth of one COS split, as benchmark mode builds it.

NC4K's instance labels are PNGs (``Instance/``) and ``evaluate.py --task cos`` scores against a
COCO file: this writes, once, the file that benchmark mode builds from them and writes beside
its scores (``<output-dir>/metrics/<split>.gt.json``; a folder dataset's ``<split>.cos.gt.json``),
without predicting anything, so that other methods' maps are scored against the same images and
instances::

    python -m pmgsam.evaluation.export_cos_gt --config configs/pmgsam_nc4k_ft.yaml \\
        --split test [--data-root data/NC4K] [key=value ...] --out nc4k_test.gt.json
    python evaluate.py --task cos --pred-dir their_maps/ --gt-json nc4k_test.gt.json --out ap.json

The split is named as in benchmark mode (``--splits``): the config's data section (and
``--data-root``, overrides) says which images it holds. NC4K's ``test`` is drawn from the whole
pool by ``data.test_fraction`` and ``data.split_seed`` (a saved split file read, none written),
and ``all`` is every image. Image ids follow the split's order, as benchmark mode numbers them,
so the AP of a folder of maps scored against this file equals benchmark mode's on those maps
(binary maps tie every score, and COCOeval breaks ties by image id). Any COS dataset works: a
COD10K split (its ``CAM_Instance_<Split>.json`` ids kept, else its ``GT_Instance`` PNGs) or a
``folder`` dataset with ``data.instance_dir``. The file's ``info`` names the split and the
labels it was built from (``instance_labels``: a COD10K split's JSON and PNGs give other AP),
which a row scored against it (``evaluate.py --task cos --run``) records.

Every image's header and instance map is read first: unreadable ones are all named, as are
the images without an instance map (a wrong folder: counted, the first ten named), and nothing
is written. ``--out`` is a JSON file; one there that pmgsam did not write is kept unless
``--overwrite``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Sequence

from pmgsam.utils.cli import CommandParser, HelpFormatter
from pmgsam.utils.cli_types import NonEmpty
from pmgsam.utils.command_names import command_name

PROG = "python -m pmgsam.evaluation.export_cos_gt"


def build_parser() -> argparse.ArgumentParser:
    """The command's options (tests check the README's commands against them)."""
    p = CommandParser(prog=PROG, description=__doc__, formatter_class=HelpFormatter)
    p.add_argument(
        "--config",
        required=True,
        type=NonEmpty("an experiment config file"),
        help="experiment config YAML whose data section names the dataset (e.g. "
        "configs/pmgsam_nc4k_ft.yaml, or a run's config.yaml)",
    )
    p.add_argument(
        "--split",
        required=True,
        type=NonEmpty("a split name, e.g. 'test'"),
        help="the split, as benchmark mode's --splits names it (NC4K: test, train or all)",
    )
    p.add_argument(
        "--data-root",
        type=NonEmpty("a dataset folder"),
        help="dataset folder (overrides data.root)",
    )
    p.add_argument(
        "--out",
        required=True,
        type=NonEmpty("a JSON file to write"),
        help="the COCO file to write (.json or no suffix)",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="replace an --out file pmgsam did not write"
    )
    p.add_argument("overrides", nargs="*", help="config overrides key=value")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Build the split's COCO ground truth as benchmark mode does and write it to --out."""
    args = build_parser().parse_args(argv)
    from pmgsam.evaluation.json_out import check_json_out

    check_json_out(args.out, "gt.json", "the COCO file", "the ground truth is written as COCO JSON")
    from pmgsam.analysis.output_files import check_output_paths, record_output_paths
    from pmgsam.data import build_dataset
    from pmgsam.data.splits import read_only_splits
    from pmgsam.engine.config import ExperimentConfig
    from pmgsam.evaluation.cod10k_scope import refuse_noncam_scoring
    from pmgsam.evaluation.tables import COS_NAMES
    from pmgsam.utils.config import ConfigError, load_config, with_data_root
    from pmgsam.utils.io import write_text_atomic
    from pmgsam.utils.outputs import refuse_output_in_inputs

    cfg = load_config(ExperimentConfig, args.config, with_data_root(args.overrides, args.data_root))
    data = cfg.data
    if data.dataset not in COS_NAMES and not data.instance_dir:
        raise ConfigError(
            f"'{args.config}' is a {data.dataset} config: {data.dataset} has no instance labels "
            "(COS datasets: cod10k, nc4k, or a folder dataset with data.instance_dir)"
        )
    refuse_noncam_scoring(data.dataset, data, args.config)
    # Evaluation never writes into the dataset folder.
    refuse_output_in_inputs(args.out, [data.root], "--out", "the COCO ground truth")
    check_output_paths([args.out], "--out", args.overwrite)
    with read_only_splits():
        dataset = build_dataset(data, args.split, cfg.model.image_size, train=False)
        gt = dataset.coco_gt()
    record_output_paths([args.out], PROG)
    write_text_atomic(Path(args.out), json.dumps(gt))
    print(
        f"wrote {args.out}: {len(gt['images'])} image(s), {len(gt['annotations'])} instance(s) "
        f"({data.dataset} {args.split}); score maps against it with {command_name('evaluate')} "
        f"--task cos --gt-json {args.out}"
    )
    return 0


if __name__ == "__main__":
    from pmgsam.utils.cli import run_cli

    run_cli(main, PROG)
