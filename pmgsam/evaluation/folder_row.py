"""A table row for maps scored as a folder (another method's published maps).

``evaluate.py --pred-dir ... --run DIR --split NAME [--method ROW]`` adds the scores it wrote to
``--out`` into ``DIR/run.json``: a DIS scoring under ``dis[NAME]`` (a DIS5K split's name, e.g.
``DIS-TE1``, so that it lines up with benchmark runs' columns and pools into Overall (TE1-4);
a set of them in any order under its column, as benchmark mode stores it: :func:`entry_name`;
one naming a split twice is refused, as there),
a COS scoring under ``cos[NAME]`` (the COS table's column: ``COD10K``, ``NC4K``). Scoring each
split into the same DIR builds the method's row; ``python -m pmgsam.report`` then tables it
beside benchmark and baseline runs. ``meta.scored_maps`` records, per entry, the maps and GT
it was scored from, and the entry its ``ground_truth`` fingerprint as benchmark mode records it
(:mod:`~pmgsam.evaluation.table_gt`: a column never holds two GTs' scores); a COS entry also
records its ``instance_labels`` as benchmark mode does
(:func:`~pmgsam.evaluation.cos_label_sources.coco_file_labels`). NAME is checked against the
tables' columns (:func:`check_split`): a column of its own (a folder dataset's split) is
allowed with a warning, another spelling of a known one is refused.
"""

from __future__ import annotations

import argparse
import re
import warnings
from pathlib import Path
from typing import Any, List, Mapping, Optional, Tuple

from pmgsam.data.config import BASE_SPLITS
from pmgsam.data.dis5k_splits import ALL_TE_NAME, DIS5K_TEST_SPLITS
from pmgsam.evaluation.map_pairs import EvaluationInputError
from pmgsam.evaluation.run_data import check_same_gt_root
from pmgsam.evaluation.run_json import read_run_file, write_run_json
from pmgsam.evaluation.table_gt import GT_KEY, coco_record, mask_record
from pmgsam.evaluation.tables import COS_NAMES, cos_column
from pmgsam.utils.command_names import command_name
from pmgsam.utils.outputs import read_manifest

#: run.json ``meta`` keys of a run that predicted its maps with a model (benchmark, baseline,
#: ablation): folder scores must not be merged into such a run.
MODEL_META = ("checkpoint", "checkpoint_resolved", "baseline", "weights_sha256")
#: The manifest ``tool`` of maps a model predicted into a run folder's ``pred/<split>/``:
#: benchmark mode's (and pmgsam.ablate's) and baseline mode's. A folder row's DIR holds none:
#: scoring writes only its --out files (a manifest of tool evaluate.py).
MODEL_MAP_TOOLS = {"predict_split": "benchmark mode", "baselines": "baseline mode"}


def refuse_model_run(run_dir: str) -> None:
    """Refuse a ``--run`` folder whose run.json is a model's run (it holds that model's scores
    or efficiency figures, which another method's would replace or join as one row), and a
    ``--run`` that is a file (a run.json given for its folder), before anything is scored."""
    run = Path(run_dir)
    if run.exists() and not run.is_dir():
        # Its run.json would be looked for inside it: a model's row given as its run.json
        # passed unseen, and the row was written only after scoring, as a traceback.
        if run.name == "run.json":
            refuse_model_run(str(run.parent))
        where = f" (e.g. '{run.parent}')" if run.name == "run.json" else ""
        raise EvaluationInputError(
            f"--run '{run_dir}' is a file: --run names the row's folder, where run.json is "
            f"written{where}"
        )
    data = read_run_file(run / "run.json")
    meta = data.get("meta") if isinstance(data.get("meta"), Mapping) else {}
    found = [k for k in MODEL_META if meta.get(k)]
    if not found and data.get("efficiency"):
        # pmgsam.efficiency --run-dir records a model's figures with no meta: another
        # method's scores would share a row with them.
        found = ["efficiency"]
        meta = {"efficiency": "python -m pmgsam.efficiency"}
    if found:
        made_by = f"{found[0]} '{meta[found[0]]}'"
        raise EvaluationInputError(
            f"--run '{run_dir}' is the run of a model ({made_by}, row "
            f"'{data.get('method')}'): scores of a folder of maps go into a run folder of "
            "their own (e.g. results/<method>), one per method. A folder dataset's COS AP is "
            f"scored into this row by {command_name('evaluate')} itself when data.instance_dir is "
            "set (benchmark mode, which keeps its maps with --skip-existing, and baseline mode's "
            "automatic rows): run it again there; scores of this model's maps made otherwise "
            f"join its row with --method '{data.get('method')}' (pmgsam.report makes runs of "
            "one name one row)"
        )
    maps = _model_maps(run)
    if maps is not None:
        # A benchmark or baseline run still predicting, or stopped, before its run.json:
        # the row would take its name, and the run's scores would later join this row.
        folder, mode = maps
        yet = "" if data else " with no run.json yet"
        raise EvaluationInputError(
            f"--run '{run_dir}' is the run folder of a model{yet}: "
            f"'{folder}' holds the maps it predicted ({command_name('evaluate')}'s {mode}): scores "
            "of a folder of maps go into a run folder of their own (e.g. results/<method>), one "
            "per method"
        )


def _model_maps(run: Path) -> Optional[Tuple[Path, str]]:
    """(folder, the mode that wrote it) of the first ``run/pred/<split>`` holding maps a
    model predicted there, if any."""
    try:
        folders = sorted(p for p in (run / "pred").iterdir() if p.is_dir())
    except OSError:  # no pred/ (or unreadable): nothing predicted there
        return None
    for folder in folders:
        tool = read_manifest(folder).get("tool")
        if tool in MODEL_MAP_TOOLS:
            return folder, MODEL_MAP_TOOLS[tool]
    return None


def known_columns(section: str) -> List[str]:
    """The entry names the tables line up across runs, for ``section`` (``dis`` or ``cos``):
    DIS5K's test splits and DIS-TE1-4; COD10K's and NC4K's test columns, then their other
    splits' (e.g. ``NC4K all``)."""
    if section == "dis":
        return [*DIS5K_TEST_SPLITS, ALL_TE_NAME]
    tests = list(COS_NAMES.values())
    others = [
        cos_column(dataset, split)
        for dataset in COS_NAMES
        for split in BASE_SPLITS[dataset]
        if split.lower() != "test"
    ]
    return tests + others


def check_split(section: str, split: str) -> None:
    """Refuse ``split`` (``--split``) spelled otherwise than a table column it names (case,
    ``_`` for ``-``: it would be a column of its own beside the real one); warn where it names
    no column of the tables (a folder dataset's split, allowed: it lines up with a benchmark
    run's entry of the same name). A DIS ``A+B`` set of DIS5K splits is a column."""
    known = known_columns(section)
    if split in known or (section == "dis" and _is_combined_column(split)):
        return
    # Other spellings of a column: case, separators, a COS test split named ("NC4K test"),
    # benchmark mode's --splits name of DIS-TE1..4 as one set (stored as DIS-TE1-4).
    spelled = {_squeezed(name): name for name in known}
    if section == "cos":
        spelled.update({_squeezed(f"{name} test"): name for name in COS_NAMES.values()})
    else:
        spelled[_squeezed("DIS-TE")] = ALL_TE_NAME
    if _squeezed(split) in spelled:
        raise EvaluationInputError(
            f"--split '{split}' is not a column of the {section.upper()} table: the "
            f"column is '{spelled[_squeezed(split)]}' (names are matched exactly)"
        )
    other = "cos" if section == "dis" else "dis"
    table = {"dis": "DIS", "cos": "COS"}
    hint = ""
    if any(_squeezed(n) == _squeezed(split) for n in known_columns(other)):
        task = "--task cos --gt-json" if other == "cos" else "DIS scoring (--gt-dir)"
        hint = f" ('{split}' is a {table[other]} column: scored with {task})"
    warnings.warn(
        f"--split '{split}' names no column of the {table[section]} table{hint}: it becomes a "
        f"column of its own, which lines up only with runs scored under the same name (the "
        f"table's columns: {', '.join(known)})",
        stacklevel=2,
    )


def _is_combined_column(split: str) -> bool:
    """Whether ``split`` is a set of DIS5K splits (``A+B``, any order: :func:`add_to_run`
    stores it under its column, :func:`entry_name`); a part spelled otherwise than its split
    (``dis-te1+DIS-TE2``) is refused, naming the column, and a split named twice
    (``DIS-TE1+DIS-TE1``) as benchmark mode refuses it."""
    by_squeezed = {_squeezed(name): name for name in DIS5K_TEST_SPLITS}
    typed = split.split("+")
    parts = [by_squeezed.get(_squeezed(part)) for part in typed]
    if len(parts) < 2 or None in parts:
        return False  # no set of DIS5K splits: the checks for other names apply
    from pmgsam.evaluation.combined import refuse_repeated_parts

    # As benchmark mode refuses it: taken as a column of its own, it lined up with no run.
    refuse_repeated_parts(split, parts, "--split")
    if parts != typed:
        raise EvaluationInputError(
            f"--split '{split}' is not a column of the DIS table: the column is "
            f"'{entry_name('dis', '+'.join(parts))}' (names are matched exactly)"
        )
    return True


def entry_name(section: str, split: str) -> str:
    """The run.json entry ``--split`` is stored under: a DIS set of DIS5K splits under its
    column, as benchmark mode stores it (parts sorted, the four test subsets ``DIS-TE1-4``).
    Stored as typed (``DIS-TE3+DIS-TE1``), it would be read back under that column, where an
    entry already there (the same set scored before in another order) would hide the new scores."""
    parts = split.split("+")
    distinct = len(parts) > 1 and len(set(parts)) == len(parts)
    if section != "dis" or not distinct or not set(parts) <= set(DIS5K_TEST_SPLITS):
        return split
    from pmgsam.evaluation.combined import combined_name  # combined imports run_json's users

    return combined_name(split)


def _squeezed(name: str) -> str:
    return re.sub(r"[^0-9a-z+]", "", name.lower())


def _ground_truth(
    section: str, gt: str, ske_dir: Optional[str] = None, hce: bool = False
) -> Optional[Mapping[str, Any]]:
    """What the scores were made against (:mod:`~pmgsam.evaluation.table_gt`): every GT mask
    of ``--gt-dir`` (DIS scoring pairs each with a map) and, with ``hce``, its skeleton in
    ``--ske-dir`` (without one, HCE computed every skeleton from its mask, recorded as
    :data:`~pmgsam.evaluation.table_gt.COMPUTED_SKELETONS`, so that the row is checked against
    an official-``ske/`` row of its column), or the ``--gt-json`` file; None, with a warning,
    when it cannot be read again (the scores are still added)."""
    from pmgsam.data.io import DataError
    from pmgsam.data.layouts import skeleton_files
    from pmgsam.evaluation.map_pairs import list_images

    try:
        if section == "cos":
            return coco_record(gt, str(Path(gt).resolve()))
        masks = list_images(gt, "GT mask")
        skeletons = None  # --no-hce: no HCE, so no skeletons to check
        if hce:
            skeletons = (
                skeleton_files(Path(ske_dir), list(masks)) if ske_dir else [None] * len(masks)
            )
        return mask_record(list(masks.values()), skeletons)
    except (DataError, OSError) as err:
        warnings.warn(
            f"the ground truth '{gt}' could not be read again to record it ({err}): the "
            "tables cannot check that this row's column holds one dataset's scores",
            stacklevel=3,
        )
        return None


def add_to_run(args: argparse.Namespace, section: str, scores: Mapping[str, Any]) -> Path:
    """Write ``scores`` into ``args.run``'s run.json as ``section[args.split]`` (a DIS set of
    splits under its column, :func:`entry_name`; the row named
    ``args.method``, else the row's name so far, else the folder's), recording the maps and the
    GT scored; returns the run.json path."""
    gt = args.gt_dir if section == "dis" else args.gt_json
    entry = entry_name(section, args.split)
    # DIS5K splits of two copies of the data would pool into one Overall (TE1-4).
    check_same_gt_root(args.run, section, entry, gt, getattr(args, "out", None))
    source = {"pred_dir": str(Path(args.pred_dir).resolve()), "gt": str(Path(gt).resolve())}
    scores = dict(scores)
    if section == "cos":  # as benchmark mode records it, for the COS table's notes
        from pmgsam.evaluation.cos_label_sources import coco_file_labels

        scores["instance_labels"], unknown = coco_file_labels(gt)
        if unknown:
            warnings.warn(unknown, stacklevel=2)
    hce = section == "dis" and scores.get("HCE") is not None
    record = _ground_truth(section, gt, getattr(args, "ske_dir", None), hce)
    if record is not None:
        scores[GT_KEY] = record
    # Merged into the recorded scored_maps under write_run_json's lock: read here, the record
    # of another split scored into the row at the same time would be lost.
    return write_run_json(
        args.run,
        args.method,
        **{section: {entry: scores}},
        meta_entries={"scored_maps": {f"{section}/{entry}": source}},
    )
